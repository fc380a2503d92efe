package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"ballast.dev/platform/waitfor"
)

// migrationRow is a move as `ballast migration get|list -o json` shows it.
type migrationRow struct {
	ID         string `json:"id"`
	VolumeName string `json:"volume_name"`
	Step       string `json:"step"`
	Reason     string `json:"reason"`
	Copied     string `json:"copied_bytes"`
	Source     struct {
		NodeID string `json:"node_id"`
	} `json:"source"`
	Target struct {
		NodeID    string `json:"node_id"`
		ReplicaID string `json:"replica_id"`
	} `json:"target"`
	Created time.Time `json:"create_time"`
}

func migrationOf(t *testing.T, addr, id string) migrationRow {
	t.Helper()
	var m migrationRow
	if err := json.Unmarshal([]byte(ballast(t, addr, 0, "migration", "get", id, "-o", "json")), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

type volumeRow struct {
	State      string `json:"state"`
	Generation string `json:"generation"`
	Replicas   []struct {
		ID     string `json:"id"`
		NodeID string `json:"node_id"`
		Role   string `json:"role"`
		State  string `json:"state"`
	} `json:"replicas"`
}

func volumeOf(t *testing.T, addr, name string) volumeRow {
	t.Helper()
	var v volumeRow
	if err := json.Unmarshal([]byte(ballast(t, addr, 0, "volume", "get", name, "-o", "json")), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// startMove asks for a move without waiting and returns its id.
func startMove(t *testing.T, addr, volume, from string) string {
	t.Helper()
	var m migrationRow
	if err := json.Unmarshal([]byte(ballast(t, addr, 0, "volume", "move", volume, "--from", from, "--no-wait", "-o", "json")), &m); err != nil {
		t.Fatal(err)
	}
	return m.ID
}

func waitStep(t *testing.T, addr, id, step string, within time.Duration) migrationRow {
	t.Helper()
	var m migrationRow
	waitfor.Condition(t, within, "move "+id+" "+step, func() bool {
		m = migrationOf(t, addr, id)
		return m.Step == step
	})
	return m
}

// A move through the CLI survives a SIGKILL of `ballast up` in the middle
// of its copy: after the restart it is carried on from the log and
// completes, the volume has its three replicas (the moved one on the
// target, healthy), and the source node holds nothing of it.
func TestAMoveKilledMidCopyCompletesAfterARestart(t *testing.T) {
	dir := t.TempDir()
	p, addr := up(t, dir)
	// 10 GiB: some twenty seconds of copy at a simulated disk's bandwidth.
	ballast(t, addr, 0, "volume", "create", "db", "--size", "10GiB", "--replicas", "3")
	before := volumeOf(t, addr, "db")
	from := before.Replicas[0].NodeID
	id := startMove(t, addr, "db", from)
	waitfor.Condition(t, time.Minute, "the copy under way", func() bool {
		m := migrationOf(t, addr, id)
		return m.Step == "MIGRATION_STEP_COPYING" && m.Copied != "" && m.Copied != "0"
	})
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
	_, addr = up(t, dir)
	m := waitStep(t, addr, id, "MIGRATION_STEP_COMPLETED", 4*time.Minute)
	v := volumeOf(t, addr, "db")
	if v.State != "VOLUME_STATE_READY" || len(v.Replicas) != 3 || v.Generation != "3" {
		t.Fatalf("after the move: %+v", v)
	}
	for _, r := range v.Replicas {
		if r.NodeID == from || r.Role != "REPLICA_ROLE_HEALTHY" {
			t.Fatalf("after the move: replica %+v (source node %s)", r, from)
		}
	}
	if !strings.Contains(ballast(t, addr, 0, "volume", "get", "db", "-o", "json"), m.Target.ReplicaID) {
		t.Fatalf("the target %s is not in the set", m.Target.ReplicaID)
	}
	if n := nodeReplicaCount(t, addr, from); n != 0 {
		t.Fatalf("the source node still holds %d replicas", n)
	}
}

// A move cancelled during its copy rolls back: the volume keeps the
// replicas it had, and the target's node holds nothing.
func TestACancelledMoveRollsBack(t *testing.T) {
	_, addr := up(t, t.TempDir())
	ballast(t, addr, 0, "volume", "create", "db", "--size", "10GiB", "--replicas", "3")
	before := volumeOf(t, addr, "db")
	id := startMove(t, addr, "db", before.Replicas[1].NodeID)
	m := waitStep(t, addr, id, "MIGRATION_STEP_COPYING", time.Minute)
	out := ballast(t, addr, 0, "migration", "cancel", id, "--reason", "changed my mind")
	if !strings.Contains(out, "rolled back") {
		t.Fatalf("cancel:\n%s", out)
	}
	v := volumeOf(t, addr, "db")
	if v.State != "VOLUME_STATE_READY" {
		t.Fatalf("after the rollback: %+v", v)
	}
	waitfor.Condition(t, time.Minute, "the target removed", func() bool {
		return len(volumeOf(t, addr, "db").Replicas) == 3 && nodeReplicaCount(t, addr, m.Target.NodeID) == 0
	})
	for i, r := range volumeOf(t, addr, "db").Replicas {
		if r.ID != before.Replicas[i].ID {
			t.Fatalf("replica %d is %s, was %s", i, r.ID, before.Replicas[i].ID)
		}
	}
	// Cancelling it again changes nothing.
	if out := ballast(t, addr, 0, "migration", "cancel", id); !strings.Contains(out, "rolled back") {
		t.Fatalf("cancel of a rolled-back move:\n%s", out)
	}
}

func nodeReplicaCount(t *testing.T, addr, id string) int {
	t.Helper()
	var out struct {
		Nodes []struct {
			ID       string `json:"id"`
			Replicas int    `json:"replica_count"`
			Disks    []struct {
				Reserved string `json:"reserved_bytes"`
			} `json:"disks"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(ballast(t, addr, 0, "node", "list", "-o", "json")), &out); err != nil {
		t.Fatal(err)
	}
	for _, n := range out.Nodes {
		if n.ID == id {
			reserved := 0
			for _, d := range n.Disks {
				if d.Reserved != "" && d.Reserved != "0" {
					reserved++
				}
			}
			return n.Replicas + reserved
		}
	}
	t.Fatalf("no node %s", id)
	return 0
}
