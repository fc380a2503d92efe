package domain

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// Property tests: for random clusters and requests, every decision keeps the
// hard constraints, Place fails exactly when too few failure domains have a
// qualifying node, and reservations account bytes exactly. On failure rapid
// prints the seed to replay with -rapid.seed.

var (
	propZones   = []string{"z1", "z2", "z3", "z4"}
	propTiers   = []Tier{TierNVMe, TierSSD, TierHDD}
	propStates  = []NodeState{NodeUp, NodeUp, NodeUp, NodeUp, NodeUp, NodeCordoned, NodeDraining, NodeDown}
	propSpreads = []SpreadLevel{SpreadNode, SpreadZone, SpreadRegion}
)

type world struct {
	c     *Cluster
	ratio float64
}

func drawWorld(t *rapid.T) world {
	ratio := rapid.SampledFrom([]float64{0.8, 1, 1.5}).Draw(t, "overcommit")
	c, err := NewCluster(WithOvercommit(ratio))
	if err != nil {
		t.Fatal(err)
	}
	nNodes := rapid.IntRange(0, 16).Draw(t, "nodes")
	for i := range nNodes {
		zi := rapid.IntRange(0, len(propZones)-1).Draw(t, "zone")
		n := Node{
			ID:     fmt.Sprintf("n%02d", i),
			Zone:   propZones[zi],
			Region: []string{"r1", "r2"}[zi/2],
			State:  rapid.SampledFrom(propStates).Draw(t, "state"),
		}
		if rapid.Bool().Draw(t, "labelled") {
			n.Labels = map[string]string{"media": rapid.SampledFrom([]string{"fast", "slow"}).Draw(t, "media")}
		}
		for j := range rapid.IntRange(0, 4).Draw(t, "disks") {
			n.Disks = append(n.Disks, Disk{
				ID:            fmt.Sprintf("d%d", j),
				Tier:          rapid.SampledFrom(propTiers).Draw(t, "tier"),
				CapacityBytes: rapid.Uint64Range(1, 200).Draw(t, "capGiB") * gib,
			})
		}
		if err := c.UpsertNode(n); err != nil {
			t.Fatal(err)
		}
	}
	// Pre-existing volumes, so that disks are partly full. Reserve refuses
	// what does not fit, which is fine: the refusal changes nothing.
	nodes := c.Nodes()
	for v := range rapid.IntRange(0, 10).Draw(t, "volumes") {
		if len(nodes) == 0 {
			break
		}
		n := rapid.SampledFrom(nodes).Draw(t, "fill node")
		if len(n.Disks) == 0 {
			continue
		}
		d := rapid.SampledFrom(n.Disks).Draw(t, "fill disk")
		size := rapid.Uint64Range(1, 150).Draw(t, "fill GiB") * gib
		_ = c.Reserve(fmt.Sprintf("pre%d", v), []Placement{{NodeID: n.ID, DiskID: d.ID}}, size)
	}
	return world{c: c, ratio: ratio}
}

func drawRequest(t *rapid.T) Request {
	r := Request{
		VolumeID:  "vol",
		SizeBytes: rapid.Uint64Range(1, 60).Draw(t, "sizeGiB") * gib,
		Replicas:  rapid.IntRange(1, 3).Draw(t, "replicas"),
		Tier:      rapid.SampledFrom(propTiers).Draw(t, "req tier"),
		Spread:    rapid.SampledFrom(propSpreads).Draw(t, "spread"),
	}
	// Selector and topology one time in four, so that most requests are
	// placeable and the success path is exercised as much as the failure.
	if rapid.IntRange(0, 3).Draw(t, "select") == 0 {
		r.NodeSelector = map[string]string{"media": "fast"}
	}
	if rapid.IntRange(0, 3).Draw(t, "topology") == 0 {
		r.AllowedZones = []string{"z1", "z2", "z4"}
	}
	return r
}

// limitOf is the reservable bytes of a disk, computed independently of the
// cluster's code path for ratio 1.
func limitOf(capacity uint64, ratio float64) uint64 {
	if ratio == 1 {
		return capacity
	}
	return uint64(math.Floor(float64(capacity) * ratio))
}

func freeOf(d Disk, ratio float64) uint64 {
	l := limitOf(d.CapacityBytes, ratio)
	if d.UsedBytes >= l {
		return 0
	}
	return l - d.UsedBytes
}

// qualifies is the hard-constraint oracle, written from the rules rather
// than from the pipeline.
func qualifies(n Node, r Request, ratio float64) bool {
	if n.State != NodeUp {
		return false
	}
	if len(r.AllowedZones) > 0 && !slices.Contains(r.AllowedZones, n.Zone) {
		return false
	}
	for k, v := range r.NodeSelector {
		if n.Labels[k] != v {
			return false
		}
	}
	for _, d := range n.Disks {
		if d.Tier == r.Tier && freeOf(d, ratio) >= r.SizeBytes {
			return true
		}
	}
	return false
}

func domainOf(n Node, s SpreadLevel) string {
	switch s {
	case SpreadZone:
		return n.Zone
	case SpreadRegion:
		return n.Region
	}
	return n.ID
}

func TestPropertyPlacementKeepsHardConstraints(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := drawWorld(t)
		r := drawRequest(t)
		before := w.c.Nodes()
		byID := map[string]Node{}
		domains := map[string]bool{}
		for _, n := range before {
			byID[n.ID] = n
			if qualifies(n, r, w.ratio) {
				domains[domainOf(n, r.Spread)] = true
			}
		}

		d, err := Place(w.c, r, WithCandidates())
		if !reflect.DeepEqual(before, w.c.Nodes()) {
			t.Fatal("Place mutated the cluster")
		}
		if again, err2 := Place(w.c, r, WithCandidates()); !reflect.DeepEqual(d, again) || fmt.Sprint(err) != fmt.Sprint(err2) {
			t.Fatal("Place is not deterministic")
		}
		if len(d.Candidates) != len(before) {
			t.Fatalf("%d candidates for %d nodes", len(d.Candidates), len(before))
		}
		for _, c := range d.Candidates {
			if c.Feasible == (c.Reason != "") {
				t.Fatalf("candidate %s: feasible=%v with reason %q", c.NodeID, c.Feasible, c.Reason)
			}
			if c.Feasible != qualifies(byID[c.NodeID], r, w.ratio) {
				t.Fatalf("candidate %s feasible=%v disagrees with the oracle (%q)", c.NodeID, c.Feasible, c.Reason)
			}
		}

		// Place fails exactly when too few failure domains qualify.
		if len(domains) < r.Replicas {
			if !errors.Is(err, ErrInsufficientCapacity) {
				t.Fatalf("only %d domains qualify for %d replicas, yet err = %v", len(domains), r.Replicas, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("%d domains qualify for %d replicas, yet: %v", len(domains), r.Replicas, err)
		}
		if len(d.Placements) != r.Replicas {
			t.Fatalf("%d placements for %d replicas", len(d.Placements), r.Replicas)
		}
		seen := map[string]bool{}
		chosen := 0
		for _, c := range d.Candidates {
			if c.Chosen {
				chosen++
			}
		}
		if chosen != r.Replicas {
			t.Fatalf("%d candidates marked chosen", chosen)
		}
		for _, p := range d.Placements {
			n := byID[p.NodeID]
			dom := domainOf(n, r.Spread)
			if seen[dom] {
				t.Fatalf("two replicas in %s %s", r.Spread, dom)
			}
			seen[dom] = true
			if !qualifies(n, r, w.ratio) {
				t.Fatalf("placed on unqualified node %+v", n)
			}
			i := slices.IndexFunc(n.Disks, func(d Disk) bool { return d.ID == p.DiskID })
			if i < 0 || n.Disks[i].Tier != r.Tier || freeOf(n.Disks[i], w.ratio) < r.SizeBytes {
				t.Fatalf("placed on disk %s of %s without the tier or room", p.DiskID, p.NodeID)
			}
			if p.Zone != n.Zone {
				t.Fatalf("placement zone %s, node zone %s", p.Zone, n.Zone)
			}
		}

		if err := w.c.Reserve(r.VolumeID, d.Placements, r.SizeBytes); err != nil {
			t.Fatalf("Reserve of a fresh decision: %v", err)
		}
		for _, n := range w.c.Nodes() {
			for _, disk := range n.Disks {
				if disk.UsedBytes > limitOf(disk.CapacityBytes, w.ratio) {
					t.Fatalf("disk %s/%s holds %d of %d reservable", n.ID, disk.ID, disk.UsedBytes, limitOf(disk.CapacityBytes, w.ratio))
				}
			}
		}
		// Reserving again does not double count.
		afterOnce := w.c.Nodes()
		if err := w.c.Reserve(r.VolumeID, d.Placements, r.SizeBytes); err != nil {
			t.Fatalf("Reserve again: %v", err)
		}
		if !reflect.DeepEqual(afterOnce, w.c.Nodes()) {
			t.Fatal("reserving twice counted twice")
		}
		w.c.Release(r.VolumeID)
		if !reflect.DeepEqual(before, w.c.Nodes()) {
			t.Fatal("Reserve then Release did not restore the used bytes")
		}
	})
}

func TestPropertyResizeIsExact(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := drawWorld(t)
		r := drawRequest(t)
		// Easy requests, so that most runs get to the resize.
		r.Replicas, r.Spread, r.NodeSelector, r.AllowedZones = 1, SpreadNode, nil, nil
		d, err := Place(w.c, r)
		if err != nil {
			return
		}
		if err := w.c.Reserve(r.VolumeID, d.Placements, r.SizeBytes); err != nil {
			t.Fatal(err)
		}
		before := w.c.Nodes()
		newSize := rapid.Uint64Range(1, 200).Draw(t, "new GiB") * gib
		err = w.c.Resize(r.VolumeID, newSize)
		after := w.c.Nodes()
		if err != nil {
			if !errors.Is(err, ErrInsufficientCapacity) {
				t.Fatalf("Resize: %v", err)
			}
			if !reflect.DeepEqual(before, after) {
				t.Fatal("a refused resize changed the cluster")
			}
			return
		}
		held := map[string]bool{}
		for _, p := range d.Placements {
			held[p.NodeID+"/"+p.DiskID] = true
		}
		for i, n := range after {
			for j, disk := range n.Disks {
				old := before[i].Disks[j].UsedBytes
				want := old
				if held[n.ID+"/"+disk.ID] {
					want = old - r.SizeBytes + newSize
					if newSize > r.SizeBytes && disk.UsedBytes > limitOf(disk.CapacityBytes, w.ratio) {
						t.Fatalf("grown past the limit on %s/%s", n.ID, disk.ID)
					}
				}
				if disk.UsedBytes != want {
					t.Fatalf("%s/%s used %d, want %d", n.ID, disk.ID, disk.UsedBytes, want)
				}
			}
		}
	})
}
