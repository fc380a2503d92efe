// Package readmodeltest is the contract every read model store passes: the
// memory stores run it, and so will the SQL stores, so that the two cannot
// drift apart.
package readmodeltest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"ballast.dev/gateway/readmodel"
	"ballast.dev/platform/events"
	ballastv1 "ballast.dev/proto/ballast/v1"
)

// feeder applies events with increasing sequences per stream.
type feeder struct {
	t   *testing.T
	p   readmodel.Projection
	seq map[string]uint64
}

func newFeeder(t *testing.T, p readmodel.Projection) *feeder {
	return &feeder{t: t, p: p, seq: map[string]uint64{}}
}

func (f *feeder) apply(agg events.Aggregate, id string, m proto.Message) uint64 {
	f.t.Helper()
	f.seq[agg.Stream]++
	ev := readmodel.Event{
		Stream: agg.Stream, Subject: agg.Subject(id), Sequence: f.seq[agg.Stream], Time: time.Now(), Message: m,
	}
	if m != nil {
		ev.Type = events.TypeOf(m)
	}
	if err := f.p.Apply(context.Background(), ev); err != nil {
		f.t.Fatalf("apply %v: %v", ev, err)
	}
	return ev.Sequence
}

func ts(s int) *timestamppb.Timestamp { return timestamppb.New(time.Unix(int64(1_800_000_000+s), 0)) }

// VolumeStore runs the contract of readmodel.VolumeStore against stores
// that newStore makes empty.
func VolumeStore(t *testing.T, newStore func(t *testing.T) readmodel.VolumeStore) {
	ctx := context.Background()
	vol := events.Volume
	requested := func(id, name string) *ballastv1.VolumeRequested {
		return &ballastv1.VolumeRequested{VolumeId: id, VolumeName: name, SizeBytes: 100, OccurTime: ts(0),
			Spec: &ballastv1.VolumeSpec{Replicas: 1}}
	}

	t.Run("checkpoint", func(t *testing.T) {
		s := newStore(t)
		f := newFeeder(t, s)
		f.apply(vol, "a", requested("ia", "a"))
		f.apply(vol, "a", nil) // undecodable: still applied
		seq := f.apply(vol, "x", &ballastv1.NodeRegistered{NodeId: "stray"})
		if got, _ := s.Applied(ctx, vol.Stream); got != seq {
			t.Fatalf("applied %d, want %d", got, seq)
		}
		// Redelivery of an applied sequence changes nothing.
		if err := s.Apply(ctx, readmodel.Event{Stream: vol.Stream, Subject: vol.Subject("a"), Sequence: 1,
			Message: &ballastv1.VolumeReady{VolumeId: "ia"}}); err != nil {
			t.Fatal(err)
		}
		if v, _ := s.Volume(ctx, "a"); v.GetState() != ballastv1.VolumeState_VOLUME_STATE_CREATING || v.GetVersion() != 1 {
			t.Fatalf("redelivered event applied: %v", v)
		}
		if err := s.Apply(ctx, readmodel.Event{Stream: "NOPE", Sequence: 1}); err == nil {
			t.Fatal("an event of another stream was accepted")
		}
	})

	t.Run("wait applied", func(t *testing.T) {
		s := newStore(t)
		f := newFeeder(t, s)
		short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		if err := s.WaitApplied(short, vol.Stream, 1); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("wait for an unapplied sequence: %v", err)
		}
		done := make(chan error, 1)
		go func() { done <- s.WaitApplied(ctx, vol.Stream, 2) }()
		f.apply(vol, "a", requested("ia", "a"))
		f.apply(vol, "a", &ballastv1.VolumeReady{VolumeId: "ia"})
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("waiter not woken")
		}
	})

	t.Run("queries", func(t *testing.T) {
		s := newStore(t)
		f := newFeeder(t, s)
		for _, n := range []string{"c", "a", "b", "d"} {
			f.apply(vol, n, requested("i"+n, n))
		}
		f.apply(vol, "d", &ballastv1.VolumeDeleted{VolumeId: "id"})
		page, total, err := s.Volumes(ctx, "", 2)
		if err != nil || total != 3 || len(page) != 2 || page[0].GetName() != "a" || page[1].GetName() != "b" {
			t.Fatalf("first page %v %d %v", page, total, err)
		}
		page, _, _ = s.Volumes(ctx, "b", 2)
		if len(page) != 1 || page[0].GetName() != "c" {
			t.Fatalf("second page %v", page)
		}
		page, _, _ = s.Volumes(ctx, "bb", 5) // a key that is gone still pages on
		if len(page) != 1 || page[0].GetName() != "c" {
			t.Fatalf("page after a missing key %v", page)
		}
		for _, key := range []string{"a", "ia"} {
			if v, err := s.Volume(ctx, key); err != nil || v.GetName() != "a" {
				t.Fatalf("volume %s: %v %v", key, v, err)
			}
		}
		for _, key := range []string{"d", "id", "zz"} {
			if _, err := s.Volume(ctx, key); !errors.Is(err, readmodel.ErrNotFound) {
				t.Fatalf("volume %s: %v", key, err)
			}
		}
		if v, err := s.Incarnation(ctx, "id"); err != nil || v.GetState() != ballastv1.VolumeState_VOLUME_STATE_DELETED {
			t.Fatalf("deleted incarnation: %v %v", v, err)
		}
		// Results are the caller's to change.
		v, _ := s.Volume(ctx, "a")
		v.Name = "changed"
		if v, _ := s.Volume(ctx, "a"); v.GetName() != "a" {
			t.Fatal("a query result aliases the store")
		}
	})

	t.Run("change notification", func(t *testing.T) {
		s := newStore(t)
		f := newFeeder(t, s)
		f.apply(vol, "a", requested("ia", "a"))
		ch, done := s.VolumeChanged("a")
		defer done()
		f.apply(vol, "b", requested("ib", "b"))
		select {
		case <-ch:
			t.Fatal("woken by another volume's change")
		default:
		}
		f.apply(vol, "a", &ballastv1.VolumeReady{VolumeId: "ia"})
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatal("not woken by the volume's change")
		}
	})
}

// NodeStore runs the contract of readmodel.NodeStore against stores that
// newStore makes empty.
func NodeStore(t *testing.T, newStore func(t *testing.T) readmodel.NodeStore) {
	ctx := context.Background()
	const g = uint64(1 << 30)
	s := newStore(t)
	f := newFeeder(t, s)
	reserved := func(node, disk string) uint64 {
		t.Helper()
		n, err := s.Node(ctx, node)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range n.GetDisks() {
			if d.GetId() == disk {
				return d.GetReservedBytes()
			}
		}
		t.Fatalf("node %s has no disk %s", node, disk)
		return 0
	}
	// Several volumes on one disk, resized and released in turn: each
	// release returns exactly that volume's bytes.
	f.apply(events.Node, "n", &ballastv1.NodeRegistered{NodeId: "n", Disks: []*ballastv1.Disk{{Id: "d", CapacityBytes: 100 * g}}})
	for i := range 5 {
		vid := fmt.Sprintf("v%d", i)
		f.apply(events.Placement, vid, &ballastv1.PlacementDecided{VolumeId: vid, SizeBytes: uint64(i+1) * g,
			Placements: []*ballastv1.ReplicaPlacement{{ReplicaId: vid + "-r", NodeId: "n", DiskId: "d"}}})
	}
	if got := reserved("n", "d"); got != 15*g {
		t.Fatalf("reserved %d", got)
	}
	f.apply(events.Placement, "v0", &ballastv1.ResizeApproved{VolumeId: "v0", SizeBytes: 3 * g}) // 1 → 3
	f.apply(events.Placement, "v4", &ballastv1.ResizeApproved{VolumeId: "v4", SizeBytes: 2 * g}) // never shrinks
	if got := reserved("n", "d"); got != 17*g {
		t.Fatalf("after resizes reserved %d", got)
	}
	f.apply(events.Placement, "v0", &ballastv1.CapacityReleased{VolumeId: "v0"})
	f.apply(events.Placement, "v3", &ballastv1.CapacityReleased{VolumeId: "v3"})
	if got := reserved("n", "d"); got != 10*g {
		t.Fatalf("after releases reserved %d", got)
	}
	// Re-registration keeps the reservations.
	f.apply(events.Node, "n", &ballastv1.NodeRegistered{NodeId: "n", Disks: []*ballastv1.Disk{{Id: "d", CapacityBytes: 200 * g, ReservedBytes: 1}}})
	if got := reserved("n", "d"); got != 10*g {
		t.Fatalf("after re-registration reserved %d", got)
	}
	if _, err := s.Node(ctx, "other"); !errors.Is(err, readmodel.ErrNotFound) {
		t.Fatalf("unknown node: %v", err)
	}
	if nodes, total, err := s.Nodes(ctx, "", 10); err != nil || total != 1 || len(nodes) != 1 {
		t.Fatalf("nodes %v %d %v", nodes, total, err)
	}
	state := func(node string) ballastv1.NodeState {
		t.Helper()
		n, err := s.Node(ctx, node)
		if err != nil {
			t.Fatal(err)
		}
		return n.GetState()
	}
	// Placement's state for a node holds whatever its agent registers, and
	// whichever stream is applied first.
	if got := state("n"); got != ballastv1.NodeState_NODE_STATE_UP {
		t.Fatalf("a node with no recorded state is %v", got)
	}
	f.apply(events.NodeState, "n", &ballastv1.NodeStateChanged{NodeId: "n", State: ballastv1.NodeState_NODE_STATE_DRAINING})
	f.apply(events.Node, "n", &ballastv1.NodeRegistered{NodeId: "n", Disks: []*ballastv1.Disk{{Id: "d", CapacityBytes: 200 * g}}})
	if got := state("n"); got != ballastv1.NodeState_NODE_STATE_DRAINING {
		t.Fatalf("after re-registration the node is %v", got)
	}
	f.apply(events.NodeState, "m", &ballastv1.NodeStateChanged{NodeId: "m", State: ballastv1.NodeState_NODE_STATE_CORDONED})
	f.apply(events.Node, "m", &ballastv1.NodeRegistered{NodeId: "m"})
	if got := state("m"); got != ballastv1.NodeState_NODE_STATE_CORDONED {
		t.Fatalf("a node cordoned before its registration was applied is %v", got)
	}
}
