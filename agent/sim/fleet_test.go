package sim

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestGenerateFleetIsDeterministic(t *testing.T) {
	for _, seed := range []int64{0, 1, 42, -7} {
		a := GenerateFleet(FleetConfig{Seed: seed, Nodes: 50, Zones: 3, Region: "eu-west"})
		b := GenerateFleet(FleetConfig{Seed: seed, Nodes: 50, Zones: 3, Region: "eu-west"})
		if !reflect.DeepEqual(a, b) {
			t.Errorf("seed %d: two fleets differ", seed)
		}
	}
}

func TestGenerateFleetDiffersBySeed(t *testing.T) {
	base := GenerateFleet(FleetConfig{Seed: 1, Nodes: 12, Zones: 3})
	for _, seed := range []int64{2, 3, 100, -1} {
		if reflect.DeepEqual(base, GenerateFleet(FleetConfig{Seed: seed, Nodes: 12, Zones: 3})) {
			t.Errorf("seeds 1 and %d gave the same fleet", seed)
		}
	}
}

func TestGenerateFleetShape(t *testing.T) {
	capacities := map[Tier]map[uint64]bool{}
	for tier, p := range profiles {
		capacities[tier] = map[uint64]bool{}
		for _, c := range p.capacities {
			capacities[tier][c] = true
		}
	}
	tests := []struct {
		name      string
		cfg       FleetConfig
		firstID   string
		lastID    string
		zones     int
		allTiers  bool // every zone has every tier
		wantEmpty bool
	}{
		{name: "default size", cfg: FleetConfig{Seed: 1, Nodes: 12, Zones: 3}, firstID: "node-001", lastID: "node-012", zones: 3, allTiers: true},
		{name: "uneven zones", cfg: FleetConfig{Seed: 2, Nodes: 10, Zones: 3}, firstID: "node-001", lastID: "node-010", zones: 3, allTiers: true},
		{name: "one node per zone", cfg: FleetConfig{Seed: 3, Nodes: 3, Zones: 3}, firstID: "node-001", lastID: "node-003", zones: 3, allTiers: true},
		{name: "more zones than nodes", cfg: FleetConfig{Seed: 4, Nodes: 2, Zones: 5}, firstID: "node-001", lastID: "node-002", zones: 2, allTiers: true},
		{name: "four digit count", cfg: FleetConfig{Seed: 5, Nodes: 1000, Zones: 4}, firstID: "node-0001", lastID: "node-1000", zones: 4, allTiers: true},
		{name: "default zones", cfg: FleetConfig{Seed: 6, Nodes: 9}, firstID: "node-001", lastID: "node-009", zones: 3, allTiers: true},
		{name: "no nodes", cfg: FleetConfig{Seed: 7}, wantEmpty: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fleet := GenerateFleet(tt.cfg)
			if tt.wantEmpty {
				if len(fleet) != 0 {
					t.Fatalf("got %d nodes, want none", len(fleet))
				}
				return
			}
			if len(fleet) != tt.cfg.Nodes {
				t.Fatalf("got %d nodes, want %d", len(fleet), tt.cfg.Nodes)
			}
			if fleet[0].ID != tt.firstID || fleet[len(fleet)-1].ID != tt.lastID {
				t.Errorf("ids run %s..%s, want %s..%s", fleet[0].ID, fleet[len(fleet)-1].ID, tt.firstID, tt.lastID)
			}
			perZone := map[string]int{}
			tiersPerZone := map[string]map[Tier]bool{}
			ids := map[string]bool{}
			for _, n := range fleet {
				if err := n.Validate(); err != nil {
					t.Errorf("invalid spec: %v", err)
				}
				if ids[n.ID] {
					t.Errorf("duplicate node id %s", n.ID)
				}
				ids[n.ID] = true
				wantRegion := tt.cfg.Region
				if wantRegion == "" {
					wantRegion = DefaultRegion
				}
				if n.Region != wantRegion || n.Labels[LabelRegion] != wantRegion || n.Labels[LabelZone] != n.Zone {
					t.Errorf("%s: region %q zone %q labels %v", n.ID, n.Region, n.Zone, n.Labels)
				}
				perZone[n.Zone]++
				if tiersPerZone[n.Zone] == nil {
					tiersPerZone[n.Zone] = map[Tier]bool{}
				}
				if len(n.Disks) < 2 || len(n.Disks) > 4 {
					t.Errorf("%s has %d disks, want 2 to 4", n.ID, len(n.Disks))
				}
				ssd := false
				for i, d := range n.Disks {
					tiersPerZone[n.Zone][d.Tier] = true
					ssd = ssd || d.Tier == TierSSD
					if !strings.HasPrefix(d.ID, n.ID+"-d") {
						t.Errorf("disk %s not named after node %s", d.ID, n.ID)
					}
					if !capacities[d.Tier][d.CapacityBytes] {
						t.Errorf("disk %s: %s with unexpected capacity %d", d.ID, d.Tier, d.CapacityBytes)
					}
					if n.Labels[LabelTierPrefix+string(d.Tier)] != "true" {
						t.Errorf("%s lacks label for tier %s", n.ID, d.Tier)
					}
					if i > 0 && tierRank(d.Tier) < tierRank(n.Disks[i-1].Tier) {
						t.Errorf("%s: disks not ordered fastest first", n.ID)
					}
				}
				if !ssd {
					t.Errorf("%s has no ssd", n.ID)
				}
			}
			if len(perZone) != tt.zones {
				t.Errorf("nodes in %d zones, want %d", len(perZone), tt.zones)
			}
			lo, hi := len(fleet), 0
			for _, c := range perZone {
				lo, hi = min(lo, c), max(hi, c)
			}
			if hi-lo > 1 {
				t.Errorf("zones unbalanced: %v", perZone)
			}
			if tt.allTiers {
				for zone, tiers := range tiersPerZone {
					if len(tiers) != 3 {
						t.Errorf("zone %s has tiers %v, want all three", zone, tiers)
					}
				}
			}
		})
	}
}

// Every zone of a 12-node, 3-zone fleet has every tier, whatever the seed.
func TestEveryZoneHasEveryTier(t *testing.T) {
	for seed := int64(0); seed < 200; seed++ {
		zones := map[string]map[Tier]bool{}
		for _, n := range GenerateFleet(FleetConfig{Seed: seed, Nodes: 12, Zones: 3}) {
			if zones[n.Zone] == nil {
				zones[n.Zone] = map[Tier]bool{}
			}
			for _, d := range n.Disks {
				zones[n.Zone][d.Tier] = true
			}
		}
		for zone, tiers := range zones {
			if !tiers[TierSSD] || !tiers[TierNVMe] || !tiers[TierHDD] {
				t.Errorf("seed %d: zone %s has tiers %v", seed, zone, tiers)
			}
		}
	}
}

func TestZoneName(t *testing.T) {
	for i, want := range map[int]string{0: "zone-a", 1: "zone-b", 25: "zone-z", 26: "zone-aa", 27: "zone-ab", 51: "zone-az", 52: "zone-ba"} {
		if got := zoneName(i); got != want {
			t.Errorf("zoneName(%d) = %s, want %s", i, got, want)
		}
	}
}

func TestNodeSpecValidate(t *testing.T) {
	good := GenerateFleet(FleetConfig{Seed: 1, Nodes: 1})[0]
	tests := []struct {
		name   string
		change func(*NodeSpec)
		want   string // in the error; empty means valid
	}{
		{name: "generated", change: func(*NodeSpec) {}},
		{name: "no id", change: func(s *NodeSpec) { s.ID = "" }, want: "empty id"},
		{name: "no disks", change: func(s *NodeSpec) { s.Disks = nil }, want: "no disks"},
		{name: "duplicate disk", change: func(s *NodeSpec) { s.Disks[1].ID = s.Disks[0].ID }, want: "duplicate disk"},
		{name: "unknown tier", change: func(s *NodeSpec) { s.Disks[0].Tier = "tape" }, want: `unknown tier "tape"`},
		{name: "zero capacity", change: func(s *NodeSpec) { s.Disks[0].CapacityBytes = 0 }, want: "must be positive"},
		{name: "zero iops", change: func(s *NodeSpec) { s.Disks[0].MaxWriteIOPS = 0 }, want: "must be positive"},
		{name: "zero latency", change: func(s *NodeSpec) { s.Disks[0].BaseLatency = 0 }, want: "latency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := good.clone()
			tt.change(&spec)
			_, err := NewNode(spec, 1)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("NewNode: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewNode error %v, want ErrInvalid mentioning %q", err, tt.want)
			}
		})
	}
}

func TestLatencyAt(t *testing.T) {
	d := DiskSpec{BaseLatency: 100 * time.Microsecond}
	tests := []struct {
		u    float64
		want time.Duration
	}{
		{-1, 100 * time.Microsecond},
		{0, 100 * time.Microsecond},
		{0.5, 200 * time.Microsecond},
		{0.9, time.Millisecond},
		{0.98, 5 * time.Millisecond},
		{3, 5 * time.Millisecond},
	}
	for _, tt := range tests {
		got := d.LatencyAt(tt.u)
		if diff := got - tt.want; diff < -time.Nanosecond || diff > time.Nanosecond {
			t.Errorf("LatencyAt(%v) = %v, want %v", tt.u, got, tt.want)
		}
	}
}
