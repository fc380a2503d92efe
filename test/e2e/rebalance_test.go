package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"ballast.dev/platform/waitfor"
)

// Hot volumes make their disks hotspots: the rebalancer (woken by the
// hotspot, or by its pass every few seconds here, as the disks the sim
// makes hot depend on where the replicas landed) moves replicas off them
// onto disks it does not make hot, each volume once, and no volume is ever
// short of replicas.
func TestAHotspotIsRebalanced(t *testing.T) {
	// Six nodes, so that a hot replica shares its disk with others the
	// planner can move away.
	p, addr := up(t, t.TempDir(), "--nodes", "6", "--telemetry-interval", "500ms", "--load-interval", "1s", "--rebalance-every", "3s")
	names := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"}
	for _, n := range names {
		ballast(t, addr, 0, "volume", "create", n, "--size", "1GiB", "--replicas", "2", "--spread", "node")
	}
	// Under seed 1, h and i are the busiest (35 and 58 MB/s); eight times
	// as busy, i's disk is saturated, h's half busy.
	for _, n := range []string{"h", "i"} {
		if out := ballast(t, addr, 0, "sim", "hotspot", n, "--factor", "8", "--for", "10m"); !strings.Contains(out, "replicas at 8x") {
			t.Fatalf("sim hotspot:\n%s", out)
		}
	}
	injected := time.Now()
	var moves []migrationRow
	var started time.Duration
	waitfor.Condition(t, 3*time.Minute, "a rebalance move completed", func() bool {
		moves = migrations(t, addr)
		if len(moves) > 0 && started == 0 {
			started = time.Since(injected)
		}
		for _, m := range moves {
			if strings.HasPrefix(m.Reason, "rebalance") && m.Step == "MIGRATION_STEP_COMPLETED" {
				return true
			}
		}
		return false
	})
	t.Logf("first move %s after the hotspot was injected", started.Round(100*time.Millisecond))
	seen := map[string]bool{}
	for _, m := range moves {
		if seen[m.VolumeName] {
			t.Fatalf("volume %s moved twice inside its cool-down: %+v", m.VolumeName, moves)
		}
		seen[m.VolumeName] = true
	}
	js := jetStream(t, p.natsURL())
	for _, n := range names {
		neverShort(t, js, n)
	}
}

// migrations lists the moves through the CLI.
func migrations(t *testing.T, addr string) []migrationRow {
	t.Helper()
	var out struct {
		Migrations []migrationRow `json:"migrations"`
	}
	if err := json.Unmarshal([]byte(ballast(t, addr, 0, "migration", "list", "-o", "json")), &out); err != nil {
		t.Fatal(err)
	}
	return out.Migrations
}
