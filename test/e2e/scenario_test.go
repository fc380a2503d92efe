package e2e

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"ballast.dev/platform/waitfor"
)

// `ballast up --scenario skewed-start` creates every replica on half the
// nodes, then uncordons the other half: the rebalancer spreads replicas onto
// them, only onto them, each volume once, until its next pass would move
// nothing, and no volume is ever short of replicas on the way.
func TestTheSkewedStartScenarioSpreadsTheReplicas(t *testing.T) {
	p, addr := up(t, t.TempDir(), "--scenario", "skewed-start")
	p.waitFor(`scenario skewed-start: .* created on 6 nodes, then 6 more were uncordoned`, 2*time.Minute)
	began := time.Now()
	uncordoned := map[string]bool{"node-007": true, "node-008": true, "node-009": true, "node-010": true, "node-011": true, "node-012": true}

	var moves []migrationRow
	waitfor.Condition(t, 3*time.Minute, "the moves done and the next pass planning none", func() bool {
		moves = migrations(t, addr)
		if len(moves) == 0 {
			return false
		}
		for _, m := range moves {
			if m.Step != "MIGRATION_STEP_COMPLETED" {
				return false
			}
		}
		var plan struct {
			MoveCount int `json:"move_count"`
		}
		if err := json.Unmarshal([]byte(ballast(t, addr, 0, "plan", "-o", "json")), &plan); err != nil {
			t.Fatal(err)
		}
		return plan.MoveCount == 0
	})
	t.Logf("settled %s after the uncordon, in %d moves", time.Since(began).Round(100*time.Millisecond), len(moves))

	moved := map[string]bool{}
	onto := map[string]int{}
	for _, m := range moves {
		if !uncordoned[m.Target.NodeID] {
			t.Errorf("volume %s moved to %s, a node that held replicas from the start", m.VolumeName, m.Target.NodeID)
		}
		if moved[m.VolumeName] {
			t.Errorf("volume %s moved twice inside its cool-down", m.VolumeName)
		}
		moved[m.VolumeName] = true
		onto[m.Target.NodeID]++
	}
	if len(onto) < len(uncordoned)/2 {
		t.Errorf("the moves went onto %d of the %d uncordoned nodes: %v", len(onto), len(uncordoned), onto)
	}
	js := jetStream(t, p.natsURL())
	for i := range 24 {
		neverShort(t, js, fmt.Sprintf("scenario-%02d", i+1))
	}
}

// `ballast up --scenario hotspot` makes a third of its volumes busy: the
// rebalancer moves replicas off the disks that became hotspots, each volume
// once, never leaving one short. (It once made two volumes 20 times as busy,
// whose replicas were often too hot for any disk to take: nothing moved.)
func TestTheHotspotScenarioMovesReplicas(t *testing.T) {
	p, addr := up(t, t.TempDir(), "--scenario", "hotspot")
	p.waitFor(`scenario hotspot: .* are 6x as busy`, 2*time.Minute)
	var moves []migrationRow
	waitfor.Condition(t, 2*time.Minute, "a move completed", func() bool {
		moves = migrations(t, addr)
		for _, m := range moves {
			if m.Step == "MIGRATION_STEP_COMPLETED" {
				return true
			}
		}
		return false
	})
	moved := map[string]bool{}
	for _, m := range moves {
		if moved[m.VolumeName] {
			t.Errorf("volume %s moved twice inside its cool-down", m.VolumeName)
		}
		moved[m.VolumeName] = true
	}
	js := jetStream(t, p.natsURL())
	for i := range 24 {
		neverShort(t, js, fmt.Sprintf("scenario-%02d", i+1))
	}
}
