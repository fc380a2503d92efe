package adapters

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
	"ballast.dev/platform/natsserver/natstest"
	"ballast.dev/platform/waitfor"
	pb "ballast.dev/proto/ballast/v1"
	"ballast.dev/services/placement/app"
	"ballast.dev/services/placement/domain"
)

// The model applies what its own journal stored at once, and the log's
// delivery of the same event later changes nothing; an event stored with
// another writer's between it and the model's position waits for the log,
// so the stream is applied in order all the same.
func TestModelAppliesItsOwnDecisionsOnceAndInOrder(t *testing.T) {
	ctx := context.Background()
	nc := natstest.Connect(t, natstest.Start(t))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	store := eventstore.New(js)
	if err := events.EnsureStreams(ctx, store, 1); err != nil {
		t.Fatal(err)
	}
	node := &pb.NodeRegistered{NodeId: "n1", Zone: "z1", Region: "r1", Disks: []*pb.Disk{{Id: "d1", Tier: pb.Tier_TIER_SSD, CapacityBytes: 100 * gib}}}
	ev, err := events.Encode("reg/n1", node)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Append(ctx, events.Node.Subject("n1"), 0, ev); err != nil {
		t.Fatal(err)
	}
	m, err := NewModel(ctx, store, nil, 1, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	own := Journal{Store: store, Recorded: m.Recorded}
	other := Journal{Store: store} // another instance: the log alone tells
	decide := func(j Journal, volume string) uint64 {
		t.Helper()
		d := domain.Decision{VolumeID: volume, Placements: []domain.Placement{{NodeID: "n1", DiskID: "d1", Zone: "z1"}}}
		seq, err := j.Decided(ctx, "cause", "name-"+volume, app.Basis{Request: domain.Request{VolumeID: volume, SizeBytes: gib, Replicas: 1}}, d)
		if err != nil {
			t.Fatal(err)
		}
		return seq
	}
	reserved := func() uint64 {
		var used uint64
		m.View(func(c *domain.Cluster, _ app.Position, _ func(string) uint64) {
			for _, n := range c.Nodes() {
				for _, d := range n.Disks {
					used += d.UsedBytes
				}
			}
		})
		return used
	}
	position := func() uint64 {
		var at app.Position
		m.View(func(_ *domain.Cluster, p app.Position, _ func(string) uint64) { at = p })
		return at.Placement
	}

	seq := decide(own, "v1")
	if got := position(); got != seq {
		t.Fatalf("model at placement %d right after its own decision at %d", got, seq)
	}
	if got, want := reserved(), gib; got != want {
		t.Fatalf("%d bytes reserved right after one decision of 1 GiB, want %d", got, want)
	}

	gap := decide(other, "v2") // not told: the model learns it from the log
	next := decide(own, "v3")  // follows v2, which the model may not have yet
	waitfor.Condition(t, 10*time.Second, "the log's v2 and v3 applied", func() bool { return position() == next })
	if gap+1 != next {
		t.Fatalf("sequences %d and %d: the test needs them adjacent", gap, next)
	}
	if got, want := reserved(), 3*gib; got != want {
		t.Fatalf("%d bytes reserved after three decisions of 1 GiB, want %d", got, want)
	}
	// By now the log has delivered v1 as well (it precedes v2): once.
	if got, want := m.Events(), uint64(4); got != want {
		t.Fatalf("model applied %d events, want 4 (a node and three decisions, once each)", got)
	}
}
