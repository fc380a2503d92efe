package balance

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"ballast.dev/services/placement/domain"
)

const gib = uint64(1) << 30

// ssdNode is an up node in zone with one ssd of capGiB and iops.
func ssdNode(id, zone string, capGiB uint64, iops float64) Node {
	return Node{ID: id, Zone: zone, Region: "r1", State: domain.NodeUp,
		Disks: []Disk{{ID: id + "-d0", Tier: domain.TierSSD, CapacityBytes: capGiB * gib, IOPS: iops, Bps: 1e9}}}
}

// volume is a zone-spread ssd volume of sizeGiB with a replica on each node
// named, each carrying iops.
func volume(id string, sizeGiB uint64, iops float64, nodes ...string) Volume {
	v := Volume{ID: id, SizeBytes: sizeGiB * gib, Tier: domain.TierSSD, Spread: domain.SpreadZone}
	for i, n := range nodes {
		v.Replicas = append(v.Replicas, Replica{ID: fmt.Sprintf("%s-r%d", id, i), NodeID: n, DiskID: n + "-d0",
			Load: Load{ReadIOPS: iops / 2, WriteIOPS: iops / 2}})
	}
	return v
}

// reporter is what check needs of a *testing.T or a *rapid.T.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
}

// check fails t if the model after the plan breaks a hard constraint: a
// replica on a node that is not up or cordoned (when it moved), of another
// tier, on a full disk, or sharing a failure domain with another replica of
// its volume.
func check(t reporter, before Model, p Plan, cfg Config) Model {
	t.Helper()
	cfg = cfg.withDefaults()
	after := Apply(before, p.Moves)
	disks := map[Location]Disk{}
	nodes := map[string]Node{}
	for _, n := range after.Nodes {
		nodes[n.ID] = n
		for _, d := range n.Disks {
			disks[Location{n.ID, d.ID}] = d
		}
	}
	moved := map[string]bool{}
	for _, m := range p.Moves {
		moved[m.ReplicaID] = true
		if m.From == m.To {
			t.Errorf("move of %s goes nowhere: %+v", m.ReplicaID, m)
		}
	}
	used := map[Location]uint64{}
	for _, v := range after.Volumes {
		zones, regions, onNode := map[string]bool{}, map[string]bool{}, map[string]bool{}
		for _, r := range v.Replicas {
			loc := Location{r.NodeID, r.DiskID}
			d, ok := disks[loc]
			if !ok {
				continue
			}
			n := nodes[r.NodeID]
			used[loc] += v.SizeBytes
			if moved[r.ID] {
				if n.State != domain.NodeUp {
					t.Errorf("%s moved to %s, which is %v", r.ID, n.ID, n.State)
				}
				if d.Tier != v.Tier {
					t.Errorf("%s (tier %v) moved to a %v disk", r.ID, v.Tier, d.Tier)
				}
			}
			if onNode[n.ID] {
				t.Errorf("volume %s has two replicas on node %s", v.ID, n.ID)
			}
			onNode[n.ID] = true
			if v.Spread >= domain.SpreadZone && zones[n.Zone] && moved[r.ID] {
				t.Errorf("volume %s has two replicas in zone %s", v.ID, n.Zone)
			}
			zones[n.Zone] = true
			if v.Spread >= domain.SpreadRegion && regions[n.Region] && moved[r.ID] {
				t.Errorf("volume %s has two replicas in region %s", v.ID, n.Region)
			}
			regions[n.Region] = true
		}
	}
	for _, m := range p.Moves {
		d := disks[m.To]
		if u := used[m.To]; u > domain.Reservable(d.CapacityBytes, cfg.Overcommit) {
			t.Errorf("disk %v holds %d bytes of %d after the plan", m.To, u, d.CapacityBytes)
		}
	}
	return after
}

func moveNames(p Plan) string {
	var s []string
	for _, m := range p.Moves {
		s = append(s, fmt.Sprintf("%s %s→%s (%v)", m.ReplicaID, m.From.NodeID, m.To.NodeID, m.Reason))
	}
	return strings.Join(s, ", ")
}

func TestAHotspotShedsOntoTheLeastUtilisedDisks(t *testing.T) {
	m := Model{Sequence: 7}
	for i := range 6 {
		m.Nodes = append(m.Nodes, ssdNode(fmt.Sprintf("n%d", i), fmt.Sprintf("z%d", i), 1000, 10_000))
	}
	// Twelve volumes on n0, n1, n2; n0's replicas carry five times the
	// load of the others.
	for i := range 12 {
		v := volume(fmt.Sprintf("v%02d", i), 10, 300, "n0", "n1", "n2")
		v.Replicas[0].Load = Load{ReadIOPS: 1500}
		m.Volumes = append(m.Volumes, v)
	}
	p := Propose(m, Config{})
	if p.Sequence != 7 {
		t.Errorf("plan names sequence %d, want the model's 7", p.Sequence)
	}
	check(t, m, p, Config{})
	if len(p.Moves) == 0 {
		t.Fatal("no move off the hotspot")
	}
	for _, mv := range p.Moves {
		if mv.Reason != ReasonBalance || mv.To.NodeID < "n3" {
			t.Errorf("move %+v: want balance moves onto the idle n3, n4, n5", mv)
		}
	}
	if !(p.After.IOPS.Max < p.Before.IOPS.Max) {
		t.Errorf("max IOPS utilisation %.3f before, %.3f after: want lower", p.Before.IOPS.Max, p.After.IOPS.Max)
	}
	again := Propose(Apply(m, p.Moves), Config{})
	if len(again.Moves) != 0 {
		t.Errorf("a second pass moves again: %s", moveNames(again))
	}
}

// A disk at 8% next to one at 1% is no hotspot: evening them out is not
// worth a copy.
func TestAnIdleClusterIsLeftAlone(t *testing.T) {
	m := Model{}
	for i := range 4 {
		m.Nodes = append(m.Nodes, ssdNode(fmt.Sprintf("n%d", i), fmt.Sprintf("z%d", i), 1000, 10_000))
	}
	for i := range 8 {
		v := volume(fmt.Sprintf("v%d", i), 10, 20, "n0", "n1", "n2")
		v.Replicas[0].Load = Load{ReadIOPS: 100}
		m.Volumes = append(m.Volumes, v)
	}
	if p := Propose(m, Config{}); len(p.Moves) != 0 {
		t.Fatalf("moves in an idle cluster: %s", moveNames(p))
	}
}

func TestABalancedClusterStaysPut(t *testing.T) {
	m := Model{}
	for i := range 3 {
		m.Nodes = append(m.Nodes, ssdNode(fmt.Sprintf("n%d", i), fmt.Sprintf("z%d", i), 1000, 10_000))
	}
	for i := range 10 {
		m.Volumes = append(m.Volumes, volume(fmt.Sprintf("v%d", i), 10, 100+float64(i), "n0", "n1", "n2"))
	}
	if p := Propose(m, Config{}); len(p.Moves) != 0 {
		t.Fatalf("moves in a balanced cluster: %s", moveNames(p))
	}
}

// An NVMe disk that bears four times the operations is as busy with four
// times the load: balance is on utilisation, not raw load.
func TestBalanceIsOnUtilisationNotRawLoad(t *testing.T) {
	fast := ssdNode("fast", "z0", 1000, 40_000)
	slow := ssdNode("slow", "z1", 1000, 10_000)
	m := Model{Nodes: []Node{fast, slow}}
	// 4 volumes on slow, 16 on fast, equal load each: equally utilised.
	for i := range 20 {
		n := "fast"
		if i < 4 {
			n = "slow"
		}
		v := volume(fmt.Sprintf("v%02d", i), 1, 1000, n)
		v.Spread = domain.SpreadNode
		m.Volumes = append(m.Volumes, v)
	}
	if p := Propose(m, Config{Weights: Weights{IOPS: 1}}); len(p.Moves) != 0 {
		t.Fatalf("moved with both disks at the same utilisation: %s", moveNames(p))
	}
}

func TestADrainingNodeIsEmptiedWithinTheSpread(t *testing.T) {
	m := Model{}
	for i := range 4 {
		m.Nodes = append(m.Nodes, ssdNode(fmt.Sprintf("n%d", i), fmt.Sprintf("z%d", i%3), 1000, 10_000))
	}
	m.Nodes[0].State = domain.NodeDraining // zone z0, as is n3
	for i := range 5 {
		m.Volumes = append(m.Volumes, volume(fmt.Sprintf("v%d", i), 10, 100, "n0", "n1", "n2"))
	}
	m.Volumes[4].CoolingDown = true // a drain moves it all the same
	p := Propose(m, Config{})
	after := check(t, m, p, Config{})
	if len(p.Stranded) != 0 {
		t.Fatalf("stranded: %+v", p.Stranded)
	}
	for _, v := range after.Volumes {
		for _, r := range v.Replicas {
			if r.NodeID == "n0" {
				t.Errorf("%s still on the draining n0", r.ID)
			}
		}
	}
	for _, mv := range p.Moves {
		if mv.Reason != ReasonDrain || mv.To.NodeID != "n3" {
			t.Errorf("move %+v: want a drain to n3, the only other node in z0", mv)
		}
	}
}

func TestReplicasLostWithADownNodeAreRecreatedOrReportedStranded(t *testing.T) {
	m := Model{}
	for i := range 4 {
		m.Nodes = append(m.Nodes, ssdNode(fmt.Sprintf("n%d", i), fmt.Sprintf("z%d", i), 1000, 10_000))
	}
	m.Nodes[1].State = domain.NodeDown
	m.Volumes = []Volume{volume("whole", 10, 100, "n0", "n1", "n2"), volume("alone", 10, 100, "n1")}
	p := Propose(m, Config{})
	check(t, m, p, Config{})
	if len(p.Moves) != 1 || p.Moves[0].VolumeID != "whole" || p.Moves[0].To.NodeID != "n3" || p.Moves[0].Reason != ReasonNodeDown {
		t.Errorf("moves %s: want whole's lost replica re-created on n3", moveNames(p))
	}
	if len(p.Stranded) != 1 || p.Stranded[0].VolumeID != "alone" || p.Stranded[0].Reason != ReasonNodeDown {
		t.Errorf("stranded %+v: want alone's replica, which has no copy left", p.Stranded)
	}
}

// A node that joins takes its share, and the moves go onto it rather than
// between the nodes that were there.
func TestANewNodeTakesItsShare(t *testing.T) {
	m := Model{}
	for i := range 4 {
		m.Nodes = append(m.Nodes, ssdNode(fmt.Sprintf("n%d", i), fmt.Sprintf("z%d", i), 1000, 10_000))
	}
	// Each old node is 40% busy: loaded enough to share.
	for i := range 40 {
		v := volume(fmt.Sprintf("v%02d", i), 10, 400, "n0")
		v.Replicas = v.Replicas[:1]
		v.Replicas[0].NodeID, v.Replicas[0].DiskID = fmt.Sprintf("n%d", i%4), fmt.Sprintf("n%d-d0", i%4)
		m.Volumes = append(m.Volumes, v)
	}
	m.Nodes = append(m.Nodes, ssdNode("new", "z4", 1000, 10_000))
	p := Propose(m, Config{})
	check(t, m, p, Config{})
	if len(p.Moves) < 6 {
		t.Fatalf("only %d moves onto the new node: %s", len(p.Moves), moveNames(p))
	}
	for _, mv := range p.Moves {
		if mv.To.NodeID != "new" {
			t.Errorf("move %+v between old nodes", mv)
		}
	}
}

func TestAFullDiskShedsBelowTheCeilingAndCoolingVolumesStay(t *testing.T) {
	m := Model{Nodes: []Node{ssdNode("full", "z0", 100, 10_000), ssdNode("free", "z1", 100, 10_000)}}
	for i := range 9 { // 90 GiB of 100 on full
		v := volume(fmt.Sprintf("v%d", i), 10, 0, "full")
		v.Spread = domain.SpreadNode
		v.CoolingDown = i == 0
		m.Volumes = append(m.Volumes, v)
	}
	p := Propose(m, Config{})
	after := check(t, m, p, Config{})
	var onFull uint64
	for _, v := range after.Volumes {
		if v.Replicas[0].NodeID == "full" {
			onFull += v.SizeBytes
		}
	}
	if onFull > 80*gib {
		t.Errorf("full still holds %d GiB, over the 80%% ceiling", onFull/gib)
	}
	for _, mv := range p.Moves {
		if mv.VolumeID == "v0" {
			t.Errorf("v0, cooling down, moved: %+v", mv)
		}
	}
}

// A disk over the ceiling with nowhere to shed to is reported once, by its
// largest replica, not by every replica it holds.
func TestAFullDiskWithNowhereToGoIsReportedOnce(t *testing.T) {
	m := Model{Nodes: []Node{ssdNode("full", "z0", 100, 10_000)}}
	for i, size := range []uint64{10, 30, 20, 10, 15} {
		v := volume(fmt.Sprintf("v%d", i), size, 0, "full")
		v.Spread = domain.SpreadNode
		m.Volumes = append(m.Volumes, v)
	}
	p := Propose(m, Config{})
	if len(p.Moves) != 0 || len(p.Stranded) != 1 || p.Stranded[0].VolumeID != "v1" || p.Stranded[0].Reason != ReasonCapacity {
		t.Fatalf("moves %s, stranded %+v: want v1, the largest, stranded for capacity", moveNames(p), p.Stranded)
	}
}

// A move adds the new replica beside the old one until the cut-over: the
// planner never moves a replica to another disk of its own node.
func TestAReplicaNeverMovesToAnotherDiskOfItsNode(t *testing.T) {
	two := Node{ID: "n0", Zone: "z0", Region: "r1", State: domain.NodeUp, Disks: []Disk{
		{ID: "n0-d0", Tier: domain.TierSSD, CapacityBytes: 1000 * gib, IOPS: 10_000, Bps: 1e9},
		{ID: "n0-d1", Tier: domain.TierSSD, CapacityBytes: 1000 * gib, IOPS: 10_000, Bps: 1e9},
	}}
	m := Model{Nodes: []Node{two, ssdNode("n1", "z1", 1000, 10_000)}}
	for i := range 10 {
		v := volume(fmt.Sprintf("v%d", i), 10, 1000, "n0", "n1")
		m.Volumes = append(m.Volumes, v)
	}
	p := Propose(m, Config{})
	check(t, m, p, Config{})
	for _, mv := range p.Moves {
		if mv.From.NodeID == mv.To.NodeID {
			t.Errorf("move %+v within node %s", mv, mv.From.NodeID)
		}
	}
}

// While a node joins, the old nodes do not trade replicas: an idle old
// disk would take some of a hot one's load, but the joining node takes it.
func TestWhileANodeJoinsMovesGoOnlyOntoIt(t *testing.T) {
	build := func(joining bool) Model {
		m := Model{}
		for i := range 4 {
			m.Nodes = append(m.Nodes, ssdNode(fmt.Sprintf("n%d", i), fmt.Sprintf("z%d", i), 1000, 10_000))
		}
		// n0 is 60% busy, n1 and n2 40%, n3 10%.
		for i, busy := range []int{15, 10, 10, 2} {
			for j := range busy {
				v := volume(fmt.Sprintf("v%d-%02d", i, j), 10, 400, fmt.Sprintf("n%d", i))
				m.Volumes = append(m.Volumes, v)
			}
		}
		n := ssdNode("new", "z4", 1000, 10_000)
		n.Joining = joining
		m.Nodes = append(m.Nodes, n)
		return m
	}
	m := build(false)
	p := Propose(m, Config{})
	check(t, m, p, Config{})
	old := 0
	for _, mv := range p.Moves {
		if mv.To.NodeID != "new" {
			old++
		}
	}
	if old == 0 {
		t.Fatalf("without a joining node no move went to an old node, so this test shows nothing: %s", moveNames(p))
	}

	m = build(true)
	p = Propose(m, Config{})
	check(t, m, p, Config{})
	if len(p.Moves) == 0 {
		t.Fatal("no move onto the joining node")
	}
	for _, mv := range p.Moves {
		if mv.To.NodeID != "new" {
			t.Errorf("move %s of %s to %s while a node joins", mv.ReplicaID, mv.VolumeID, mv.To.NodeID)
		}
	}
}

// The bound counts every byte of a draining node and the bytes over the
// ceiling of a full disk, and nothing for a cluster already in balance.
func TestTheBoundCountsWhatMustLeave(t *testing.T) {
	m := Model{}
	for i := range 4 {
		m.Nodes = append(m.Nodes, ssdNode(fmt.Sprintf("n%d", i), fmt.Sprintf("z%d", i), 1000, 10_000))
	}
	for i := range 4 {
		m.Volumes = append(m.Volumes, volume(fmt.Sprintf("v%d", i), 100, 500, fmt.Sprintf("n%d", i)))
	}
	if p, b := Propose(m, Config{}), Bound(m, Config{}); b != 0 || len(p.Moves) != 0 {
		t.Fatalf("a balanced cluster: bound %d, %d moves", b, len(p.Moves))
	}
	m.Nodes[0].State = domain.NodeDraining
	p := Propose(m, Config{})
	if size, b := m.Volumes[0].SizeBytes, Bound(m, Config{}); b != size || p.BytesToCopy != size {
		t.Fatalf("draining n0 holding %d bytes: bound %d, plan copies %d", size, b, p.BytesToCopy)
	}
}

// A cold disk must be brought up to the band as much as hot ones down to
// it: four disks a little over the band and an empty one need the bytes
// that bring the empty one to 90% of the mean, more than the hot ones must
// shed.
func TestTheBoundCountsWhatMustArrive(t *testing.T) {
	m := Model{}
	for i := range 5 {
		n := ssdNode(fmt.Sprintf("n%d", i), fmt.Sprintf("z%d", i), 1000, 1000)
		m.Nodes = append(m.Nodes, n)
	}
	for i := range 4 {
		for j := range 29 {
			m.Volumes = append(m.Volumes, volume(fmt.Sprintf("v%d-%02d", i, j), 1, 10, fmt.Sprintf("n%d", i)))
		}
	}
	// Mean 232 IOPS a disk: each hot one sheds 34.8 over 255.2 (3.48 GiB),
	// 13.9 GiB in all; the empty one lacks 208.8 below 208.8, at 10 IOPS
	// a GiB 20.9 GiB.
	if b, want := float64(Bound(m, Config{})), 20.88*float64(gib); math.Abs(b-want) > 0.01*want {
		t.Fatalf("bound %.2f GiB, want 20.88", b/float64(gib))
	}
}

// A move says how utilised the disk it leaves is once the plan is done,
// which tells a hot disk the plan relieves from one a single replica keeps
// hot whatever moves: the rebalancer treats only the first as urgent.
func TestMovesSayHowBusyTheDiskTheyLeaveEndsUp(t *testing.T) {
	m := Model{}
	for i, z := range []string{"z1", "z2", "z3", "z4", "z5", "z6"} {
		m.Nodes = append(m.Nodes, ssdNode(fmt.Sprintf("n%d", i), z, 1000, 10_000))
	}
	// n0 carries 9,000 of its 10,000 IOPS in three replicas: the plan
	// relieves it. n1 carries one replica of 9,500 and two small ones:
	// whatever leaves, it stays hot.
	m.Volumes = append(m.Volumes, volume("a", 10, 3000, "n0"), volume("b", 10, 3000, "n0"), volume("c", 10, 3000, "n0"),
		volume("d", 10, 9500, "n1"), volume("e", 10, 300, "n1"), volume("f", 10, 300, "n1"))
	p := Propose(m, Config{})
	check(t, m, p, Config{})
	after := map[string]float64{}
	for _, mv := range p.Moves {
		after[mv.From.NodeID] = mv.SourceAfter
	}
	if u, ok := after["n0"]; !ok || u > 0.5 {
		t.Errorf("n0: moves off it %v, utilisation after %.2f; want it relieved under 0.5", ok, u)
	}
	if u, ok := after["n1"]; ok && u < 0.9 {
		t.Errorf("n1 ends at %.2f after the plan; its one replica alone keeps it at 0.95", u)
	}
}

// A fleet idle on average leaves no disk that a hot replica could join
// inside the band: a hot disk is still relieved, onto disks that end under
// the relief bar and no busier than it is left.
func TestAHotDiskInAnIdleFleetIsRelieved(t *testing.T) {
	m := Model{}
	for i := range 20 {
		m.Nodes = append(m.Nodes, ssdNode(fmt.Sprintf("n%02d", i), fmt.Sprintf("z%d", i%5), 1000, 10_000))
	}
	// n00 is saturated by four replicas of 2,400 IOPS each; the rest of
	// the fleet carries 100 IOPS a disk, so the mean is about 6% and the
	// band's top about 7%: any of n00's replicas would take a target past it.
	for i := range 4 {
		m.Volumes = append(m.Volumes, volume(fmt.Sprintf("hot%d", i), 10, 2400, "n00"))
	}
	for i := 1; i < 20; i++ {
		m.Volumes = append(m.Volumes, volume(fmt.Sprintf("cold%02d", i), 10, 100, fmt.Sprintf("n%02d", i)))
	}
	p := Propose(m, Config{})
	check(t, m, p, Config{})
	left := 0.0
	for _, mv := range p.Moves {
		if mv.From.NodeID == "n00" {
			left = mv.SourceAfter
		}
	}
	if left == 0 || left >= 0.70 {
		t.Fatalf("n00 at 96%% busy: after the plan (%d moves: %s) at %.2f; want it under the relief bar 0.70", len(p.Moves), moveNames(p), left)
	}
	after := Apply(m, p.Moves)
	for _, n := range after.Nodes {
		busy := 0.0
		for _, v := range after.Volumes {
			for _, r := range v.Replicas {
				if r.NodeID == n.ID {
					busy += (r.Load.ReadIOPS + r.Load.WriteIOPS) / 10_000
				}
			}
		}
		if busy > 0.70+1e-9 && n.ID != "n00" {
			t.Errorf("%s ends %.2f busy: a new hotspot", n.ID, busy)
		}
	}
}

// When one replica makes most of a hot disk's load, moving it is the
// relief, though its new disk ends busier than the old one is left.
func TestTheReplicaThatMakesAHotspotMoves(t *testing.T) {
	m := Model{}
	for i := range 20 {
		m.Nodes = append(m.Nodes, ssdNode(fmt.Sprintf("n%02d", i), fmt.Sprintf("z%d", i%5), 1000, 10_000))
	}
	m.Volumes = append(m.Volumes, volume("big", 10, 6000, "n00"))
	for i := range 6 {
		m.Volumes = append(m.Volumes, volume(fmt.Sprintf("small%d", i), 10, 500, "n00"))
	}
	for i := 1; i < 20; i++ {
		m.Volumes = append(m.Volumes, volume(fmt.Sprintf("cold%02d", i), 10, 100, fmt.Sprintf("n%02d", i)))
	}
	p := Propose(m, Config{})
	check(t, m, p, Config{})
	moved := false
	for _, mv := range p.Moves {
		moved = moved || mv.VolumeID == "big"
		if mv.From.NodeID == "n00" && mv.SourceAfter > 0.70 {
			t.Errorf("n00 is left at %.2f: not relieved (%s)", mv.SourceAfter, moveNames(p))
		}
	}
	if !moved {
		t.Fatalf("the replica making 60%% of n00's 90%% stayed: %s", moveNames(p))
	}
}
