package adapters

import (
	"context"
	"fmt"
	"maps"
	"testing"

	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
	"ballast.dev/platform/natsserver/natstest"
	pb "ballast.dev/proto/ballast/v1"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
)

// The hotspots now are those the metrics stream last said started and
// have not cleared, each with its bar to clear.
func TestHotspotsAreTheOnesNotClearedYet(t *testing.T) {
	ctx := context.Background()
	js, err := jetstream.New(natstest.Connect(t, natstest.Start(t)))
	if err != nil {
		t.Fatal(err)
	}
	store := eventstore.New(js)
	if err := events.EnsureStreams(ctx, store, 1); err != nil {
		t.Fatal(err)
	}
	if hot, err := Hotspots(ctx, store); err != nil || len(hot) != 0 {
		t.Fatalf("an empty stream: %v, %v", hot, err)
	}
	last := map[string]uint64{}
	record := func(node string, m proto.Message) {
		t.Helper()
		ev, err := events.Encode(fmt.Sprintf("%s/%d", node, last[node]), m)
		if err != nil {
			t.Fatal(err)
		}
		if last[node], err = store.Append(ctx, events.Metrics.Subject(node), last[node], ev); err != nil {
			t.Fatal(err)
		}
	}
	record("n1", &pb.HotspotDetected{NodeId: "n1", ClearUtilization: 0.6})
	record("n2", &pb.HotspotDetected{NodeId: "n2", ClearUtilization: 0.7})
	record("n2", &pb.NodeSuspected{NodeId: "n2"})
	record("n3", &pb.HotspotDetected{NodeId: "n3", ClearUtilization: 0.7})
	record("n2", &pb.HotspotCleared{NodeId: "n2"})
	record("n3", &pb.HotspotCleared{NodeId: "n3"})
	record("n3", &pb.HotspotDetected{NodeId: "n3", ClearUtilization: 0.5})
	hot, err := Hotspots(ctx, store)
	if want := map[string]float64{"n1": 0.6, "n3": 0.5}; err != nil || !maps.Equal(hot, want) {
		t.Fatalf("hotspots %v (%v), want %v", hot, err, want)
	}
}
