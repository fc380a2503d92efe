package grpcapi

import (
	"context"
	"errors"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"ballast.dev/gateway/readmodel"
	"ballast.dev/platform/command"
	"ballast.dev/platform/events"
	ballastv1 "ballast.dev/proto/ballast/v1"
)

// explainAttemptTimeout bounds one explain command: recomputing the table of
// a large fleet rebuilds the model from the log, which takes seconds, and
// a resent command only joins the computation already under way.
const explainAttemptTimeout = 20 * time.Second

// PlacementService serves ballast.v1.PlacementService.
type PlacementService struct {
	ballastv1.UnimplementedPlacementServiceServer
	cfg Config
}

// ExplainPlacement resolves the volume through the read model (or, for an
// earlier time, the incarnation that held the name then, from the log) and
// asks the placement service, which knows volumes by id, for one page of
// the explanation of its decision and its replicas.
func (s *PlacementService) ExplainPlacement(ctx context.Context, req *ballastv1.ExplainPlacementRequest) (*ballastv1.ExplainPlacementResponse, error) {
	if err := required("name", req.GetName()); err != nil {
		return nil, s.status(err)
	}
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, s.status(err)
	}
	if at := req.GetAt(); at != nil {
		if err := at.CheckValid(); err != nil {
			return nil, s.status(badField("at", "not a valid time: "+err.Error()))
		}
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	var v *ballastv1.Volume
	if req.GetAt() != nil {
		v, err = s.incarnationAt(ctx, req.GetName(), req.GetAt().AsTime())
	}
	if v == nil && err == nil {
		v, err = s.volume(ctx, req.GetName())
	}
	if err != nil {
		return nil, s.status(err)
	}
	cmd := &ballastv1.ExplainPlacementRequest{Name: v.GetId(), PageSize: int32(size), PageToken: req.GetPageToken(), At: req.GetAt()}
	reply := &ballastv1.ExplainPlacementReply{}
	if err := command.Request(ctx, s.cfg.NC, command.PlacementExplain, cmd, reply, command.WithAttemptTimeout(explainAttemptTimeout)); err != nil {
		return nil, s.status(err)
	}
	if e := reply.GetError(); e != nil {
		if codes.Code(e.GetCode()) == codes.NotFound && req.GetAt() == nil {
			return nil, s.status(&notPlacedError{name: v.GetName(), id: v.GetId(), state: v.GetState()})
		}
		// At a time asked for, placement's refusal names it.
		return nil, s.status(newCommandError(e))
	}
	x := reply.GetExplanation()
	if x.GetVolumeName() == "" {
		x.VolumeName = v.GetName()
	}
	return x, nil
}

// incarnationAt finds, when name has a history in the volume log, the
// incarnation that held it at a time: the last one asked for by then. A
// name used again since may belong to another incarnation now. It returns
// nil and no error when the log has no history under name (it may be an
// id).
func (s *PlacementService) incarnationAt(ctx context.Context, name string, at time.Time) (*ballastv1.Volume, error) {
	if s.cfg.Log == nil || strings.ContainsAny(name, ".*> \t\r\n") {
		return nil, nil
	}
	recs, _, err := s.cfg.Log.Load(ctx, events.Volume.Stream, events.Volume.Subject(name))
	if err != nil || len(recs) == 0 {
		return nil, err
	}
	var (
		v     *ballastv1.Volume
		first time.Time
	)
	for _, rec := range recs {
		m, err := events.Read(rec.Subject, rec.Type, rec.Data)
		if err != nil {
			continue
		}
		r, ok := m.(*ballastv1.VolumeRequested)
		if !ok {
			continue
		}
		when := rec.Time
		if r.GetOccurTime() != nil {
			when = r.GetOccurTime().AsTime()
		}
		if first.IsZero() {
			first = when
		}
		if !when.After(at) {
			v = &ballastv1.Volume{Id: r.GetVolumeId(), Name: name}
		}
	}
	if v == nil && !first.IsZero() {
		return nil, &notYetError{name: name, at: at, first: first}
	}
	return v, nil
}

// volume finds the live volume by name or id, or else a deleted
// incarnation by its id: a past decision can be explained after the volume
// is gone.
func (s *PlacementService) volume(ctx context.Context, nameOrID string) (*ballastv1.Volume, error) {
	v, err := lookup(ctx, s.cfg, nameOrID)
	if !errors.Is(err, readmodel.ErrNotFound) {
		return v, err
	}
	if gone, gerr := s.cfg.Volumes.Incarnation(ctx, nameOrID); gerr == nil {
		return gone, nil
	}
	return nil, err
}

func (s *PlacementService) status(err error) error { return toStatus(s.cfg.Logger, err) }

// PlanRebalance asks placement for a dry run of the rebalancing planner.
func (s *PlacementService) PlanRebalance(ctx context.Context, req *ballastv1.PlanRebalanceRequest) (*ballastv1.PlanRebalanceResponse, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	reply := &ballastv1.PlanRebalanceReply{}
	if err := command.Request(ctx, s.cfg.NC, command.PlacementPlan, req, reply, command.WithAttemptTimeout(explainAttemptTimeout)); err != nil {
		return nil, s.status(err)
	}
	if reply.GetError() != nil {
		return nil, s.status(newCommandError(reply.GetError()))
	}
	return reply.GetPlan(), nil
}
