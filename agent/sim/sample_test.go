package sim

import (
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	"pgregory.net/rapid"
)

var epoch = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

// populate puts perNode replicas on every disk of n in turn.
func populate(t testing.TB, n *Node, perNode int) {
	t.Helper()
	disks := n.Disks()
	for i := range perNode {
		d := disks[i%len(disks)]
		id := fmt.Sprintf("%s-r%d", n.ID(), i)
		if err := n.CreateReplica(id, "vol-"+id, d.ID, 10<<30); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSampleIsDeterministic(t *testing.T) {
	spec := GenerateFleet(FleetConfig{Seed: 3, Nodes: 1})[0]
	a, b := mustNode(t, spec, 3), mustNode(t, spec, 3)
	populate(t, a, 6)
	populate(t, b, 6)
	for _, n := range []*Node{a, b} {
		if err := n.InjectHotspot(spec.ID+"-r1", 4, epoch.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	// a is sampled often, b only at the instants compared: what was
	// sampled before must not matter.
	for i := range 1000 {
		a.Sample(epoch.Add(time.Duration(i) * 7 * time.Second))
	}
	for _, at := range []time.Time{epoch, epoch.Add(30 * time.Minute), epoch.Add(90 * time.Minute), epoch.Add(-48 * time.Hour)} {
		if sa, sb := a.Sample(at), b.Sample(at); !reflect.DeepEqual(sa, sb) {
			t.Errorf("at %v: samples differ:\n%+v\n%+v", at, sa, sb)
		}
	}

	other := mustNode(t, spec, 4)
	populate(t, other, 6)
	if reflect.DeepEqual(a.Sample(epoch).Replicas, other.Sample(epoch).Replicas) {
		t.Error("seeds 3 and 4 gave the same telemetry")
	}
	if reflect.DeepEqual(a.Sample(epoch).Replicas, a.Sample(epoch.Add(time.Minute)).Replicas) {
		t.Error("telemetry does not change over time")
	}
}

func TestSampleAddsUp(t *testing.T) {
	for _, spec := range GenerateFleet(FleetConfig{Seed: 11, Nodes: 20}) {
		n := mustNode(t, spec, 11)
		populate(t, n, 8)
		s := n.Sample(epoch.Add(13 * time.Hour))
		if s.NodeID != spec.ID || !s.At.Equal(epoch.Add(13*time.Hour)) {
			t.Errorf("sample header %s %v", s.NodeID, s.At)
		}
		states := n.Disks()
		for i, d := range s.Disks {
			var r, w, rb, wb float64
			for _, rs := range s.Replicas {
				if rs.DiskID == d.DiskID {
					r, w, rb, wb = r+rs.ReadIOPS, w+rs.WriteIOPS, rb+rs.ReadBps, wb+rs.WriteBps
					if rs.Latency != d.Latency {
						t.Errorf("replica %s latency %v, disk %v", rs.ReplicaID, rs.Latency, d.Latency)
					}
				}
			}
			for _, pair := range [][2]float64{{r, d.ReadIOPS}, {w, d.WriteIOPS}, {rb, d.ReadBps}, {wb, d.WriteBps}} {
				if math.Abs(pair[0]-pair[1]) > 1e-9*math.Max(1, pair[1]) {
					t.Errorf("disk %s: replicas add up to %v, disk says %v", d.DiskID, pair[0], pair[1])
				}
			}
			if d.UsedBytes != states[i].UsedBytes || d.CapacityBytes != states[i].CapacityBytes {
				t.Errorf("disk %s: sample says %d/%d bytes, state %d/%d", d.DiskID, d.UsedBytes, d.CapacityBytes, states[i].UsedBytes, states[i].CapacityBytes)
			}
			if d.Utilization < 0 || d.Utilization > 1 || d.Latency != spec.Disks[i].LatencyAt(d.Demand) {
				t.Errorf("disk %s: utilisation %v demand %v latency %v", d.DiskID, d.Utilization, d.Demand, d.Latency)
			}
		}
	}
}

func TestWorkloadShapes(t *testing.T) {
	const base = 100.0
	steady := Workload{Kind: Steady, ReadIOPS: base, WriteIOPS: base / 2, IOSizeBytes: 4096}
	diurnal := Workload{Kind: Diurnal, ReadIOPS: base, WriteIOPS: base / 2, IOSizeBytes: 4096, Amplitude: 0.5, PeakOffset: 14 * time.Hour}
	tests := []struct {
		name   string
		w      Workload
		at     time.Time
		lo, hi float64 // bounds on read IOPS, noise included
	}{
		{"steady", steady, epoch.Add(5 * time.Hour), base * 0.9, base * 1.1},
		{"diurnal at peak", diurnal, epoch.Add(14 * time.Hour), base * 1.5 * 0.9, base * 1.5 * 1.1},
		{"diurnal at trough", diurnal, epoch.Add(2 * time.Hour), base * 0.5 * 0.9, base * 0.5 * 1.1},
		{"diurnal a day later", diurnal, epoch.Add(38 * time.Hour), base * 1.5 * 0.9, base * 1.5 * 1.1},
		{"diurnal before the epoch", diurnal, time.Unix(-10*3600, 0), base * 1.5 * 0.9, base * 1.5 * 1.1},
		{"always bursting", Workload{Kind: Bursty, ReadIOPS: base, IOSizeBytes: 4096, BurstChance: 1, BurstFactor: 5}, epoch, base * 5 * 0.9, base * 5 * 1.1},
		{"never bursting", Workload{Kind: Bursty, ReadIOPS: base, IOSizeBytes: 4096, BurstChance: 0, BurstFactor: 5}, epoch, base * 0.9, base * 1.1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := mustNode(t, testSpec(), 1)
			if err := n.CreateReplica("r1", "v1", "node-001-d0", 1); err != nil {
				t.Fatal(err)
			}
			if err := n.SetWorkload("r1", tt.w); err != nil {
				t.Fatal(err)
			}
			got := n.Sample(tt.at).Replicas[0]
			if got.ReadIOPS < tt.lo || got.ReadIOPS > tt.hi {
				t.Errorf("read IOPS %v, want %v..%v", got.ReadIOPS, tt.lo, tt.hi)
			}
			if want := got.ReadIOPS * 4096; math.Abs(got.ReadBps-want) > 1e-6*want {
				t.Errorf("read bandwidth %v, want %v", got.ReadBps, want)
			}
		})
	}
}

// Bursty replicas burst in about BurstChance of the minutes, and
// WorkloadFor deals out every kind.
func TestWorkloadMix(t *testing.T) {
	kinds := map[WorkloadKind]int{}
	for i := range 2000 {
		w := WorkloadFor(5, fmt.Sprintf("r%d", i))
		if err := w.Validate(); err != nil {
			t.Fatalf("WorkloadFor gave an invalid workload: %v", err)
		}
		kinds[w.Kind]++
	}
	for _, k := range []WorkloadKind{Steady, Diurnal, Bursty} {
		if kinds[k] < 300 {
			t.Errorf("only %d of 2000 workloads are %s", kinds[k], k)
		}
	}
	w := Workload{Kind: Bursty, BurstChance: 0.1, BurstFactor: 4}
	bursts := 0
	for m := range 10_000 {
		if w.shape(1, 2, epoch.Add(time.Duration(m)*time.Minute).UnixNano()) > 1 {
			bursts++
		}
	}
	if bursts < 800 || bursts > 1200 {
		t.Errorf("%d bursts in 10000 minutes, want about 1000", bursts)
	}
}

// Latency is never below the base and never falls as utilisation rises.
func TestLatencyMonotonicProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d := DiskSpec{BaseLatency: time.Duration(rapid.Int64Range(1, int64(50*time.Millisecond)).Draw(t, "base"))}
		u1 := rapid.Float64Range(-1, 5).Draw(t, "u1")
		u2 := rapid.Float64Range(u1, 5).Draw(t, "u2")
		l1, l2 := d.LatencyAt(u1), d.LatencyAt(u2)
		if l1 < d.BaseLatency || l1 > l2 || l2 > 50*d.BaseLatency+1 {
			t.Fatalf("base %v: latency %v at %v, %v at %v", d.BaseLatency, l1, u1, l2, u2)
		}
	})
}

// For any set of loads on a disk, scaling the load up raises utilisation
// and latency or leaves them be; latency is never below the disk's base.
func TestSampledLatencyGrowsWithLoadProperty(t *testing.T) {
	specs := GenerateFleet(FleetConfig{Seed: 1, Nodes: 12})
	rapid.Check(t, func(t *rapid.T) {
		spec := rapid.SampledFrom(specs).Draw(t, "node")
		disk := rapid.IntRange(0, len(spec.Disks)-1).Draw(t, "disk")
		d := spec.Disks[disk]
		count := rapid.IntRange(1, 5).Draw(t, "replicas")
		loads := make([]Workload, count)
		for i := range loads {
			loads[i] = Workload{
				Kind:        Steady,
				ReadIOPS:    rapid.Float64Range(0, 2*float64(d.MaxReadIOPS)/float64(count)).Draw(t, "read"),
				WriteIOPS:   rapid.Float64Range(0, 2*float64(d.MaxWriteIOPS)/float64(count)).Draw(t, "write"),
				IOSizeBytes: rapid.SampledFrom([]uint64{512, 4096, 65536, 1 << 20}).Draw(t, "size"),
			}
		}
		scale := rapid.Float64Range(1, 10).Draw(t, "scale")
		at := epoch.Add(time.Duration(rapid.Int64Range(0, int64(30*24*time.Hour)).Draw(t, "at")))

		sampleWith := func(k float64) DiskSample {
			n := mustNode(t, spec, 1)
			for i, w := range loads {
				id := fmt.Sprintf("r%d", i)
				w.ReadIOPS *= k
				w.WriteIOPS *= k
				if err := n.CreateReplica(id, "v", d.ID, 1); err != nil {
					t.Fatal(err)
				}
				if err := n.SetWorkload(id, w); err != nil {
					t.Fatal(err)
				}
			}
			return n.Sample(at).Disks[disk]
		}
		lo, hi := sampleWith(1), sampleWith(scale)
		for _, s := range []DiskSample{lo, hi} {
			if s.Latency < d.BaseLatency {
				t.Fatalf("latency %v below base %v", s.Latency, d.BaseLatency)
			}
			if s.Utilization < 0 || s.Utilization > 1 {
				t.Fatalf("utilisation %v outside [0, 1]", s.Utilization)
			}
		}
		if hi.Demand < lo.Demand || hi.Utilization < lo.Utilization || hi.Latency < lo.Latency {
			t.Fatalf("load x%v: demand %v -> %v, utilisation %v -> %v, latency %v -> %v",
				scale, lo.Demand, hi.Demand, lo.Utilization, hi.Utilization, lo.Latency, hi.Latency)
		}
		served := hi.ReadIOPS/float64(d.MaxReadIOPS) + hi.WriteIOPS/float64(d.MaxWriteIOPS)
		if served > 1+1e-9 {
			t.Fatalf("disk serves %v of its IOPS", served)
		}
	})
}

// A hotspot multiplies its replica's load while it lasts and leaves every
// other replica's load alone, except that on a saturated disk the others get
// a smaller share (a noisy neighbour). Once it ends, the node samples as if it never happened.
func TestHotspotProperty(t *testing.T) {
	specs := GenerateFleet(FleetConfig{Seed: 2, Nodes: 12})
	rapid.Check(t, func(t *rapid.T) {
		spec := rapid.SampledFrom(specs).Draw(t, "node")
		seed := rapid.Int64().Draw(t, "seed")
		hot, twin := mustNode(t, spec, seed), mustNode(t, spec, seed)
		count := rapid.IntRange(1, 6).Draw(t, "replicas")
		for i := range count {
			disk := spec.Disks[rapid.IntRange(0, len(spec.Disks)-1).Draw(t, "disk")].ID
			for _, n := range []*Node{hot, twin} {
				if err := n.CreateReplica(fmt.Sprintf("r%d", i), "v", disk, 1<<30); err != nil {
					t.Fatal(err)
				}
			}
		}
		target := fmt.Sprintf("r%d", rapid.IntRange(0, count-1).Draw(t, "target"))
		factor := rapid.Float64Range(1.5, 50).Draw(t, "factor")
		until := epoch.Add(time.Duration(rapid.Int64Range(1, int64(6*time.Hour)).Draw(t, "duration")))
		if err := hot.InjectHotspot(target, factor, until); err != nil {
			t.Fatal(err)
		}
		at := epoch.Add(time.Duration(rapid.Int64Range(-int64(time.Hour), int64(12*time.Hour)).Draw(t, "at")))

		hs, ts := hot.Sample(at), twin.Sample(at)
		if !at.Before(epoch) && !at.Before(until) {
			if !reflect.DeepEqual(hs, ts) {
				t.Fatalf("hotspot still felt at %v, after it ended at %v", at, until)
			}
			return
		}
		// Before epoch, the hotspot is already on (it has no start).
		if !at.Before(until) {
			return
		}
		hotDisk := map[string]DiskSample{}
		for _, d := range hs.Disks {
			hotDisk[d.DiskID] = d
		}
		for i, h := range hs.Replicas {
			tw, d := ts.Replicas[i], hotDisk[h.DiskID]
			switch {
			case h.ReplicaID == target && d.Demand <= 1:
				if !near(h.ReadIOPS, factor*tw.ReadIOPS) || !near(h.WriteIOPS, factor*tw.WriteIOPS) {
					t.Fatalf("hot replica: %v read IOPS, want %v x %v", h.ReadIOPS, factor, tw.ReadIOPS)
				}
			case h.ReplicaID == target:
				if h.ReadIOPS < tw.ReadIOPS*(1-1e-9) {
					t.Fatalf("hot replica on saturated disk: %v read IOPS, %v without hotspot", h.ReadIOPS, tw.ReadIOPS)
				}
			case d.Demand <= 1:
				// Its load is untouched; only the shared disk's latency
				// may rise.
				if h.ReadIOPS != tw.ReadIOPS || h.WriteIOPS != tw.WriteIOPS || h.ReadBps != tw.ReadBps || h.WriteBps != tw.WriteBps || h.Latency < tw.Latency {
					t.Fatalf("replica %s changed by a hotspot on %s: %+v vs %+v", h.ReplicaID, target, h, tw)
				}
			default:
				if h.ReadIOPS > tw.ReadIOPS*(1+1e-9) || h.WriteIOPS > tw.WriteIOPS*(1+1e-9) {
					t.Fatalf("replica %s gained load from a hotspot on %s", h.ReplicaID, target)
				}
			}
		}
	})
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b)) }

// BenchmarkSample1000Nodes samples a 1000-node fleet with four replicas per
// node once per iteration: one scrape of the whole simulated fleet.
func BenchmarkSample1000Nodes(b *testing.B) {
	specs := GenerateFleet(FleetConfig{Seed: 1, Nodes: 1000})
	nodes := make([]*Node, len(specs))
	for i, spec := range specs {
		nodes[i] = mustNode(b, spec, 1)
		populate(b, nodes[i], 4)
	}
	at := epoch
	b.ReportAllocs()
	for b.Loop() {
		at = at.Add(5 * time.Second)
		for _, n := range nodes {
			_ = n.Sample(at)
		}
	}
}
