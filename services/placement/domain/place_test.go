package domain

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func ssdReq(id string, replicas int, spread SpreadLevel, sizeGiB uint64) Request {
	return Request{VolumeID: id, SizeBytes: sizeGiB * gib, Replicas: replicas, Tier: TierSSD, Spread: spread}
}

func mustPlace(t *testing.T, c *Cluster, r Request, opts ...PlaceOption) Decision {
	t.Helper()
	d, err := Place(c, r, opts...)
	if err != nil {
		t.Fatalf("Place(%s): %v", r.VolumeID, err)
	}
	return d
}

func zonesOf(ps []Placement) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Zone
	}
	slices.Sort(out)
	return out
}

func TestPlaceSpreadsAcrossZones(t *testing.T) {
	c := newCluster(t, nil,
		up("a1", "zone-a", ssd("s", 100)), up("a2", "zone-a", ssd("s", 100)),
		up("b1", "zone-b", ssd("s", 100)), up("b2", "zone-b", ssd("s", 100)),
		up("c1", "zone-c", ssd("s", 100)), up("c2", "zone-c", ssd("s", 100)),
	)
	// Fill a1 and b2 a little so that the best node differs per zone.
	if err := c.Reserve("old", []Placement{{NodeID: "a1", DiskID: "s"}, {NodeID: "b2", DiskID: "s"}}, 20*gib); err != nil {
		t.Fatal(err)
	}
	d := mustPlace(t, c, ssdReq("v", 3, SpreadZone, 10))
	if got := zonesOf(d.Placements); !slices.Equal(got, []string{"zone-a", "zone-b", "zone-c"}) {
		t.Fatalf("zones %v, want one per zone", got)
	}
	nodes := placementNodes(d.Placements)
	slices.Sort(nodes)
	if !slices.Equal(nodes, []string{"a2", "b1", "c1"}) {
		t.Errorf("nodes %v, want the emptiest node of each zone (a2, b1, c1)", nodes)
	}
}

func TestPlaceNodeSpreadAllowsSharedZone(t *testing.T) {
	c := newCluster(t, nil,
		up("n1", "zone-a", ssd("s", 100)), up("n2", "zone-a", ssd("s", 100)),
		up("n3", "zone-b", ssd("s", 100)),
	)
	d := mustPlace(t, c, ssdReq("v", 3, SpreadNode, 10))
	if got := placementNodes(d.Placements); len(got) != 3 {
		t.Fatalf("placed %v", got)
	}
	// With zone spread the same cluster has only two domains.
	_, err := Place(c, ssdReq("v", 3, SpreadZone, 10))
	if !errors.Is(err, ErrInsufficientCapacity) {
		t.Fatalf("zone spread over two zones: %v", err)
	}
	// Two replicas with node spread still land in distinct zones when
	// they can, even though zone-a has the better-scored node.
	if err := c.Reserve("busy", []Placement{{NodeID: "n3", DiskID: "s"}}, 30*gib); err != nil {
		t.Fatal(err)
	}
	d = mustPlace(t, c, ssdReq("v2", 2, SpreadNode, 10))
	if got := zonesOf(d.Placements); !slices.Equal(got, []string{"zone-a", "zone-b"}) {
		t.Errorf("zones %v, want a and b", got)
	}
}

func TestPlaceRespectsCapacityAndOvercommit(t *testing.T) {
	nodes := func() []Node {
		return []Node{up("n1", "a", ssd("s", 100)), up("n2", "b", ssd("s", 100)), up("n3", "c", ssd("s", 100))}
	}
	fill := func(c *Cluster) {
		for _, n := range []string{"n1", "n2", "n3"} {
			if err := c.Reserve("fill-"+n, []Placement{{NodeID: n, DiskID: "s"}}, 95*gib); err != nil {
				t.Fatal(err)
			}
		}
	}
	strict := newCluster(t, nil, nodes()...)
	fill(strict)
	_, err := Place(strict, ssdReq("v", 3, SpreadZone, 10))
	if !errors.Is(err, ErrInsufficientCapacity) {
		t.Fatalf("without overcommit: %v", err)
	}

	thin := newCluster(t, []ClusterOption{WithOvercommit(1.5)}, nodes()...)
	fill(thin)
	d := mustPlace(t, thin, ssdReq("v", 3, SpreadZone, 10))
	if err := thin.Reserve(d.VolumeID, d.Placements, 10*gib); err != nil {
		t.Fatalf("Reserve of a fresh decision: %v", err)
	}
	// 150 GiB reservable, 105 GiB held: a 50 GiB volume no longer fits.
	if _, err := Place(thin, ssdReq("big", 1, SpreadZone, 50)); !errors.Is(err, ErrInsufficientCapacity) {
		t.Fatalf("past the overcommit limit: %v", err)
	}
}

func TestPlaceNeverChoosesUnschedulableNodes(t *testing.T) {
	c := newCluster(t, nil,
		// The unschedulable nodes have the emptiest disks, so only the
		// state check can keep them out.
		inState(up("cordoned", "zone-a", ssd("s", 1000)), NodeCordoned),
		inState(up("draining", "zone-b", ssd("s", 1000)), NodeDraining),
		inState(up("down", "zone-c", ssd("s", 1000)), NodeDown),
		up("a", "zone-a", ssd("s", 100)),
		up("b", "zone-b", ssd("s", 100)),
		up("c", "zone-c", ssd("s", 100)),
	)
	d := mustPlace(t, c, ssdReq("v", 3, SpreadZone, 10), WithCandidates())
	nodes := placementNodes(d.Placements)
	slices.Sort(nodes)
	if !slices.Equal(nodes, []string{"a", "b", "c"}) {
		t.Fatalf("placed on %v", nodes)
	}
	reasons := map[string]string{}
	for _, cand := range d.Candidates {
		reasons[cand.NodeID] = cand.Reason
	}
	for node, want := range map[string]string{"cordoned": "node is cordoned", "draining": "node is draining", "down": "node is down"} {
		if reasons[node] != want {
			t.Errorf("%s reason %q, want %q", node, reasons[node], want)
		}
	}
}

func TestPlaceRespectsTier(t *testing.T) {
	c := newCluster(t, nil,
		up("n1", "a", hdd("h", 10000), nvme("n", 100)),
		up("n2", "b", hdd("h", 10000), ssd("s", 100)),
		up("n3", "c", ssd("s", 100)),
	)
	for _, tc := range []struct {
		tier  Tier
		nodes []string
		disk  string
	}{
		{TierHDD, []string{"n1", "n2"}, "h"},
		{TierNVMe, []string{"n1"}, "n"},
		{TierSSD, []string{"n2", "n3"}, "s"},
	} {
		r := Request{VolumeID: "v", SizeBytes: gib, Replicas: len(tc.nodes), Tier: tc.tier, Spread: SpreadZone}
		d := mustPlace(t, c, r)
		got := placementNodes(d.Placements)
		slices.Sort(got)
		if !slices.Equal(got, tc.nodes) {
			t.Errorf("%v: nodes %v, want %v", tc.tier, got, tc.nodes)
		}
		for _, p := range d.Placements {
			if p.DiskID != tc.disk {
				t.Errorf("%v: disk %s on %s", tc.tier, p.DiskID, p.NodeID)
			}
		}
		r.Replicas++
		if _, err := Place(c, r); !errors.Is(err, ErrInsufficientCapacity) {
			t.Errorf("%v with one replica too many: %v", tc.tier, err)
		}
	}
}

func TestPlaceSelectorAndTopology(t *testing.T) {
	c := newCluster(t, nil,
		withLabels(up("n1", "a", ssd("s", 100)), "media", "fast"),
		withLabels(up("n2", "b", ssd("s", 1000)), "media", "slow"),
		withLabels(up("n3", "c", ssd("s", 100)), "media", "fast"),
		up("n4", "d", ssd("s", 1000)),
	)
	r := ssdReq("v", 2, SpreadZone, 10)
	r.NodeSelector = map[string]string{"media": "fast"}
	d := mustPlace(t, c, r)
	if got := placementNodes(d.Placements); !slices.Contains(got, "n1") || !slices.Contains(got, "n3") {
		t.Errorf("selector: placed on %v", got)
	}
	r = ssdReq("v", 1, SpreadZone, 10)
	r.AllowedZones = []string{"a"}
	d = mustPlace(t, c, r)
	if got := placementNodes(d.Placements); !slices.Equal(got, []string{"n1"}) {
		t.Errorf("topology: placed on %v", got)
	}
}

func TestPlaceErrorNamesTheShortage(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nodes []Node
		fill  map[string]uint64 // node -> GiB reserved on its disk "s"/"h"
		req   Request
		opts  []PlaceOption
		want  string
	}{
		{
			name: "zone short because of cordoned nodes",
			nodes: []Node{
				up("a1", "zone-a", ssd("s", 100)), up("b1", "zone-b", ssd("s", 100)),
				inState(up("c1", "zone-c", ssd("s", 100)), NodeCordoned),
				inState(up("c2", "zone-c", ssd("s", 100)), NodeCordoned),
			},
			req:  ssdReq("vol-1", 3, SpreadZone, 10),
			want: "place vol-1: need 3 zones with an up node that has an ssd disk with 10.0 GiB free; only 2 qualify (zone-a, zone-b); zone-c: no node qualifies (2 cordoned)",
		},
		{
			name: "zones short for mixed reasons",
			nodes: []Node{
				up("a1", "zone-a", ssd("s", 100)),
				up("b1", "zone-b", ssd("s", 100)), inState(up("b2", "zone-b", ssd("s", 100)), NodeDown),
				up("c1", "zone-c", hdd("h", 1000)),
			},
			fill: map[string]uint64{"a1": 96, "b1": 94},
			req:  ssdReq("vol-1", 2, SpreadZone, 10),
			want: "place vol-1: need 2 zones with an up node that has an ssd disk with 10.0 GiB free; none qualify; zone-a: no node qualifies (1 short of space (largest free 4.0 GiB)); zone-b: no node qualifies (1 down, 1 short of space (largest free 6.0 GiB)); zone-c: no node qualifies (1 without an ssd disk)",
		},
		{
			name: "nodes short of an hdd with room",
			nodes: []Node{
				up("n1", "a", hdd("h", 2048)), up("n2", "a", hdd("h", 2048)),
				up("n3", "b", hdd("h", 1024)), up("n4", "b", hdd("h", 2048)),
				inState(up("n5", "c", hdd("h", 4096)), NodeDown),
				up("n6", "c", ssd("s", 4096)),
			},
			fill: map[string]uint64{"n3": 512, "n4": 1500},
			req:  Request{VolumeID: "vol-1", SizeBytes: tib, Replicas: 3, Tier: TierHDD, Spread: SpreadNode},
			want: "place vol-1: need 3 replicas on distinct up nodes with an hdd disk with 1.0 TiB free; only 2 nodes qualify (n1, n2); of the other 4: 1 down, 1 without an hdd disk, 2 short of space (largest free 548.0 GiB)",
		},
		{
			name:  "empty cluster",
			req:   ssdReq("vol-1", 1, SpreadZone, 1),
			want:  "place vol-1: need 1 zone with an up node that has an ssd disk with 1.0 GiB free; the cluster has no nodes",
			nodes: nil,
		},
		{
			name: "selector named",
			nodes: []Node{
				withLabels(up("n1", "a", ssd("s", 100)), "media", "slow"),
				up("n2", "b", ssd("s", 100)),
			},
			req: func() Request {
				r := ssdReq("vol-1", 1, SpreadNode, 1)
				r.NodeSelector = map[string]string{"media": "fast"}
				return r
			}(),
			want: "place vol-1: need 1 replica on an up node with an ssd disk with 1.0 GiB free and labels media=fast; no node qualifies (2 without labels media=fast)",
		},
		{
			name: "re-replication with the other zones held",
			nodes: []Node{
				up("a1", "zone-a", ssd("s", 100)), up("b1", "zone-b", ssd("s", 100)),
				inState(up("c1", "zone-c", ssd("s", 100)), NodeDraining),
			},
			req:  ssdReq("vol-1", 1, SpreadZone, 10),
			opts: []PlaceOption{WithExistingReplicas(Placement{NodeID: "a1", DiskID: "s"}, Placement{NodeID: "b1", DiskID: "s"})},
			want: "place vol-1: need 1 more zone with an up node that has an ssd disk with 10.0 GiB free; none qualify; zone-a: already holds a replica; zone-b: already holds a replica; zone-c: no node qualifies (1 draining)",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, nil, tc.nodes...)
			for node, g := range tc.fill {
				n, _ := c.Node(node)
				if err := c.Reserve("fill-"+node, []Placement{{NodeID: node, DiskID: n.Disks[0].ID}}, g*gib); err != nil {
					t.Fatal(err)
				}
			}
			d, err := Place(c, tc.req, tc.opts...)
			if err == nil {
				t.Fatalf("placed %v, want an error", d.Placements)
			}
			if !errors.Is(err, ErrInsufficientCapacity) || errors.Is(err, ErrInvalidRequest) {
				t.Errorf("error %v is not (only) ErrInsufficientCapacity", err)
			}
			var pe *PlacementError
			if !errors.As(err, &pe) || pe.Needed != tc.req.Replicas {
				t.Errorf("error %#v is not a *PlacementError for %d replicas", err, tc.req.Replicas)
			}
			if err.Error() != tc.want {
				t.Errorf("error:\n got %s\nwant %s", err, tc.want)
			}
			if len(d.Placements) != 0 || d.Considered != len(tc.nodes) {
				t.Errorf("failed decision has %d placements and considered %d nodes, want 0 and %d",
					len(d.Placements), d.Considered, len(tc.nodes))
			}
		})
	}
}

// An absurd replica count must fail with a message, not allocate for it.
func TestPlaceHugeReplicaCount(t *testing.T) {
	c := newCluster(t, nil, up("n1", "a", ssd("s", 100)), up("n2", "b", ssd("s", 100)))
	for _, spread := range []SpreadLevel{SpreadNode, SpreadZone} {
		_, err := Place(c, ssdReq("v", 1<<40, spread, 1))
		if !errors.Is(err, ErrInsufficientCapacity) || !strings.Contains(err.Error(), "only 2") {
			t.Errorf("%v: %v", spread, err)
		}
	}
}

func TestPlaceErrorListIsBounded(t *testing.T) {
	var nodes []Node
	for i := range 20 {
		z := "z" + string(rune('a'+i))
		nodes = append(nodes, inState(up("n-"+z, z, ssd("s", 1)), NodeCordoned))
	}
	nodes = append(nodes, up("ok1", "q1", ssd("s", 100)), up("ok2", "q2", ssd("s", 100)))
	c := newCluster(t, nil, nodes...)
	_, err := Place(c, ssdReq("v", 3, SpreadZone, 1))
	msg := err.Error()
	if !strings.Contains(msg, "only 2 qualify (q1, q2)") || !strings.Contains(msg, "; 15 more zones do not qualify") {
		t.Errorf("unexpected message %q", msg)
	}
	if strings.Count(msg, "no node qualifies") != listCap {
		t.Errorf("message lists %d failing zones, want %d", strings.Count(msg, "no node qualifies"), listCap)
	}
}

func TestPlaceInvalidRequests(t *testing.T) {
	c := newCluster(t, nil, up("n1", "a", ssd("s", 100)))
	valid := ssdReq("v", 1, SpreadNode, 1)
	for _, tc := range []struct {
		name   string
		mutate func(*Request)
		opts   []PlaceOption
		says   string
	}{
		{"no volume id", func(r *Request) { r.VolumeID = "" }, nil, "empty volume id"},
		{"zero size", func(r *Request) { r.SizeBytes = 0 }, nil, "size must be greater than 0"},
		{"zero replicas", func(r *Request) { r.Replicas = 0 }, nil, "replicas must be at least 1, got 0"},
		{"negative replicas", func(r *Request) { r.Replicas = -2 }, nil, "got -2"},
		{"no tier", func(r *Request) { r.Tier = TierUnspecified }, nil, "tier must be"},
		{"bad spread", func(r *Request) { r.Spread = 9 }, nil, "spread must be"},
		{"unknown score", func(*Request) {}, []PlaceOption{WithScoreWeight("luck", 1)}, `unknown score "luck"`},
		{"negative weight", func(*Request) {}, []PlaceOption{WithScoreWeight(ScoreHeadroom, -1)}, "must be between"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := valid
			tc.mutate(&r)
			d, err := Place(c, r, tc.opts...)
			if !errors.Is(err, ErrInvalidRequest) || errors.Is(err, ErrInsufficientCapacity) {
				t.Fatalf("error %v, want only ErrInvalidRequest", err)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q does not say %q", err, tc.says)
			}
			if len(d.Placements) != 0 {
				t.Error("an invalid request was placed")
			}
		})
	}
}

func TestPlaceRecordsEveryCandidate(t *testing.T) {
	c := newCluster(t, nil,
		up("n1", "a", ssd("s", 100)),
		up("n2", "b", ssd("s", 200)),
		inState(up("n3", "c", ssd("s", 100)), NodeDown),
		up("n4", "d", hdd("h", 100)),
	)
	d := mustPlace(t, c, ssdReq("v", 1, SpreadZone, 10), WithCandidates())
	ids := func(cs []CandidateScore) []string {
		var out []string
		for _, cand := range cs {
			out = append(out, cand.NodeID)
		}
		return out
	}
	if got := ids(d.Candidates); !slices.Equal(got, []string{"n1", "n2", "n3", "n4"}) {
		t.Fatalf("candidate order %v, want node-ID order", got)
	}
	// Ranked: feasible best first, then filtered by ID.
	ranked := d.Ranked()
	if got := ids(ranked); !slices.Equal(got, []string{"n2", "n1", "n3", "n4"}) {
		t.Fatalf("ranked order %v", got)
	}
	best := ranked[0]
	if !best.Chosen || !best.Feasible || best.DiskID != "s" || best.Reason != "" {
		t.Errorf("best candidate %+v", best)
	}
	if h, ok := best.Score(ScoreHeadroom); !ok || h != 0.95 {
		t.Errorf("headroom = %v, %v; want 0.95", h, ok)
	}
	if _, ok := best.Score(ScoreDomainBalance); !ok {
		t.Error("no domain-balance score")
	}
	for _, cand := range d.Candidates {
		if cand.Total < 0 || cand.Total > 1 {
			t.Errorf("%s total %v out of [0,1]", cand.NodeID, cand.Total)
		}
		for _, s := range cand.Scores {
			if s.Score < 0 || s.Score > 1 {
				t.Errorf("%s %s = %v out of [0,1]", cand.NodeID, s.Name, s.Score)
			}
		}
		if cand.Chosen != (cand.NodeID == "n2") {
			t.Errorf("%s chosen = %v", cand.NodeID, cand.Chosen)
		}
		if !cand.Feasible && (cand.Reason == "" || cand.Scores != nil || cand.DiskID != "") {
			t.Errorf("filtered candidate %+v", cand)
		}
	}
	if ranked[3].Reason != "no ssd disk" {
		t.Errorf("n4 reason %q", d.Candidates[3].Reason)
	}
}

func TestPlaceIsDeterministic(t *testing.T) {
	var nodes []Node
	for i := range 30 {
		// Identical nodes: only the tie-break separates them.
		nodes = append(nodes, up(string(rune('a'+i%26))+string(rune('0'+i/26)), []string{"z1", "z2", "z3"}[i%3], ssd("s", 100)))
	}
	reversed := slices.Clone(nodes)
	slices.Reverse(reversed)
	c1 := newCluster(t, nil, nodes...)
	c2 := newCluster(t, nil, reversed...)
	r := ssdReq("v", 3, SpreadZone, 10)
	d1 := mustPlace(t, c1, r)
	for range 5 {
		if d := mustPlace(t, c1, r); !reflect.DeepEqual(d, d1) {
			t.Fatal("same cluster, same request, different decision")
		}
	}
	if d := mustPlace(t, c2, r); !reflect.DeepEqual(d, d1) {
		t.Fatal("insertion order changed the decision")
	}
	// Ties go to the lowest node ID in each zone (a1 is node 26, in z3).
	if got := placementNodes(d1.Placements); !slices.Equal(got, []string{"a0", "a1", "b0"}) {
		t.Errorf("placed on %v", got)
	}
}

func TestPlaceDoesNotMutateCluster(t *testing.T) {
	c := newCluster(t, nil, up("n1", "a", ssd("s", 100)), up("n2", "b", ssd("s", 100)))
	before := c.Nodes()
	mustPlace(t, c, ssdReq("v", 2, SpreadZone, 10))
	if _, err := Place(c, ssdReq("w", 3, SpreadZone, 10)); err == nil {
		t.Fatal("expected failure")
	}
	if !reflect.DeepEqual(before, c.Nodes()) {
		t.Error("Place changed the cluster")
	}
	if _, ok := c.Reservation("v"); ok {
		t.Error("Place reserved")
	}
}

func TestPlacePrefersLeastLoadedZone(t *testing.T) {
	c := newCluster(t, nil,
		up("a1", "a", ssd("s", 100)), up("a2", "a", ssd("s", 100)),
		up("b1", "b", ssd("s", 100)), up("b2", "b", ssd("s", 100)),
	)
	// Zone a is busier overall, though a1 itself is the emptiest disk.
	if err := c.Reserve("x", []Placement{{NodeID: "a2", DiskID: "s"}, {NodeID: "b1", DiskID: "s"}, {NodeID: "b2", DiskID: "s"}}, 20*gib); err != nil {
		t.Fatal(err)
	}
	if err := c.Reserve("y", []Placement{{NodeID: "a2", DiskID: "s"}}, 50*gib); err != nil {
		t.Fatal(err)
	}
	d := mustPlace(t, c, ssdReq("v", 1, SpreadZone, 10))
	if got := d.Placements[0].NodeID; got != "a1" {
		t.Errorf("with default weights placed on %s, want a1 (headroom dominates)", got)
	}
	d = mustPlace(t, c, ssdReq("v", 1, SpreadZone, 10), WithScoreWeight(ScoreHeadroom, 0.1))
	if got := d.Placements[0].Zone; got != "b" {
		t.Errorf("with balance dominant placed in zone %s, want b", got)
	}
	if w := d.Best[0].Scores[0].Weight; w != 0.1 {
		t.Errorf("recorded headroom weight %v, want 0.1", w)
	}
	if want := []ScoreWeight{{ScoreHeadroom, 0.1}, {ScoreDomainBalance, 0.5}}; !slices.Equal(d.Weights, want) {
		t.Errorf("decision weights %v, want %v", d.Weights, want)
	}
}

func TestPlaceWithExistingReplicas(t *testing.T) {
	c := newCluster(t, nil,
		up("a1", "zone-a", ssd("s", 100)), up("a2", "zone-a", ssd("s", 1000)),
		up("b1", "zone-b", ssd("s", 100)),
		up("c1", "zone-c", ssd("s", 100)),
	)
	// The volume lost its replica in zone-c's node... and keeps a1, b1.
	existing := []Placement{{NodeID: "a1", DiskID: "s", Zone: "zone-a"}, {NodeID: "b1", DiskID: "s", Zone: "zone-b"}}
	d := mustPlace(t, c, ssdReq("v", 1, SpreadZone, 10), WithExistingReplicas(existing...))
	if got := placementNodes(d.Placements); !slices.Equal(got, []string{"c1"}) {
		t.Errorf("zone spread: placed on %v, want c1 (a2 is emptier but in a held zone)", got)
	}
	// With node spread a2 is allowed, but a new zone is still preferred.
	d = mustPlace(t, c, ssdReq("v", 1, SpreadNode, 10), WithExistingReplicas(existing...))
	if got := placementNodes(d.Placements); !slices.Equal(got, []string{"c1"}) {
		t.Errorf("node spread: placed on %v, want c1", got)
	}
	d = mustPlace(t, c, ssdReq("v", 2, SpreadNode, 10), WithExistingReplicas(existing...))
	got := placementNodes(d.Placements)
	slices.Sort(got)
	if !slices.Equal(got, []string{"a2", "c1"}) {
		t.Errorf("node spread, two more: placed on %v, want a2 and c1", got)
	}
	// A replica on a node the cluster forgot still holds its zone.
	gone := []Placement{{NodeID: "gone", DiskID: "s", Zone: "zone-c"}}
	d = mustPlace(t, c, ssdReq("v", 2, SpreadZone, 10), WithExistingReplicas(gone...))
	if got := zonesOf(d.Placements); !slices.Equal(got, []string{"zone-a", "zone-b"}) {
		t.Errorf("forgotten node: zones %v", got)
	}
}

// Placing and reserving one volume after another must fan out over the
// cluster instead of piling onto the first nodes by ID.
func TestSequentialPlacementsSpreadLoad(t *testing.T) {
	var nodes []Node
	for i := range 9 {
		nodes = append(nodes, up(string(rune('a'+i)), []string{"z1", "z2", "z3"}[i%3], ssd("s", 100)))
	}
	c := newCluster(t, nil, nodes...)
	for i := range 30 {
		r := ssdReq("v"+string(rune('A'+i)), 3, SpreadZone, 3)
		d := mustPlace(t, c, r)
		if err := c.Reserve(r.VolumeID, d.Placements, r.SizeBytes); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range c.Nodes() {
		// 30 volumes x 3 replicas x 3 GiB over 9 disks = 30 GiB each.
		if n.Disks[0].UsedBytes != 30*gib {
			t.Errorf("%s holds %s, want an even 30.0 GiB", n.ID, formatBytes(n.Disks[0].UsedBytes))
		}
	}
}
