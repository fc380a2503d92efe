package domain

import (
	"math"
	"testing"
)

func TestHeadroomScore(t *testing.T) {
	for _, tc := range []struct {
		name              string
		limit, used, size uint64
		want              float64
	}{
		{"empty disk, small replica", 100, 0, 10, 0.9},
		{"half full", 100, 50, 10, 0.4},
		{"exactly full after", 100, 90, 10, 0},
		{"overfull", 100, 120, 10, 0},
		{"zero capacity", 0, 0, 10, 0},
		{"no overflow near max", math.MaxUint64, math.MaxUint64 - 5, 10, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := headroomScore(scoreInput{limit: tc.limit, used: tc.used, size: tc.size})
			if math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDomainBalanceScore(t *testing.T) {
	for _, tc := range []struct {
		name string
		load load
		size uint64
		want float64
	}{
		{name: "empty zone", load: load{limit: 1000, used: 0}, size: 100, want: 0.9},
		{name: "busy zone", load: load{limit: 1000, used: 800}, size: 100, want: 0.1},
		{name: "zone without capacity", load: load{}, size: 100, want: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := domainBalanceScore(scoreInput{domain: tc.load, size: tc.size})
			if math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDomainLoads(t *testing.T) {
	c := newCluster(t, nil,
		up("n1", "a", ssd("s", 100), hdd("h", 1000)),
		up("n2", "a", ssd("s", 100)),
		inState(up("n3", "a", ssd("s", 100)), NodeCordoned),
		up("n4", "b", ssd("s", 50)),
	)
	if err := c.Reserve("v", []Placement{{NodeID: "n1", DiskID: "s"}, {NodeID: "n4", DiskID: "s"}}, 10*gib); err != nil {
		t.Fatal(err)
	}
	got := domainLoads(c, TierSSD, SpreadZone)
	zone := func(name string) load { return got[c.zones.index[name]] }
	// The cordoned node and the hdd disk are not capacity an ssd replica
	// can use.
	if want := (load{limit: 200 * gib, used: 10 * gib}); zone("a") != want {
		t.Errorf("zone a = %+v, want %+v", zone("a"), want)
	}
	if want := (load{limit: 50 * gib, used: 10 * gib}); zone("b") != want {
		t.Errorf("zone b = %+v, want %+v", zone("b"), want)
	}
	if r := domainLoads(c, TierSSD, SpreadRegion); len(r) != 1 || r[0].limit != 250*gib {
		t.Errorf("region loads = %+v", r)
	}
	if n := domainLoads(c, TierSSD, SpreadNode); len(n) != 4 || n[2] != (load{}) {
		t.Errorf("node loads = %+v, want the cordoned n3 empty", n)
	}
}

func TestBalanceLevel(t *testing.T) {
	for in, want := range map[SpreadLevel]SpreadLevel{SpreadNode: SpreadZone, SpreadZone: SpreadZone, SpreadRegion: SpreadRegion} {
		if got := balanceLevel(in); got != want {
			t.Errorf("balanceLevel(%v) = %v, want %v", in, got, want)
		}
	}
}
