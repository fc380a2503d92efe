package domain

import (
	"strings"
	"testing"
)

func TestCheckState(t *testing.T) {
	for _, tc := range []struct {
		state NodeState
		kind  RejectKind
	}{
		{NodeUp, rejectNone},
		{NodeCordoned, RejectCordoned},
		{NodeDraining, RejectDraining},
		{NodeDown, RejectDown},
	} {
		n := inState(up("n1", "a"), tc.state)
		f := newFeasibility(nil, &Request{}, nil)
		rej := checkState(f, &n)
		if rej.kind != tc.kind {
			t.Errorf("%v: kind %v, want %v", tc.state, rej.kind, tc.kind)
		}
		if reason := f.reason(&n, rej); !rej.ok() && !strings.Contains(reason, tc.state.String()) {
			t.Errorf("%v: reason %q does not name the state", tc.state, reason)
		}
	}
}

func TestCheckHeld(t *testing.T) {
	n := up("n1", "zone-a")
	for _, tc := range []struct {
		name   string
		spread SpreadLevel
		held   map[string]bool
		reason string // "" means pass
	}{
		{"nothing held", SpreadZone, nil, ""},
		{"other zone held", SpreadZone, map[string]bool{"zone-b": true}, ""},
		{"own zone held", SpreadZone, map[string]bool{"zone-a": true}, "zone zone-a already holds a replica of this volume"},
		{"node spread, other node held", SpreadNode, map[string]bool{"n2": true}, ""},
		{"node spread, own node held", SpreadNode, map[string]bool{"n1": true}, "node already holds a replica of this volume"},
		{"region held", SpreadRegion, map[string]bool{"r1": true}, "region r1 already holds a replica of this volume"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &feasibility{r: &Request{Spread: tc.spread}, heldDomains: tc.held}
			if reason := f.reason(&n, checkHeld(f, &n)); reason != tc.reason {
				t.Errorf("reason %q, want %q", reason, tc.reason)
			}
		})
	}
}

func TestCheckTopology(t *testing.T) {
	for _, tc := range []struct {
		name    string
		allowed []string
		zone    string
		ok      bool
	}{
		{"no restriction", nil, "zone-c", true},
		{"allowed", []string{"zone-a", "zone-c"}, "zone-c", true},
		{"not allowed", []string{"zone-a", "zone-b"}, "zone-c", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Request{AllowedZones: tc.allowed}
			n := up("n1", tc.zone)
			f := newFeasibility(nil, r, nil)
			rej := checkTopology(f, &n)
			if rej.ok() != tc.ok {
				t.Fatalf("ok = %v, want %v (%s)", rej.ok(), tc.ok, f.reason(&n, rej))
			}
			if reason := f.reason(&n, rej); !tc.ok && reason != "zone zone-c is not allowed for this volume (allowed: zone-a, zone-b)" {
				t.Errorf("reason %q", reason)
			}
		})
	}
}

func TestCheckSelector(t *testing.T) {
	for _, tc := range []struct {
		name     string
		selector map[string]string
		labels   []string
		reason   string // "" means pass
	}{
		{"empty selector matches anything", nil, nil, ""},
		{"match", map[string]string{"rack": "r1"}, []string{"rack", "r1", "extra", "x"}, ""},
		{"missing label", map[string]string{"rack": "r1"}, nil, "label rack=r1 required; node has no rack label"},
		{"wrong value", map[string]string{"rack": "r1"}, []string{"rack", "r2"}, "label rack=r1 required; node has rack=r2"},
		{"first missing key by name", map[string]string{"b": "1", "a": "1"}, nil, "label a=1 required; node has no a label"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Request{NodeSelector: tc.selector}
			n := withLabels(up("n1", "a"), tc.labels...)
			f := newFeasibility(nil, r, nil)
			if reason := f.reason(&n, checkSelector(f, &n)); reason != tc.reason {
				t.Errorf("reason %q, want %q", reason, tc.reason)
			}
		})
	}
}

func TestChooseDisk(t *testing.T) {
	withUsed := func(d Disk, usedGiB uint64) Disk { d.UsedBytes = usedGiB * gib; return d }
	for _, tc := range []struct {
		name       string
		overcommit float64
		disks      []Disk
		tier       Tier
		sizeGiB    uint64
		want       string // disk ID, or "" when rejected
		kind       RejectKind
		reason     string
	}{
		{name: "only disk of tier", disks: []Disk{hdd("h", 1000), ssd("s", 100)}, tier: TierSSD, sizeGiB: 10, want: "s"},
		{name: "emptiest disk wins", disks: []Disk{withUsed(ssd("s1", 100), 50), withUsed(ssd("s2", 100), 10)}, tier: TierSSD, sizeGiB: 10, want: "s2"},
		{name: "relative headroom, not absolute", disks: []Disk{withUsed(ssd("big", 1000), 900), ssd("small", 200)}, tier: TierSSD, sizeGiB: 10, want: "small"},
		{name: "tie goes to lowest id", disks: []Disk{ssd("s2", 100), ssd("s1", 100)}, tier: TierSSD, sizeGiB: 10, want: "s1"},
		{name: "exact fit", disks: []Disk{withUsed(ssd("s", 100), 90)}, tier: TierSSD, sizeGiB: 10, want: "s"},
		{name: "no disk of tier", disks: []Disk{hdd("h", 1000)}, tier: TierSSD, sizeGiB: 10, kind: RejectNoTier, reason: "no ssd disk"},
		{name: "no disks at all", tier: TierNVMe, sizeGiB: 1, kind: RejectNoTier, reason: "no nvme disk"},
		{
			name:  "no room names the largest free",
			disks: []Disk{withUsed(ssd("s1", 100), 96), withUsed(ssd("s2", 100), 98), hdd("h", 1000)},
			tier:  TierSSD, sizeGiB: 10, kind: RejectNoRoom,
			reason: "no ssd disk with 10.0 GiB free (largest free 4.0 GiB)",
		},
		{name: "overcommit makes room", overcommit: 2, disks: []Disk{withUsed(ssd("s", 100), 100)}, tier: TierSSD, sizeGiB: 100, want: "s"},
		{name: "under-commit keeps headroom", overcommit: 0.9, disks: []Disk{ssd("s", 100)}, tier: TierSSD, sizeGiB: 91, kind: RejectNoRoom},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []ClusterOption
			if tc.overcommit != 0 {
				opts = append(opts, WithOvercommit(tc.overcommit))
			}
			c := newCluster(t, opts)
			n := up("n1", "a", tc.disks...)
			f := newFeasibility(c, &Request{Tier: tc.tier, SizeBytes: tc.sizeGiB * gib}, nil)
			i, rej := f.chooseDisk(&n)
			if tc.want != "" {
				if !rej.ok() || n.Disks[i].ID != tc.want {
					t.Fatalf("chose %d (%s), want %s", i, f.reason(&n, rej), tc.want)
				}
				return
			}
			if rej.kind != tc.kind || i != -1 {
				t.Fatalf("kind %v (index %d), want %v", rej.kind, i, tc.kind)
			}
			if reason := f.reason(&n, rej); tc.reason != "" && reason != tc.reason {
				t.Errorf("reason %q, want %q", reason, tc.reason)
			}
		})
	}
}

func TestDiskFits(t *testing.T) {
	d := ssd("s", 10)
	for _, tc := range []struct {
		tier       Tier
		free, size uint64
		want       bool
	}{
		{TierSSD, 10, 10, true},
		{TierSSD, 9, 10, false},
		{TierHDD, 100, 10, false},
	} {
		if got := diskFits(&d, tc.tier, tc.free, tc.size); got != tc.want {
			t.Errorf("diskFits(%v, free %d, size %d) = %v", tc.tier, tc.free, tc.size, got)
		}
	}
}
