package balance

import (
	"fmt"
	"math"
	"testing"

	"pgregory.net/rapid"

	"ballast.dev/services/placement/domain"
)

// Property tests over random clusters and loads (rapid prints the seed to
// replay with -rapid.seed): no plan breaks a hard constraint; a plan with
// nothing forced never raises the most utilised disk's utilisation; and a
// second pass on the result of a plan that stranded nothing, with the
// moved volumes cooling down as they would be, proposes nothing.

// drawModel draws a cluster; with calm, no node is draining or down.
func drawModel(t *rapid.T, calm bool) (Model, bool) {
	var m Model
	zones := rapid.IntRange(1, 4).Draw(t, "zones")
	forced := false
	for i := range rapid.IntRange(1, 10).Draw(t, "nodes") {
		states := []domain.NodeState{domain.NodeUp, domain.NodeUp, domain.NodeUp, domain.NodeUp,
			domain.NodeCordoned, domain.NodeDraining, domain.NodeDown}
		if calm {
			states = states[:5]
		}
		n := Node{ID: fmt.Sprintf("n%d", i), Zone: fmt.Sprintf("z%d", rapid.IntRange(0, zones-1).Draw(t, "zone")), Region: "r1",
			State: rapid.SampledFrom(states).Draw(t, "state")}
		if n.State == domain.NodeDraining || n.State == domain.NodeDown {
			forced = true
		}
		for j := range rapid.IntRange(1, 3).Draw(t, "disks") {
			n.Disks = append(n.Disks, Disk{ID: fmt.Sprintf("d%d", j),
				Tier:          rapid.SampledFrom([]domain.Tier{domain.TierSSD, domain.TierSSD, domain.TierHDD}).Draw(t, "tier"),
				CapacityBytes: uint64(rapid.IntRange(50, 400).Draw(t, "capGiB")) * gib,
				IOPS:          float64(rapid.IntRange(1, 40).Draw(t, "kiops") * 1000),
				Bps:           float64(rapid.IntRange(1, 20).Draw(t, "100MBps")) * 1e8,
			})
		}
		m.Nodes = append(m.Nodes, n)
	}
	// Volumes on random disks of their tier, each replica on its own node
	// (what placement would have made); loads skewed.
	for i := range rapid.IntRange(0, 40).Draw(t, "volumes") {
		v := Volume{ID: fmt.Sprintf("v%d", i), SizeBytes: uint64(rapid.IntRange(1, 40).Draw(t, "sizeGiB")) * gib,
			Tier:   rapid.SampledFrom([]domain.Tier{domain.TierSSD, domain.TierHDD}).Draw(t, "vtier"),
			Spread: rapid.SampledFrom([]domain.SpreadLevel{domain.SpreadNode, domain.SpreadZone}).Draw(t, "spread")}
		used := map[string]bool{}
		for k := range rapid.IntRange(1, 3).Draw(t, "replicas") {
			ni := rapid.IntRange(0, len(m.Nodes)-1).Draw(t, "on")
			n := m.Nodes[ni]
			if used[n.ID] {
				continue
			}
			for _, d := range n.Disks {
				if d.Tier == v.Tier {
					heavy := math.Pow(10, float64(rapid.IntRange(0, 3).Draw(t, "magnitude")))
					v.Replicas = append(v.Replicas, Replica{ID: fmt.Sprintf("%s-r%d", v.ID, k), NodeID: n.ID, DiskID: d.ID,
						Load: Load{ReadIOPS: 5 * heavy, WriteIOPS: 2 * heavy, ReadBps: 4e4 * heavy, WriteBps: 1e4 * heavy}})
					used[n.ID] = true
					break
				}
			}
		}
		m.Volumes = append(m.Volumes, v)
	}
	return m, forced
}

func TestPlansKeepEveryHardConstraint(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m, _ := drawModel(t, false)
		cfg := Config{Overcommit: rapid.SampledFrom([]float64{0.9, 1, 1.5}).Draw(t, "overcommit")}
		check(t, m, Propose(m, cfg), cfg)
	})
}

func TestAPlanNeverRaisesTheMostUtilisedDisk(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m, forced := drawModel(t, true)
		p := Propose(m, Config{})
		for _, mv := range p.Moves {
			if mv.Reason != ReasonBalance {
				forced = true
			}
		}
		if forced {
			return // a drain or a lost replica may have to go to a busy disk
		}
		const eps = 1e-9
		if p.After.IOPS.Max > p.Before.IOPS.Max*(1+eps) || p.After.Bps.Max > p.Before.Bps.Max*(1+eps) {
			t.Fatalf("max utilisation rose: IOPS %.4f→%.4f, bytes/s %.4f→%.4f; moves %s",
				p.Before.IOPS.Max, p.After.IOPS.Max, p.Before.Bps.Max, p.After.Bps.Max, moveNames(p))
		}
	})
}

func TestASecondPassProposesNothing(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m, _ := drawModel(t, false)
		first := Propose(m, Config{})
		if len(first.Stranded) > 0 {
			return // what is stranded may find room once the rest has moved
		}
		after := Apply(m, first.Moves)
		moved := map[string]bool{}
		for _, mv := range first.Moves {
			moved[mv.VolumeID] = true
		}
		for i := range after.Volumes {
			after.Volumes[i].CoolingDown = moved[after.Volumes[i].ID]
		}
		second := Propose(after, Config{})
		if len(second.Moves) > 0 {
			t.Fatalf("second pass moves %s after %s", moveNames(second), moveNames(first))
		}
	})
}
