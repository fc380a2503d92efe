package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"ballast.dev/gateway/readmodel"
	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
	"ballast.dev/platform/waitfor"
	pb "ballast.dev/proto/ballast/v1"
)

// neverShort folds a volume's whole history from the log and fails if,
// once ready, it ever had fewer healthy replicas than it asks for: the
// check is at every event, not only at the end.
func neverShort(t *testing.T, js jetstream.JetStream, name string) {
	t.Helper()
	atLeast(t, js, name, 0)
}

// atLeast is neverShort with a bar: once ready, the volume never had fewer
// than min healthy replicas (0: as many as it asks for).
func atLeast(t *testing.T, js jetstream.JetStream, name string, min int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, events.Volume.Stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{events.Volume.Subject(name)}})
	if err != nil {
		t.Fatal(err)
	}
	info, err := js.Stream(ctx, events.Volume.Stream)
	if err != nil {
		t.Fatal(err)
	}
	last := info.CachedInfo().State.LastSeq
	var v *pb.Volume
	ready := false
	for {
		msg, err := cons.Next(jetstream.FetchMaxWait(2 * time.Second))
		if err != nil {
			break // the subject's history is read
		}
		meta, _ := msg.Metadata()
		m, err := events.Read(msg.Subject(), msg.Headers().Get(eventstore.HeaderEventType), msg.Data())
		if err == nil {
			v, _ = readmodel.FoldVolume(v, meta.Sequence.Stream, m)
		}
		healthy := 0
		for _, r := range v.GetReplicas() {
			if r.GetRole() == pb.ReplicaRole_REPLICA_ROLE_HEALTHY && r.GetState() == pb.ReplicaState_REPLICA_STATE_READY {
				healthy++
			}
		}
		ready = ready || v.GetState() == pb.VolumeState_VOLUME_STATE_READY
		bar := min
		if bar == 0 {
			bar = int(v.GetSpec().GetReplicas())
		}
		if ready && v.GetState() != pb.VolumeState_VOLUME_STATE_DELETING && healthy < bar {
			t.Fatalf("volume %s had %d healthy replicas of %d after the event at %d (%T)", name, healthy, v.GetSpec().GetReplicas(), meta.Sequence.Stream, m)
		}
		if meta.NumPending == 0 || meta.Sequence.Stream >= last {
			break // the subject's history up to now is read
		}
	}
	if v == nil {
		t.Fatalf("volume %s has no history", name)
	}
}

// A drained node is emptied: every replica it held moves to a node the
// volume's constraints allow, throttled, and no volume is ever short of
// replicas on the way, as its history in the log shows.
func TestADrainedNodeIsEmptiedWithoutAVolumeShortOfReplicas(t *testing.T) {
	p, addr := up(t, t.TempDir())
	names := []string{"a", "b", "c", "d", "e", "f"}
	for _, n := range names {
		ballast(t, addr, 0, "volume", "create", n, "--size", "512MiB", "--replicas", "3")
	}
	// The node holding the most replicas.
	counts := map[string]int{}
	for _, n := range names {
		for _, r := range volumeOf(t, addr, n).Replicas {
			counts[r.NodeID]++
		}
	}
	node, most := "", 0
	for id, c := range counts {
		if c > most || c == most && id < node {
			node, most = id, c
		}
	}
	ballast(t, addr, 0, "node", "drain", node)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("migrations:\n%s", ballast(t, addr, 0, "migration", "list"))
		}
	})
	waitfor.Condition(t, 4*time.Minute, fmt.Sprintf("node %s emptied of its %d replicas", node, most), func() bool {
		return nodeReplicaCount(t, addr, node) == 0
	})
	js := jetStream(t, p.natsURL())
	for _, n := range names {
		v := volumeOf(t, addr, n)
		if v.State != "VOLUME_STATE_READY" || len(v.Replicas) != 3 {
			t.Fatalf("volume %s after the drain: %+v", n, v)
		}
		for _, r := range v.Replicas {
			if r.NodeID == node {
				t.Fatalf("volume %s still has replica %s on the drained node", n, r.ID)
			}
		}
		neverShort(t, js, n)
	}
	if got := nodeStateOf(t, addr, node); got != "NODE_STATE_DRAINING" {
		t.Fatalf("the drained node is %s", got)
	}
}
