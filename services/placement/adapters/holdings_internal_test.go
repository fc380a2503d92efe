package adapters

import (
	"reflect"
	"testing"
	"time"

	snapshotv1 "ballast.dev/proto/ballast/snapshot/v1"
	"ballast.dev/services/placement/app"
	"ballast.dev/services/placement/domain"
)

// A snapshot keeps what the rebalancer reads of a volume beside its
// replicas: the move under way (whose node it relieves, of what kind) and
// when it last moved, so that a placement restarted from a snapshot
// neither moves a volume again inside its cool-down nor takes a hot
// node's relief for routine moves.
func TestASnapshotKeepsAVolumesMoveAndCooldown(t *testing.T) {
	moved := time.Date(2026, 12, 3, 18, 0, 0, 123, time.UTC)
	set := []app.Replica{
		{ID: "r1", Placement: domain.Placement{NodeID: "hot", DiskID: "d1", Zone: "z1"}},
		{ID: "r2", Placement: domain.Placement{NodeID: "n2", DiskID: "d1", Zone: "z2"}},
		{ID: "r3", Placement: domain.Placement{NodeID: "n3", DiskID: "d2", Zone: "z3"}},
	}
	h := holdings{
		"v1": {VolumeID: "v1", Name: "moving", SizeBytes: 1 << 30, Replicas: 2, Tier: domain.TierSSD, Spread: domain.SpreadZone,
			Set: set, MovingFrom: "hot", MovingKind: app.MoveHotspot, LastMoved: moved},
		"v2": {VolumeID: "v2", Name: "still", SizeBytes: 1 << 20, Replicas: 1, Tier: domain.TierSSD, Spread: domain.SpreadZone,
			Set: set[1:2]},
	}
	out := &snapshotv1.Cluster{}
	for _, id := range []string{"v1", "v2"} {
		r := &snapshotv1.ClusterReservation{VolumeId: id, SizeBytes: h[id].SizeBytes}
		for _, rep := range h[id].Set {
			r.Placements = append(r.Placements, &snapshotv1.ClusterPlacement{NodeId: rep.NodeID, DiskId: rep.DiskID, Zone: rep.Zone})
		}
		out.Reservations = append(out.Reservations, r)
	}
	h.toProto(out)
	back := holdingsFromProto(out)
	for id, want := range h {
		if got := back[id]; got == nil || !reflect.DeepEqual(*got, *want) {
			t.Errorf("%s after a snapshot: %+v, want %+v", id, got, want)
		}
	}
}
