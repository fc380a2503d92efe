package grpcapi

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"

	"ballast.dev/gateway/readmodel"
	"ballast.dev/platform/command"
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

// ExplainPlacement resolves the volume through the read model and asks the
// placement service, which knows volumes by id, for one page of the
// explanation of its decision.
func (s *PlacementService) ExplainPlacement(ctx context.Context, req *ballastv1.ExplainPlacementRequest) (*ballastv1.ExplainPlacementResponse, error) {
	if err := required("name", req.GetName()); err != nil {
		return nil, s.status(err)
	}
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, s.status(err)
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	v, err := s.volume(ctx, req.GetName())
	if err != nil {
		return nil, s.status(err)
	}
	cmd := &ballastv1.ExplainPlacementRequest{Name: v.GetId(), PageSize: int32(size), PageToken: req.GetPageToken()}
	reply := &ballastv1.ExplainPlacementReply{}
	if err := command.Request(ctx, s.cfg.NC, command.PlacementExplain, cmd, reply, command.WithAttemptTimeout(explainAttemptTimeout)); err != nil {
		return nil, s.status(err)
	}
	if e := reply.GetError(); e != nil {
		if codes.Code(e.GetCode()) == codes.NotFound {
			return nil, s.status(&notPlacedError{name: v.GetName(), id: v.GetId(), state: v.GetState()})
		}
		return nil, s.status(newCommandError(e))
	}
	x := reply.GetExplanation()
	if x.GetVolumeName() == "" {
		x.VolumeName = v.GetName()
	}
	return x, nil
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
