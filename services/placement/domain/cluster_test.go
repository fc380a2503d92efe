package domain

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestNewClusterOvercommit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ratio float64
		ok    bool
	}{
		{"thin provisioning", 1.5, true},
		{"keep headroom", 0.9, true},
		{"zero", 0, false},
		{"negative", -1, false},
		{"NaN", math.NaN(), false},
		{"infinite", math.Inf(1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewCluster(WithOvercommit(tc.ratio))
			if tc.ok != (err == nil) {
				t.Fatalf("NewCluster(%v) error = %v, want ok=%v", tc.ratio, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidRequest) {
				t.Errorf("error %v is not ErrInvalidRequest", err)
			}
			if tc.ok && c.Overcommit() != tc.ratio {
				t.Errorf("Overcommit() = %v", c.Overcommit())
			}
		})
	}
	c := newCluster(t, nil)
	if c.Overcommit() != 1 {
		t.Errorf("default overcommit = %v, want 1", c.Overcommit())
	}
}

func TestUpsertNodeValidation(t *testing.T) {
	for _, tc := range []struct {
		name    string
		node    Node
		problem string // "" means valid
	}{
		{"valid", up("n1", "a", ssd("d1", 10)), ""},
		{"no disks is valid", up("n1", "a"), ""},
		{"empty id", up("", "a"), "empty id"},
		{"empty zone", up("n1", ""), "empty zone"},
		{"empty region", Node{ID: "n1", Zone: "a", State: NodeUp}, "empty region"},
		{"zero state", Node{ID: "n1", Zone: "a", Region: "r"}, "invalid state"},
		{"disk without id", up("n1", "a", ssd("", 1)), "disk with empty id"},
		{"duplicate disk", up("n1", "a", ssd("d1", 1), hdd("d1", 1)), "duplicate disk d1"},
		{"disk without tier", up("n1", "a", Disk{ID: "d1", CapacityBytes: 1}), "invalid tier"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, nil)
			err := c.UpsertNode(tc.node)
			if tc.problem == "" {
				if err != nil {
					t.Fatalf("UpsertNode: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidNode) || !strings.Contains(err.Error(), tc.problem) {
				t.Fatalf("UpsertNode error = %v, want ErrInvalidNode mentioning %q", err, tc.problem)
			}
			if len(c.Nodes()) != 0 {
				t.Error("an invalid node was stored")
			}
		})
	}
}

func TestNodesSortedAndCopied(t *testing.T) {
	c := newCluster(t, nil, up("n3", "a", ssd("d", 1)), up("n1", "b"), up("n2", "c"))
	got := placementIDs(c.Nodes())
	if strings.Join(got, ",") != "n1,n2,n3" {
		t.Fatalf("Nodes() order = %v", got)
	}
	n, _ := c.Node("n3")
	n.Disks[0].CapacityBytes = 0
	n.Labels = map[string]string{"x": "y"}
	again, _ := c.Node("n3")
	if again.Disks[0].CapacityBytes != gib || again.Labels != nil {
		t.Error("mutating a returned node changed the cluster")
	}
	if err := c.RemoveNode("n2"); err != nil {
		t.Fatal(err)
	}
	if got := placementIDs(c.Nodes()); strings.Join(got, ",") != "n1,n3" {
		t.Fatalf("after remove: %v", got)
	}
	if err := c.RemoveNode("n2"); err != nil {
		t.Fatalf("removing twice: %v", err)
	}
}

func placementIDs(ns []Node) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.ID
	}
	return out
}

func TestSetNodeState(t *testing.T) {
	c := newCluster(t, nil, up("n1", "a"))
	if err := c.SetNodeState("n1", NodeCordoned); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.Node("n1"); n.State != NodeCordoned {
		t.Errorf("state = %v", n.State)
	}
	if err := c.SetNodeState("nx", NodeUp); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("unknown node: %v", err)
	}
	if err := c.SetNodeState("n1", NodeStateUnspecified); !errors.Is(err, ErrInvalidNode) {
		t.Errorf("invalid state: %v", err)
	}
}

// An agent registers its node again at every restart, and when a disk is
// added: a cordoned node stays cordoned, a draining one draining.
func TestRegisteringAgainKeepsTheNodesState(t *testing.T) {
	c := newCluster(t, nil, up("n1", "a"))
	if err := c.SetNodeState("n1", NodeDraining); err != nil {
		t.Fatal(err)
	}
	if err := c.UpsertNode(up("n1", "a")); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.Node("n1"); n.State != NodeDraining {
		t.Fatalf("after registering again the node is %v", n.State)
	}
}

func TestReserve(t *testing.T) {
	p := func(node, disk string) Placement { return Placement{NodeID: node, DiskID: disk} }
	for _, tc := range []struct {
		name       string
		overcommit float64
		pre        func(*Cluster) error
		placements []Placement
		size       uint64
		wantErr    error
		wantMsg    string
		wantUsed   map[string]uint64 // node/disk -> used
	}{
		{
			name:       "fits",
			placements: []Placement{p("n1", "d1"), p("n2", "d1")},
			size:       40 * gib,
			wantUsed:   map[string]uint64{"n1/d1": 40 * gib, "n2/d1": 40 * gib, "n1/d2": 0},
		},
		{
			name:       "exactly full",
			placements: []Placement{p("n1", "d1")},
			size:       100 * gib,
			wantUsed:   map[string]uint64{"n1/d1": 100 * gib},
		},
		{
			name:       "one byte too many names the disk",
			placements: []Placement{p("n1", "d1"), p("n2", "d1")},
			size:       100*gib + 1,
			wantErr:    ErrInsufficientCapacity,
			wantMsg:    "disk d1 on node n1 has 100.0 GiB free",
			wantUsed:   map[string]uint64{"n1/d1": 0, "n2/d1": 0},
		},
		{
			name:       "overcommit lets a disk promise more than it has",
			overcommit: 1.5,
			placements: []Placement{p("n1", "d1")},
			size:       150 * gib,
			wantUsed:   map[string]uint64{"n1/d1": 150 * gib},
		},
		{
			name:       "overcommit is still a limit",
			overcommit: 1.5,
			placements: []Placement{p("n1", "d1")},
			size:       151 * gib,
			wantErr:    ErrInsufficientCapacity,
		},
		{
			name:       "reserving again replaces instead of adding",
			pre:        func(c *Cluster) error { return c.Reserve("v", []Placement{p("n1", "d1"), p("n2", "d1")}, 60*gib) },
			placements: []Placement{p("n1", "d1"), p("n2", "d1")},
			size:       60 * gib,
			wantUsed:   map[string]uint64{"n1/d1": 60 * gib, "n2/d1": 60 * gib},
		},
		{
			name:       "reserving again elsewhere moves the bytes",
			pre:        func(c *Cluster) error { return c.Reserve("v", []Placement{p("n1", "d1")}, 60*gib) },
			placements: []Placement{p("n1", "d2")},
			size:       60 * gib,
			wantUsed:   map[string]uint64{"n1/d1": 0, "n1/d2": 60 * gib},
		},
		{
			name:       "unknown node",
			placements: []Placement{p("nx", "d1")},
			size:       gib,
			wantErr:    ErrUnknownNode,
		},
		{
			name:       "unknown disk",
			placements: []Placement{p("n1", "dx")},
			size:       gib,
			wantErr:    ErrUnknownDisk,
		},
		{
			name:       "same disk twice",
			placements: []Placement{p("n1", "d1"), p("n1", "d1")},
			size:       gib,
			wantErr:    ErrInvalidRequest,
		},
		{name: "zero size", placements: []Placement{p("n1", "d1")}, wantErr: ErrInvalidRequest},
		{name: "no placements", size: gib, wantErr: ErrInvalidRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []ClusterOption
			if tc.overcommit != 0 {
				opts = append(opts, WithOvercommit(tc.overcommit))
			}
			c := newCluster(t, opts, up("n1", "a", ssd("d1", 100), ssd("d2", 100)), up("n2", "b", ssd("d1", 100)))
			if tc.pre != nil {
				if err := tc.pre(c); err != nil {
					t.Fatalf("setup: %v", err)
				}
			}
			err := c.Reserve("v", tc.placements, tc.size)
			if tc.wantErr == nil && err != nil {
				t.Fatalf("Reserve: %v", err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("Reserve error = %v, want %v", err, tc.wantErr)
			}
			if tc.wantMsg != "" && !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not say %q", err, tc.wantMsg)
			}
			for key, want := range tc.wantUsed {
				node, disk, _ := strings.Cut(key, "/")
				if got := used(t, c, node, disk); got != want {
					t.Errorf("used %s = %s, want %s", key, formatBytes(got), formatBytes(want))
				}
			}
		})
	}
}

func TestReserveRecordsZoneAndReservation(t *testing.T) {
	c := newCluster(t, nil, up("n1", "zone-a", ssd("d1", 100)))
	if err := c.Reserve("v", []Placement{{NodeID: "n1", DiskID: "d1"}}, gib); err != nil {
		t.Fatal(err)
	}
	r, ok := c.Reservation("v")
	if !ok || r.SizeBytes != gib || len(r.Placements) != 1 || r.Placements[0].Zone != "zone-a" {
		t.Fatalf("Reservation = %+v, %v", r, ok)
	}
	if free, _ := c.FreeBytes("n1", "d1"); free != 99*gib {
		t.Errorf("FreeBytes = %s", formatBytes(free))
	}
}

func TestReleaseIsExactAndIdempotent(t *testing.T) {
	c := newCluster(t, nil, up("n1", "a", ssd("d1", 100)), up("n2", "b", ssd("d1", 100)))
	both := []Placement{{NodeID: "n1", DiskID: "d1"}, {NodeID: "n2", DiskID: "d1"}}
	if err := c.Reserve("keep", both[:1], 7*gib); err != nil {
		t.Fatal(err)
	}
	if err := c.Reserve("v", both, 10*gib); err != nil {
		t.Fatal(err)
	}
	c.Release("v")
	c.Release("v")
	c.Release("never-reserved")
	if got := used(t, c, "n1", "d1"); got != 7*gib {
		t.Errorf("n1/d1 used = %s, want 7.0 GiB", formatBytes(got))
	}
	if got := used(t, c, "n2", "d1"); got != 0 {
		t.Errorf("n2/d1 used = %s, want 0", formatBytes(got))
	}
	if _, ok := c.Reservation("v"); ok {
		t.Error("released volume still has a reservation")
	}
}

func TestResize(t *testing.T) {
	c := newCluster(t, nil, up("n1", "a", ssd("d1", 100)), up("n2", "b", ssd("d2", 30)))
	both := []Placement{{NodeID: "n1", DiskID: "d1"}, {NodeID: "n2", DiskID: "d2"}}
	if err := c.Reserve("v", both, 10*gib); err != nil {
		t.Fatal(err)
	}

	if err := c.Resize("v", 25*gib); err != nil {
		t.Fatalf("grow within room: %v", err)
	}
	if used(t, c, "n1", "d1") != 25*gib || used(t, c, "n2", "d2") != 25*gib {
		t.Fatal("grow did not move both disks to the new size")
	}

	err := c.Resize("v", 40*gib)
	if !errors.Is(err, ErrInsufficientCapacity) {
		t.Fatalf("grow past room: %v", err)
	}
	want := "resize v from 25.0 GiB to 40.0 GiB: disk d2 on node n2 has 5.0 GiB free, needs 15.0 GiB more"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error = %q\nwant it to contain %q", err, want)
	}
	if strings.Contains(err.Error(), "node n1") {
		t.Errorf("error blames a disk with room: %q", err)
	}
	if used(t, c, "n1", "d1") != 25*gib {
		t.Error("a refused resize changed a disk")
	}

	if err := c.Resize("v", 5*gib); err != nil {
		t.Fatalf("shrink: %v", err)
	}
	if used(t, c, "n2", "d2") != 5*gib {
		t.Error("shrink did not free bytes")
	}
	if err := c.Resize("nope", gib); !errors.Is(err, ErrUnknownVolume) {
		t.Errorf("unknown volume: %v", err)
	}
	if err := c.Resize("v", 0); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("zero size: %v", err)
	}
}

// A disk that shrank below what it holds must not block replaying the
// reservation it already has: only growth is checked.
func TestReserveAgainOnShrunkDisk(t *testing.T) {
	c := newCluster(t, nil, up("n1", "a", ssd("d1", 100)))
	pl := []Placement{{NodeID: "n1", DiskID: "d1"}}
	if err := c.Reserve("v", pl, 80*gib); err != nil {
		t.Fatal(err)
	}
	if err := c.UpsertNode(up("n1", "a", ssd("d1", 50))); err != nil {
		t.Fatal(err)
	}
	if err := c.Reserve("v", pl, 80*gib); err != nil {
		t.Fatalf("re-reserving what is held: %v", err)
	}
	if free, _ := c.FreeBytes("n1", "d1"); free != 0 {
		t.Errorf("free on an overfull disk = %d, want 0", free)
	}
}

func TestUpsertNodeKeepsReservations(t *testing.T) {
	c := newCluster(t, nil, up("n1", "a", ssd("d1", 100), ssd("d2", 100)))
	if err := c.Reserve("v", []Placement{{NodeID: "n1", DiskID: "d1"}}, 10*gib); err != nil {
		t.Fatal(err)
	}
	// Read, edit, write back: UsedBytes in the input must not double count.
	n, _ := c.Node("n1")
	n.Labels = map[string]string{"rack": "r1"}
	if err := c.UpsertNode(n); err != nil {
		t.Fatal(err)
	}
	if got := used(t, c, "n1", "d1"); got != 10*gib {
		t.Fatalf("used after upsert = %s, want 10.0 GiB", formatBytes(got))
	}

	// Dropping the empty disk is fine; dropping the held one is not.
	if err := c.UpsertNode(up("n1", "a", ssd("d1", 100))); err != nil {
		t.Fatalf("drop empty disk: %v", err)
	}
	err := c.UpsertNode(up("n1", "a"))
	if !errors.Is(err, ErrHoldsReplicas) || !strings.Contains(err.Error(), "disk d1") || !strings.Contains(err.Error(), "of v") {
		t.Fatalf("drop held disk: %v", err)
	}
	if err := c.RemoveNode("n1"); !errors.Is(err, ErrHoldsReplicas) {
		t.Fatalf("remove held node: %v", err)
	}
	c.Release("v")
	if err := c.RemoveNode("n1"); err != nil {
		t.Fatalf("remove after release: %v", err)
	}
}
