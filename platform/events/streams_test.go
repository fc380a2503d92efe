package events_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
	"ballast.dev/platform/natsserver/natstest"
	"ballast.dev/platform/snapshot"
	"ballast.dev/platform/waitfor"
)

// On a three-node cluster the log runs with three replicas, and a process
// started with the default of one never lowers them.
func TestAStartNeverLowersTheReplicasOfAStream(t *testing.T) {
	servers := natstest.StartCluster(t, 3)
	nc := natstest.Connect(t, servers[0].ClientURL())
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	store := eventstore.New(js)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The cluster may still be settling: the first declaration retries.
	var err3 error
	waitfor.Condition(t, 45*time.Second, "streams declared with 3 replicas", func() bool {
		err3 = events.EnsureStreams(ctx, store, 3)
		if err3 != nil {
			t.Logf("declaring: %v", err3)
		}
		return err3 == nil
	})
	if err := events.EnsureStreams(ctx, store, 1); err != nil {
		t.Fatal(err)
	}
	names := []string{events.TelemetryStream, events.DeadLetterStream, "KV_" + events.LoadBucket, "OBJ_" + snapshot.Bucket}
	for _, a := range events.All {
		names = append(names, a.Stream)
	}
	for _, name := range names {
		st, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if r := st.CachedInfo().Config.Replicas; r != 3 {
			t.Errorf("stream %s has %d replicas after a start with 1, want 3", name, r)
		}
	}
}

func TestStreamsAreDeclaredOnceAndLeftAlone(t *testing.T) {
	nc := natstest.Connect(t, natstest.Start(t))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	store := eventstore.New(js)
	ctx := context.Background()
	if err := events.EnsureStreams(ctx, store, 1); err != nil {
		t.Fatal(err)
	}
	before, err := js.Stream(ctx, events.Volume.Stream)
	if err != nil {
		t.Fatal(err)
	}
	if err := events.EnsureStreams(ctx, store, 1); err != nil {
		t.Fatal(err)
	}
	after, err := js.Stream(ctx, events.Volume.Stream)
	if err != nil {
		t.Fatal(err)
	}
	if !after.CachedInfo().Created.Equal(before.CachedInfo().Created) {
		t.Fatal("the stream was created again")
	}
	cfg := after.CachedInfo().Config
	if !cfg.DenyDelete || !cfg.DenyPurge || !cfg.AllowAtomicPublish || cfg.MaxAge != 0 || cfg.MaxMsgs != -1 {
		t.Fatalf("event stream config %+v", cfg)
	}
}
