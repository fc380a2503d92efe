package e2e

import (
	"strings"
	"testing"
	"time"

	"ballast.dev/platform/waitfor"
)

// Nodes that join a busy fleet take their share at once: the rebalancer
// moves replicas onto them within seconds, only onto them, and no volume is
// ever short of replicas. (The sim's own load may have moved a replica
// among the old nodes before they joined: those moves are not judged.)
func TestJoinedNodesTakeTheirShare(t *testing.T) {
	p, addr := up(t, t.TempDir(), "--nodes", "6", "--telemetry-interval", "500ms", "--load-interval", "1s", "--rebalance-every", "3s", "--log-level", "info")
	names := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"}
	for _, n := range names {
		ballast(t, addr, 0, "volume", "create", n, "--size", "1GiB", "--replicas", "2", "--spread", "node")
	}
	if out := ballast(t, addr, 0, "sim", "add-nodes", "2"); !strings.Contains(out, "2 nodes joined: node-007 node-008") {
		t.Fatalf("sim add-nodes:\n%s", out)
	}
	// From when placement knows them as joining, every move goes onto them.
	for _, id := range []string{"node-007", "node-008"} {
		p.waitFor(`joined: balance moves go onto the joining nodes first.*`+id, 30*time.Second)
	}
	joined := time.Now()
	for _, n := range names {
		ballast(t, addr, 0, "sim", "hotspot", n, "--factor", "6", "--for", "1h")
	}
	isNew := func(node string) bool { return node == "node-007" || node == "node-008" }
	var moves []migrationRow
	waitfor.Condition(t, 2*time.Minute, "a move onto a joined node completed", func() bool {
		moves = migrations(t, addr)
		for _, m := range moves {
			if isNew(m.Target.NodeID) && m.Step == "MIGRATION_STEP_COMPLETED" {
				return true
			}
		}
		return false
	})
	t.Logf("first move onto a joined node done %s after they joined", time.Since(joined).Round(100*time.Millisecond))
	for _, m := range moves {
		if m.Created.After(joined) && !isNew(m.Target.NodeID) {
			t.Errorf("volume %s moved to %s, an old node, while nodes joined (%s, admitted %s)", m.VolumeName, m.Target.NodeID, m.Reason, m.Created.Format(time.StampMilli))
		}
	}
	if t.Failed() {
		t.Logf("migrations:\n%s\nnodes:\n%s", ballast(t, addr, 0, "migration", "list"), ballast(t, addr, 0, "node", "list"))
	}
	js := jetStream(t, p.natsURL())
	for _, n := range names {
		neverShort(t, js, n)
	}
}
