package balance

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"ballast.dev/services/placement/domain"
)

// skewedFleet is a realistic cluster with a skewed start: nodes with EC2
// host names in 2 regions × 5 zones, 1 to 3 ssds of 3.84 or 7.68 TB each
// rated 60,000 to 120,000 IOPS and 1 to 2 GB/s, and volumes of 3 replicas
// spread over zones, sized log-normally (median 12 GiB), whose load follows
// a Zipf law over random volumes. A fifth of the nodes (older, placed on
// first) hold three times their share of replicas, so the most utilised
// disks run at more than twice the mean. The fleet is 35% busy overall.
func skewedFleet(seed uint64, nodes, volumes int) Model {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	m := Model{Sequence: 1 + rng.Uint64N(1<<40)}
	for i := range nodes {
		zone := i % 10
		n := Node{
			ID:     fmt.Sprintf("ip-10-%d-%d-%d.%s.compute.internal", rng.IntN(256), rng.IntN(256), rng.IntN(256), region(zone)),
			Zone:   fmt.Sprintf("%s%c", region(zone), 'a'+zone%5),
			Region: region(zone),
			State:  domain.NodeUp,
		}
		for d := range 1 + rng.IntN(3) {
			n.Disks = append(n.Disks, Disk{ID: fmt.Sprintf("nvme%dn1", d), Tier: domain.TierSSD,
				CapacityBytes: []uint64{3_840_000_000_000, 7_680_000_000_000}[rng.IntN(2)],
				IOPS:          float64(60_000 + 10_000*rng.IntN(7)), Bps: float64(1_000_000_000 + 250_000_000*rng.IntN(5))})
		}
		m.Nodes = append(m.Nodes, n)
	}
	byZone := make([][]int, 10)
	for i := range m.Nodes {
		byZone[i%10] = append(byZone[i%10], i)
	}
	used := map[Location]uint64{}
	zipf := rand.NewZipf(rand.New(rand.NewPCG(seed+1, seed)), 1.2, 8, 2000)
	// Sizes shrink with the count past 100,000 volumes, so that the fleet
	// is about half full whatever the count.
	scale := min(1, 100_000/float64(max(volumes, 1)))
	for range volumes {
		v := Volume{
			ID:        fmt.Sprintf("pvc-%08x-%04x-%04x", rng.Uint32(), rng.Uint32()&0xffff, rng.Uint32()&0xffff),
			SizeBytes: uint64(scale * (math.Exp(math.Log(12)+0.9*rng.NormFloat64()) + 1) * float64(1<<30)),
			Tier:      domain.TierSSD, Spread: domain.SpreadZone,
		}
		iops := 20 + 5*float64(zipf.Uint64())
		ioSize := float64(int(4096) << rng.IntN(4))
		zones := rng.Perm(10)[:3]
		for k, z := range zones {
			in := byZone[z]
			// The first fifth of each zone's nodes, about three times as
			// often as the rest.
			ni := in[rng.IntN(len(in))]
			if rng.IntN(10) < 4 {
				ni = in[rng.IntN(max(1, len(in)/5))]
			}
			n := m.Nodes[ni]
			d := n.Disks[rng.IntN(len(n.Disks))]
			loc := Location{n.ID, d.ID}
			if used[loc]+v.SizeBytes > d.CapacityBytes*3/4 {
				// Full enough: the least used disk of the zone instead.
				best := loc
				for _, j := range in {
					for _, dd := range m.Nodes[j].Disks {
						l := Location{m.Nodes[j].ID, dd.ID}
						if used[l] < used[best] {
							best = l
						}
					}
				}
				loc = best
			}
			used[loc] += v.SizeBytes
			share := []float64{0.5, 0.3, 0.2}[k] // reads go mostly to the first
			v.Replicas = append(v.Replicas, Replica{ID: fmt.Sprintf("%s-%08x", v.ID, rng.Uint32()), NodeID: loc.NodeID, DiskID: loc.DiskID,
				Load: Load{ReadIOPS: 0.7 * iops * share * 3, WriteIOPS: 0.3 * iops,
					ReadBps: 0.7 * iops * share * 3 * ioSize, WriteBps: 0.3 * iops * ioSize}})
		}
		m.Volumes = append(m.Volumes, v)
	}
	// Scaled so that the fleet as a whole is 35% busy.
	var load, capability float64
	for _, v := range m.Volumes {
		for _, r := range v.Replicas {
			load += r.Load.IOPS()
		}
	}
	for _, n := range m.Nodes {
		for _, d := range n.Disks {
			capability += d.IOPS
		}
	}
	f := 0.35 * capability / load
	for _, v := range m.Volumes {
		for i := range v.Replicas {
			l := &v.Replicas[i].Load
			l.ReadIOPS, l.WriteIOPS, l.ReadBps, l.WriteBps = f*l.ReadIOPS, f*l.WriteIOPS, f*l.ReadBps, f*l.WriteBps
		}
	}
	return m
}

func region(zone int) string { return []string{"eu-west-1", "us-east-2"}[zone/5] }

// utilisation is each up disk's IOPS utilisation and fill, with the
// capacity-weighted IOPS mean.
type utilisation struct {
	iops, fill []float64
	meanIOPS   float64
}

func measure(m Model) utilisation {
	loads := map[Location]Load{}
	used := map[Location]uint64{}
	for _, v := range m.Volumes {
		for _, r := range v.Replicas {
			l := Location{r.NodeID, r.DiskID}
			x := loads[l]
			x.ReadIOPS += r.Load.IOPS()
			loads[l] = x
			used[l] += v.SizeBytes
		}
	}
	var u utilisation
	var load, capability float64
	for _, n := range m.Nodes {
		for _, d := range n.Disks {
			l := Location{n.ID, d.ID}
			u.iops = append(u.iops, loads[l].IOPS()/d.IOPS)
			u.fill = append(u.fill, float64(used[l])/float64(d.CapacityBytes))
			load += loads[l].IOPS()
			capability += d.IOPS
		}
	}
	u.meanIOPS = load / capability
	return u
}

// bytesBound (what must leave, the plan's bound without what must arrive,
// reckoned apart) is the fewest bytes that must leave the disks above the band
// for IOPS or for bytes per second (each sheds its excess over
// (1+band)×mean, its replicas taken in order of load per byte, the last one
// in part: a fractional knapsack, which no set of whole moves beats) or
// above the capacity ceiling (its bytes over the ceiling), the largest of
// the three per disk.
func bytesBound(m Model, band, ceiling float64) float64 {
	type held struct {
		load  [2]float64
		bytes float64
	}
	on := map[Location][]held{}
	for _, v := range m.Volumes {
		for _, r := range v.Replicas {
			l := Location{r.NodeID, r.DiskID}
			on[l] = append(on[l], held{[2]float64{r.Load.IOPS(), r.Load.Bps()}, float64(v.SizeBytes)})
		}
	}
	var total, capability [2]float64
	for _, n := range m.Nodes {
		for _, d := range n.Disks {
			capability[0] += d.IOPS
			capability[1] += d.Bps
			for _, h := range on[Location{n.ID, d.ID}] {
				total[0] += h.load[0]
				total[1] += h.load[1]
			}
		}
	}
	bound := 0.0
	for _, n := range m.Nodes {
		for _, d := range n.Disks {
			hs := on[Location{n.ID, d.ID}]
			used := 0.0
			for _, h := range hs {
				used += h.bytes
			}
			need := used - ceiling*float64(d.CapacityBytes)
			for r, rated := range [2]float64{d.IOPS, d.Bps} {
				load := 0.0
				for _, h := range hs {
					load += h.load[r]
				}
				excess := load - (1+band)*total[r]/capability[r]*rated
				if excess <= 0 {
					continue
				}
				slices.SortFunc(hs, func(a, b held) int { return cmpFloat(b.load[r]/b.bytes, a.load[r]/a.bytes) })
				bytes := 0.0
				for _, h := range hs {
					if excess <= 0 {
						break
					}
					take := min(1, excess/h.load[r])
					bytes += take * h.bytes
					excess -= take * h.load[r]
				}
				need = max(need, bytes)
			}
			bound += max(need, 0)
		}
	}
	return bound
}

func spread(xs []float64) (lo, hi float64) {
	lo, hi = math.Inf(1), 0
	for _, x := range xs {
		lo, hi = min(lo, x), max(hi, x)
	}
	return lo, hi
}

// A skewed fleet loses its hotspots: the most utilised disk ends within
// 25% of the mean (the goal is 10%, not reached yet: the disks coldest in
// IOPS are at the mean in bytes per second and full, and only an exchange
// of replicas would warm them), no disk
// ends over 80% full, nothing is stranded, no constraint breaks, and the
// bytes copied stay within 3 times the bound (the goal is 1.25).
func TestASkewedFleetLosesItsHotspots(t *testing.T) {
	const seed = 20261202
	nodes, volumes := 200, 20_000
	if testing.Short() {
		nodes, volumes = 60, 6_000
	}
	m := skewedFleet(seed, nodes, volumes)
	before := measure(m)
	if _, hi := spread(before.iops); hi/before.meanIOPS < 2 {
		t.Fatalf("seed %d: the fleet starts at max/mean %.2f, want a skew of 2 or more", seed, hi/before.meanIOPS)
	}
	p := Propose(m, Config{})
	after := check(t, m, p, Config{})
	u := measure(after)
	if _, hi := spread(u.iops); hi > 1.25*u.meanIOPS {
		t.Errorf("seed %d: most utilised disk at %.3f after, mean %.3f", seed, hi, u.meanIOPS)
	}
	if _, full := spread(u.fill); full > 0.8 {
		t.Errorf("seed %d: a disk is %.0f%% full after", seed, 100*full)
	}
	bound := Bound(m, Config{})
	if leave := bytesBound(m, 0.1, 0.8); float64(bound) < leave*(1-1e-9)-1 {
		t.Errorf("seed %d: the bound is %d bytes, under the test's own reckoning of what must leave, %.0f", seed, bound, leave)
	}
	if ratio := float64(p.BytesToCopy) / float64(bound); ratio > 3 {
		t.Errorf("seed %d: copies %.2f× the bound", seed, ratio)
	}
	if len(p.Stranded) > 0 {
		t.Errorf("seed %d: %d replicas stranded", seed, len(p.Stranded))
	}
}
