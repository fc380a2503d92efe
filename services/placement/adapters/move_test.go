package adapters

import (
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "ballast.dev/proto/ballast/v1"
	"ballast.dev/services/placement/app"
	"ballast.dev/services/placement/domain"
)

// A move's record reads back as the move, with what its target was chosen
// on, and stays as small as a decision's at fleet scale.
func TestMoveRecordRoundTrip(t *testing.T) {
	c := fleet(t, 10_000)
	r := domain.Request{VolumeID: "vol-1", SizeBytes: 100 * gib, Replicas: 1, Tier: domain.TierSSD, Spread: domain.SpreadZone}
	d, err := domain.Place(c, r)
	if err != nil {
		t.Fatal(err)
	}
	target := d.Placements[0]
	m := app.Move{MigrationID: "m-1", VolumeID: "vol-1", VolumeName: "db", SizeBytes: r.SizeBytes,
		Source: app.Replica{ID: "r-src", Placement: domain.Placement{NodeID: "n-old", DiskID: "d0", Zone: target.Zone}},
		Target: app.Replica{ID: "r-dst", Placement: target}, Placements: []domain.Placement{target},
		Reason: "rebalance (balance)", Kind: app.MoveHotspot, Gain: 0.125, ToNode: target.NodeID,
		Basis: app.Basis{Request: r, At: app.Position{Node: 30_000, Placement: 50_123}, Overcommit: 1}, Summary: d}
	m.Summary.Placements = []domain.Placement{target}
	ev := admittedEvent(m, timestamppb.Now())
	if size := proto.Size(ev); size > maxDecisionBytes {
		t.Errorf("a move at 10,000 nodes weighs %d bytes, more than %d", size, maxDecisionBytes)
	}
	data, err := proto.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var back pb.MoveAdmitted
	if err := proto.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	got := moveFromProto(&back)
	if !got.Summarized || !reflect.DeepEqual(got.Basis, m.Basis) || !reflect.DeepEqual(got.Summary, m.Summary) {
		t.Errorf("basis %+v\nsummary %+v\nwant %+v\n%+v", got.Basis, got.Summary, m.Basis, m.Summary)
	}
	if got.Kind != app.MoveHotspot || got.Gain != 0.125 || got.ToNode != target.NodeID || got.Source != m.Source || got.Target != m.Target {
		t.Errorf("move %+v", got.Move)
	}
}

// Moves admitted before kinds were recorded have theirs read from their
// reason.
func TestAnOldMoveRecordHasItsKindFromItsReason(t *testing.T) {
	for reason, want := range map[string]app.MoveKind{
		"rebalance (balance)":             app.MoveBalance,
		"rebalance (capacity)":            app.MoveCapacity,
		"drain of node-3":                 app.MoveDrain,
		"re-created: node node-3 is down": app.MoveNodeDown,
		"moved by an operator":            app.MoveOperator,
		"something else":                  app.MoveUnspecified,
	} {
		got := moveFromProto(&pb.MoveAdmitted{VolumeId: "v", MigrationId: "m", Reason: reason,
			Target: &pb.ReplicaPlacement{ReplicaId: "r", NodeId: "n"}})
		if got.Kind != want || got.Summarized {
			t.Errorf("%q: kind %v, summarized %v", reason, got.Kind, got.Summarized)
		}
	}
}
