package adapters

import (
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	snapshotv1 "ballast.dev/proto/ballast/snapshot/v1"
	pb "ballast.dev/proto/ballast/v1"
	"ballast.dev/services/placement/app"
	"ballast.dev/services/placement/domain"
)

// holdings is what the model knows of each placed volume beyond its
// reservation: its name, what it asked for and which replica is on which
// disk, so that placement can move replicas on its own (a drain).
type holdings map[string]*app.Held

// apply follows one placement event. m.mu is held.
func (h holdings) apply(msg proto.Message) {
	switch e := msg.(type) {
	case *pb.PlacementDecided:
		held := &app.Held{VolumeID: e.GetVolumeId(), Name: e.GetVolumeName(), SizeBytes: e.GetSizeBytes()}
		if r := e.GetSummary().GetRequest(); r != nil {
			req := requestFromProto(e.GetVolumeId(), r)
			held.Replicas, held.Tier, held.Spread = req.Replicas, req.Tier, req.Spread
		}
		for _, p := range e.GetPlacements() {
			held.Set = append(held.Set, replicaFromProto(p))
		}
		if held.Replicas == 0 {
			held.Replicas = len(held.Set)
		}
		h[e.GetVolumeId()] = held
	case *pb.MoveAdmitted:
		if held, ok := h[e.GetVolumeId()]; ok {
			held.Set = append(held.Set, replicaFromProto(e.GetTarget()))
			held.MovingFrom, held.MovingKind = e.GetSource().GetNodeId(), MoveKindFromProto(e.GetKind())
		}
	case *pb.MoveSettled:
		if held, ok := h[e.GetVolumeId()]; ok {
			r := e.GetReleased()
			held.Set = slices.DeleteFunc(held.Set, func(x app.Replica) bool { return x.NodeID == r.GetNodeId() && x.DiskID == r.GetDiskId() })
			held.LastMoved = e.GetOccurTime().AsTime()
			held.MovingFrom, held.MovingKind = "", app.MoveUnspecified
		}
	case *pb.ResizeApproved:
		if held, ok := h[e.GetVolumeId()]; ok {
			held.SizeBytes = max(held.SizeBytes, e.GetSizeBytes())
		}
	case *pb.CapacityReleased:
		delete(h, e.GetVolumeId())
	}
}

// on lists copies of the volumes with a replica on the node.
func (h holdings) on(nodeID string) []app.Held {
	var out []app.Held
	for _, held := range h {
		if slices.ContainsFunc(held.Set, func(r app.Replica) bool { return r.NodeID == nodeID }) {
			c := *held
			c.Set = slices.Clone(held.Set)
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b app.Held) int { return strings.Compare(a.VolumeID, b.VolumeID) })
	return out
}

// toProto adds the holdings to a snapshot's reservations.
func (h holdings) toProto(out *snapshotv1.Cluster) {
	for _, r := range out.Reservations {
		held, ok := h[r.GetVolumeId()]
		if !ok {
			continue
		}
		r.VolumeName, r.Tier, r.Spread, r.Replicas = held.Name, int32(held.Tier), int32(held.Spread), uint32(held.Replicas)
		r.MovingFromNodeId, r.MovingKind = held.MovingFrom, MoveKindToProto(held.MovingKind)
		if !held.LastMoved.IsZero() {
			r.LastMovedTime = timestamppb.New(held.LastMoved)
		}
		for _, p := range r.Placements {
			if i := slices.IndexFunc(held.Set, func(x app.Replica) bool { return x.NodeID == p.GetNodeId() && x.DiskID == p.GetDiskId() }); i >= 0 {
				p.ReplicaId = held.Set[i].ID
			}
		}
	}
}

// holdingsFromProto reads them back; reservations of older snapshots,
// without names, hold nothing placement could move.
func holdingsFromProto(m *snapshotv1.Cluster) holdings {
	h := holdings{}
	for _, r := range m.GetReservations() {
		if r.GetVolumeName() == "" {
			continue
		}
		held := &app.Held{VolumeID: r.GetVolumeId(), Name: r.GetVolumeName(), SizeBytes: r.GetSizeBytes(), Replicas: int(r.GetReplicas()),
			Tier: domain.Tier(r.GetTier()), Spread: domain.SpreadLevel(r.GetSpread()),
			MovingFrom: r.GetMovingFromNodeId(), MovingKind: MoveKindFromProto(r.GetMovingKind())}
		if t := r.GetLastMovedTime(); t != nil {
			held.LastMoved = t.AsTime()
		}
		for _, p := range r.GetPlacements() {
			held.Set = append(held.Set, app.Replica{ID: p.GetReplicaId(), Placement: domain.Placement{NodeID: p.GetNodeId(), DiskID: p.GetDiskId(), Zone: p.GetZone()}})
		}
		h[r.GetVolumeId()] = held
	}
	return h
}

// all lists copies of every volume held.
func (h holdings) all() []app.Held {
	out := make([]app.Held, 0, len(h))
	for _, held := range h {
		c := *held
		c.Set = slices.Clone(held.Set)
		out = append(out, c)
	}
	return out
}
