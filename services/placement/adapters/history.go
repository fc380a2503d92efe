package adapters

import (
	"context"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
	pb "ballast.dev/proto/ballast/v1"
	"ballast.dev/services/placement/app"
	"ballast.dev/services/placement/domain"
)

// History reads the placement histories of volumes. It implements
// app.Decisions.
type History struct{ Store *eventstore.Store }

var _ app.Decisions = History{}

// Latest implements app.Decisions: the last PlacementDecided or
// PlacementFailed of the volume incarnation's history.
func (h History) Latest(ctx context.Context, volumeID string) (app.RecordedDecision, error) {
	if volumeID == "" || strings.ContainsAny(volumeID, ".*> \t\r\n") {
		// Not a subject token: no history can be under it.
		return app.RecordedDecision{}, fmt.Errorf("volume %q: %w", volumeID, app.ErrNotPlaced)
	}
	recs, _, err := h.Store.Load(ctx, events.Placement.Stream, events.Placement.Subject(volumeID))
	if err != nil {
		return app.RecordedDecision{}, err
	}
	var (
		out   app.RecordedDecision
		found bool
	)
	for _, rec := range recs {
		msg, err := events.Read(rec.Subject, rec.Type, rec.Data)
		if err != nil {
			continue // one this build does not know, or not this volume's
		}
		if d, ok := recordedDecision(msg); ok {
			d.Sequence = rec.Sequence
			if d.Time.IsZero() {
				d.Time = rec.Time
			}
			out, found = d, true
		}
	}
	if !found {
		return app.RecordedDecision{}, fmt.Errorf("volume %s: %w", volumeID, app.ErrNotPlaced)
	}
	return out, nil
}

// recordedDecision reads a decision event, of either generation: with a
// summary, or with every candidate.
func recordedDecision(msg proto.Message) (app.RecordedDecision, bool) {
	var (
		r       app.RecordedDecision
		summary *pb.DecisionSummary
		names   []string
		cands   []*pb.CandidateScore
	)
	switch e := msg.(type) {
	case *pb.PlacementDecided:
		r = app.RecordedDecision{VolumeID: e.GetVolumeId(), VolumeName: e.GetVolumeName(), Time: occurred(e.GetOccurTime())}
		for _, p := range e.GetPlacements() {
			r.Replicas = append(r.Replicas, app.Replica{ID: p.GetReplicaId(),
				Placement: domain.Placement{NodeID: p.GetNodeId(), DiskID: p.GetDiskId(), Zone: p.GetZone()}})
		}
		summary, names, cands = e.GetSummary(), e.GetScoreNames(), e.GetCandidates()
	case *pb.PlacementFailed:
		r = app.RecordedDecision{VolumeID: e.GetVolumeId(), VolumeName: e.GetVolumeName(), Time: occurred(e.GetOccurTime()),
			Failed: true, FailureReason: e.GetReason()}
		summary, names, cands = e.GetSummary(), e.GetScoreNames(), e.GetCandidates()
	default:
		return r, false
	}
	if summary != nil {
		r.Summarized = true
		r.Basis, r.Decision = summaryFromProto(r.VolumeID, summary)
	} else {
		r.Decision = domain.Decision{VolumeID: r.VolumeID, Candidates: candidatesFromProto(names, nil, cands)}
	}
	for _, rep := range r.Replicas {
		r.Decision.Placements = append(r.Decision.Placements, rep.Placement)
	}
	return r, true
}

// occurred is an event's time, zero when it has none.
func occurred(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}
