package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"ballast.dev/platform/waitfor"
)

// A simulated node fails: it goes silent, metrics finds it suspect then
// down, placement records its replicas lost and re-creates each elsewhere,
// copied from a healthy peer, so every volume it held is whole again
// without it; once it recovers it is up, and the replicas it held are
// removed.
func TestAFailedNodesReplicasAreRecreatedElsewhere(t *testing.T) {
	p, addr := up(t, t.TempDir(), "--telemetry-interval", "500ms", "--suspect-after", "3s", "--down-after", "6s")
	names := []string{"a", "b", "c", "d", "e"}
	for _, n := range names {
		ballast(t, addr, 0, "volume", "create", n, "--size", "512MiB", "--replicas", "3")
	}
	node := volumeOf(t, addr, "a").Replicas[0].NodeID
	held := 0
	for _, n := range names {
		for _, r := range volumeOf(t, addr, n).Replicas {
			if r.NodeID == node {
				held++
			}
		}
	}
	if out := ballast(t, addr, 0, "sim", "fail", node); !strings.Contains(out, "failed") {
		t.Fatalf("sim fail:\n%s", out)
	}
	waitfor.Condition(t, time.Minute, "node "+node+" down", func() bool { return nodeStateOf(t, addr, node) == "NODE_STATE_DOWN" })
	waitfor.Condition(t, 3*time.Minute, fmt.Sprintf("the %d replicas of node %s re-created", held, node), func() bool {
		for _, n := range names {
			v := volumeOf(t, addr, n)
			healthy := 0
			for _, r := range v.Replicas {
				if r.NodeID != node && r.Role == "REPLICA_ROLE_HEALTHY" && r.State == "REPLICA_STATE_READY" {
					healthy++
				}
			}
			if v.State != "VOLUME_STATE_READY" || healthy != 3 {
				return false
			}
		}
		return true
	})
	// Never more than one replica short: the others kept serving.
	js := jetStream(t, p.natsURL())
	for _, n := range names {
		atLeast(t, js, n, 2)
	}
	ballast(t, addr, 0, "sim", "recover", node)
	waitfor.Condition(t, time.Minute, "node "+node+" up and empty", func() bool {
		if nodeStateOf(t, addr, node) != "NODE_STATE_UP" {
			return false
		}
		for _, n := range names {
			if len(volumeOf(t, addr, n).Replicas) != 3 {
				return false
			}
		}
		return nodeReplicaCount(t, addr, node) == 0
	})
	if out := ballast(t, addr, 1, "sim", "fail", "no-such-node"); !strings.Contains(out, "NOT_FOUND") {
		t.Fatalf("sim fail of an unknown node:\n%s", out)
	}
}
