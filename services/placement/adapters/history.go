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
	if !validID(volumeID) {
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

// validID says whether id can be a subject token: no history can be under
// one that is not.
func validID(id string) bool { return id != "" && !strings.ContainsAny(id, ".*> \t\r\n") }

// Moves implements app.Decisions: the MoveAdmitted events of the volume
// incarnation's placement history.
func (h History) Moves(ctx context.Context, volumeID string) ([]app.RecordedMove, error) {
	if !validID(volumeID) {
		return nil, nil
	}
	recs, _, err := h.Store.Load(ctx, events.Placement.Stream, events.Placement.Subject(volumeID))
	if err != nil {
		return nil, err
	}
	var out []app.RecordedMove
	for _, rec := range recs {
		if rec.Type != events.TypeOf(&pb.MoveAdmitted{}) {
			continue
		}
		msg, err := events.Read(rec.Subject, rec.Type, rec.Data)
		if err != nil {
			continue // not this volume's, or not readable: as the model skips it
		}
		m := moveFromProto(msg.(*pb.MoveAdmitted))
		m.Sequence = rec.Sequence
		if m.Time.IsZero() {
			m.Time = rec.Time
		}
		out = append(out, m)
	}
	return out, nil
}

// ReplicaSet implements app.Decisions: the events of the volume's history,
// keyed by its name, that changed the replica set of this incarnation.
// What this build cannot read is passed over, as the volume's readers pass
// it over.
func (h History) ReplicaSet(ctx context.Context, volumeID, name string) ([]app.SetChange, error) {
	if !validID(name) {
		return nil, nil
	}
	recs, _, err := h.Store.Load(ctx, events.Volume.Stream, events.Volume.Subject(name))
	if err != nil {
		return nil, err
	}
	var out []app.SetChange
	for _, rec := range recs {
		msg, err := events.Read(rec.Subject, rec.Type, rec.Data)
		if err != nil {
			continue
		}
		if v, ok := msg.(interface{ GetVolumeId() string }); !ok || v.GetVolumeId() != volumeID {
			continue // another incarnation's
		}
		c, ok := setChange(msg)
		if !ok {
			continue
		}
		if c.Time.IsZero() {
			c.Time = rec.Time
		}
		out = append(out, c)
	}
	return out, nil
}

// setChange reads what an event of the volume's log did to its replica set.
func setChange(msg proto.Message) (app.SetChange, bool) {
	replicas := func(rs []*pb.Replica) []app.SetReplica {
		out := make([]app.SetReplica, len(rs))
		for i, r := range rs {
			out[i] = setReplica(r)
		}
		return out
	}
	switch e := msg.(type) {
	case *pb.VolumeRequested:
		return app.SetChange{Kind: app.SetRequested, Time: occurred(e.GetOccurTime())}, true
	case *pb.ReplicasAssigned:
		// The set a placement decision gives a volume is its healthy set,
		// as the volume folds it; the event names no role.
		set := replicas(e.GetReplicas())
		for i := range set {
			if set[i].Role == app.RoleUnspecified {
				set[i].Role = app.RoleHealthy
			}
		}
		return app.SetChange{Kind: app.SetAssigned, Time: occurred(e.GetOccurTime()), Replicas: set}, true
	case *pb.ReplicaAdded:
		return app.SetChange{Kind: app.SetAdded, Time: occurred(e.GetOccurTime()), Replicas: []app.SetReplica{setReplica(e.GetReplica())}}, true
	case *pb.ReplicaPromoted:
		return app.SetChange{Kind: app.SetPromoted, Time: occurred(e.GetOccurTime()), ReplicaID: e.GetReplicaId(), RetiredID: e.GetRetiredReplicaId()}, true
	case *pb.ReplicaRetired:
		return app.SetChange{Kind: app.SetRetired, Time: occurred(e.GetOccurTime()), ReplicaID: e.GetReplicaId()}, true
	case *pb.ReplicaLost:
		return app.SetChange{Kind: app.SetLost, Time: occurred(e.GetOccurTime()), ReplicaID: e.GetReplicaId()}, true
	case *pb.ReplicaRemoved:
		return app.SetChange{Kind: app.SetRemoved, Time: occurred(e.GetOccurTime()), ReplicaID: e.GetReplicaId()}, true
	case *pb.VolumeDeleted:
		return app.SetChange{Kind: app.SetDeleted, Time: occurred(e.GetOccurTime())}, true
	case *pb.VolumeRepaired:
		return app.SetChange{Kind: app.SetRepaired, Time: occurred(e.GetOccurTime()), Replicas: replicas(e.GetVolume().GetReplicas())}, true
	}
	return app.SetChange{}, false
}

func setReplica(r *pb.Replica) app.SetReplica {
	return app.SetReplica{Replica: app.Replica{ID: r.GetId(), Placement: domain.Placement{NodeID: r.GetNodeId(), DiskID: r.GetDiskId(), Zone: r.GetZone()}},
		Role: app.ReplicaRole(r.GetRole())}
}
