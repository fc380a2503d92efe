package domain

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// The summary is what a decision's record keeps: it must agree with the
// full table it stands for, and carry every chosen candidate.

// summaryOf is the summary as it should be, derived from a full table.
func summaryOf(d Decision) (best []CandidateScore, rejected []RejectCount, feasible int) {
	counts := map[RejectKind]*RejectCount{}
	for _, c := range d.Ranked() {
		if c.Feasible {
			feasible++
			if len(best) < BestCandidates || c.Chosen {
				best = append(best, c)
			}
			continue
		}
		rc := counts[c.Rejection]
		if rc == nil {
			rc = &RejectCount{Kind: c.Rejection}
			counts[c.Rejection] = rc
		}
		rc.Nodes++
	}
	for k := RejectCordoned; k < numRejectKinds; k++ {
		if rc := counts[k]; rc != nil {
			rejected = append(rejected, *rc)
		}
	}
	return best, rejected, feasible
}

func TestPropertySummaryAgreesWithTheTable(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := drawWorld(t)
		r := drawRequest(t)
		full, errFull := Place(w.c, r, WithCandidates())
		d, err := Place(w.c, r)
		if fmt.Sprint(err) != fmt.Sprint(errFull) {
			t.Fatalf("with candidates: %v; without: %v", errFull, err)
		}
		if d.Candidates != nil {
			t.Fatal("Place without WithCandidates filled the table")
		}
		full.Candidates = nil
		if !reflect.DeepEqual(d, full) {
			t.Fatalf("the table changed the decision:\n%+v\n%+v", d, full)
		}

		full, _ = Place(w.c, r, WithCandidates())
		best, rejected, feasible := summaryOf(full)
		if d.Considered != len(full.Candidates) || d.Feasible != feasible {
			t.Fatalf("considered %d, feasible %d; the table has %d rows, %d feasible", d.Considered, d.Feasible, len(full.Candidates), feasible)
		}
		sum := 0
		for _, rc := range d.Rejected {
			if rc.Nodes == 0 || !rc.Kind.Valid() {
				t.Fatalf("rejection count %+v", rc)
			}
			sum += rc.Nodes
		}
		if sum != d.Considered-d.Feasible {
			t.Fatalf("rejections add up to %d, %d nodes were rejected", sum, d.Considered-d.Feasible)
		}
		// LargestFreeBytes is not in a row; compare the counts only.
		got := slices.Clone(d.Rejected)
		for i := range got {
			got[i].LargestFreeBytes = 0
		}
		if !slices.Equal(got, rejected) {
			t.Fatalf("rejections %v, the table counts %v", d.Rejected, rejected)
		}
		if !reflect.DeepEqual(d.Best, best) {
			t.Fatalf("best %+v,\nthe table's best %+v", d.Best, best)
		}
		chosen := 0
		for _, c := range d.Best {
			if c.Chosen {
				chosen++
			}
		}
		if chosen != len(d.Placements) || len(d.Best) > BestCandidates+len(d.Placements) {
			t.Fatalf("%d of %d placements among the %d best", chosen, len(d.Placements), len(d.Best))
		}
	})
}

// With zone spread the chosen replicas of the other zones can rank far
// below the best few: they are kept all the same.
func TestSummaryKeepsChosenBelowTheBest(t *testing.T) {
	var nodes []Node
	for i := range 8 {
		nodes = append(nodes, up(fmt.Sprintf("a%d", i), "zone-a", ssd("s", 1000)))
	}
	nodes = append(nodes, up("b0", "zone-b", ssd("s", 100)), up("c0", "zone-c", ssd("s", 100)))
	c := newCluster(t, nil, nodes...)
	d := mustPlace(t, c, ssdReq("v", 3, SpreadZone, 10))
	var ids []string
	for _, cand := range d.Best {
		ids = append(ids, fmt.Sprintf("%s:%v", cand.NodeID, cand.Chosen))
	}
	want := []string{"a0:true", "a1:false", "a2:false", "a3:false", "a4:false", "b0:true", "c0:true"}
	if !slices.Equal(ids, want) {
		t.Fatalf("best %v, want %v", ids, want)
	}
	for _, cand := range d.Best {
		if len(cand.Scores) != len(scorers) || cand.DiskID != "s" || cand.Zone == "" {
			t.Errorf("best row %+v lacks its scores, disk or zone", cand)
		}
	}
}

func TestSummaryCountsRejectionsPerKind(t *testing.T) {
	c := newCluster(t, nil,
		inState(up("c1", "zone-a", ssd("s", 100)), NodeCordoned),
		inState(up("c2", "zone-b", ssd("s", 100)), NodeCordoned),
		inState(up("d1", "zone-c", ssd("s", 100)), NodeDown),
		up("h1", "zone-a", hdd("h", 100)),
		up("f1", "zone-a", ssd("s", 5)),
		up("f2", "zone-b", ssd("s", 8)),
		up("ok1", "zone-a", ssd("s", 100)),
		up("ok2", "zone-b", ssd("s", 100)),
		up("ok3", "zone-c", ssd("s", 100)),
	)
	d := mustPlace(t, c, ssdReq("v", 3, SpreadZone, 10))
	want := []RejectCount{
		{Kind: RejectCordoned, Nodes: 2},
		{Kind: RejectDown, Nodes: 1},
		{Kind: RejectNoTier, Nodes: 1},
		{Kind: RejectNoRoom, Nodes: 2, LargestFreeBytes: 8 * gib},
	}
	if !slices.Equal(d.Rejected, want) || d.Considered != 9 || d.Feasible != 3 {
		t.Fatalf("rejected %v, considered %d, feasible %d; want %v, 9, 3", d.Rejected, d.Considered, d.Feasible, want)
	}

	// A failed decision is summarised too.
	d, err := Place(c, ssdReq("big", 3, SpreadZone, 200))
	if err == nil {
		t.Fatal("placed 200 GiB on 100 GiB disks")
	}
	if d.Feasible != 0 || len(d.Best) != 0 || d.Considered != 9 || d.Rejected[len(d.Rejected)-1] != (RejectCount{Kind: RejectNoRoom, Nodes: 5, LargestFreeBytes: 100 * gib}) {
		t.Fatalf("failed decision summary %+v", d)
	}
}
