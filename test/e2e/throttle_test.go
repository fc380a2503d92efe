package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
	"ballast.dev/platform/waitfor"
	pb "ballast.dev/proto/ballast/v1"
)

// Two instances of the migration service drain a node: at no point of the
// log are more moves out of it under way than the per-node limit (2), and
// every move completes.
func TestThrottlesHoldWithTwoMigrationServices(t *testing.T) {
	s := startStack(t, 12)
	second := start(t, "serve migration 2", "serve", "migration", "--nats-url", s.natsURL, "--log-level", "info")
	second.waitFor(`msg=serving service=migration`, 60*time.Second)
	for i := range 8 {
		ballast(t, s.addr, 0, "volume", "create", fmt.Sprintf("v%d", i), "--size", "2GiB", "--replicas", "3")
	}
	counts := map[string]int{}
	for i := range 8 {
		for _, r := range volumeOf(t, s.addr, fmt.Sprintf("v%d", i)).Replicas {
			counts[r.NodeID]++
		}
	}
	node, most := "", 0
	for id, c := range counts {
		if c > most || c == most && id < node {
			node, most = id, c
		}
	}
	if most < 3 {
		t.Fatalf("the fullest node holds %d replicas: too few to test the limit", most)
	}
	ballast(t, s.addr, 0, "node", "drain", node)
	waitfor.Condition(t, 4*time.Minute, fmt.Sprintf("node %s emptied of its %d replicas", node, most), func() bool {
		return nodeReplicaCount(t, s.addr, node) == 0
	})
	if peak := peakMovesOut(t, jetStream(t, s.natsURL), node); peak > 2 {
		t.Fatalf("%d moves out of node %s under way at once; the limit is 2", peak, node)
	} else {
		t.Logf("at most %d moves out of %s at once, of %d", peak, node, most)
	}
}

// peakMovesOut folds the migration stream in order and returns the most
// moves out of node that were admitted and not over at any point.
func peakMovesOut(t *testing.T, js jetstream.JetStream, node string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, events.Migration.Stream)
	if err != nil {
		t.Fatal(err)
	}
	last := st.CachedInfo().State.LastSeq
	cons, err := js.OrderedConsumer(ctx, events.Migration.Stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	from := map[string]string{}
	active := map[string]bool{}
	peak := 0
	for seq := uint64(0); seq < last; {
		msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatalf("read the migration stream at %d of %d: %v", seq, last, err)
		}
		meta, _ := msg.Metadata()
		seq = meta.Sequence.Stream
		m, err := events.Read(msg.Subject(), msg.Headers().Get(eventstore.HeaderEventType), msg.Data())
		if err != nil {
			continue
		}
		switch e := m.(type) {
		case *pb.MigrationRequested:
			from[e.GetMigrationId()] = e.GetSource().GetNodeId()
		case *pb.MigrationStarted:
			active[e.GetMigrationId()] = true
		case *pb.MigrationCompleted:
			delete(active, e.GetMigrationId())
		case *pb.MigrationRolledBack:
			delete(active, e.GetMigrationId())
		}
		n := 0
		for id := range active {
			if from[id] == node {
				n++
			}
		}
		peak = max(peak, n)
	}
	return peak
}
