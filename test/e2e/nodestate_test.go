package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

type nodeRow struct {
	ID    string `json:"id"`
	State string `json:"state"`
}

func nodeRows(t *testing.T, addr string) []nodeRow {
	t.Helper()
	var out struct {
		Nodes []nodeRow `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(ballast(t, addr, 0, "node", "list", "-o", "json")), &out); err != nil {
		t.Fatal(err)
	}
	return out.Nodes
}

func nodeStateOf(t *testing.T, addr, id string) string {
	t.Helper()
	for _, n := range nodeRows(t, addr) {
		if n.ID == id {
			return n.State
		}
	}
	t.Fatalf("no node %s", id)
	return ""
}

// An operator cordons a node: volumes created afterwards avoid it, and it
// stays cordoned across a SIGKILL and restart of `ballast up` (whose agents
// register every node again); uncordoned, it is up.
func TestCordonThroughTheCLIHoldsAcrossARestart(t *testing.T) {
	dir := t.TempDir()
	// Four nodes: a three-replica volume spread by node that could use the
	// cordoned one would, three times in four.
	p, addr := up(t, dir, "--nodes", "4")
	cordoned := nodeRows(t, addr)[0].ID
	if out := ballast(t, addr, 0, "node", "cordon", cordoned, "--reason", "disk replacement"); !strings.Contains(out, "cordoned") {
		t.Fatalf("cordon:\n%s", out)
	}
	for _, name := range []string{"a", "b", "c", "d"} {
		ballast(t, addr, 0, "volume", "create", name, "--size", "1GiB", "--replicas", "3", "--spread", "node")
		if out := ballast(t, addr, 0, "volume", "get", name, "-o", "json"); strings.Contains(out, `"`+cordoned+`"`) {
			t.Fatalf("volume %s has a replica on the cordoned node:\n%s", name, out)
		}
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
	_, addr = up(t, dir, "--nodes", "4")
	if got := nodeStateOf(t, addr, cordoned); got != "NODE_STATE_CORDONED" {
		t.Fatalf("after a restart the node is %s", got)
	}
	if out := ballast(t, addr, 1, "node", "drain", "no-such-node"); !strings.Contains(out, "NOT_FOUND") {
		t.Fatalf("drain of an unknown node:\n%s", out)
	}
	ballast(t, addr, 0, "node", "uncordon", cordoned)
	if got := nodeStateOf(t, addr, cordoned); got != "NODE_STATE_UP" {
		t.Fatalf("after uncordon the node is %s", got)
	}
}
