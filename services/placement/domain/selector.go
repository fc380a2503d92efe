package domain

import "slices"

// ranked is what the selector sees of one feasible candidate.
type ranked struct {
	pos    int // position in Cluster.order (and Decision.Candidates)
	disk   int // index of the chosen disk in the node's Disks
	id     string
	total  float64
	domain int // failure domain at the requested spread level
	zone   int
}

// better orders candidates best first: higher total, then lower node ID so
// that ties break the same way every time.
func better(a, b *ranked) bool {
	return a.total > b.total || (a.total == b.total && a.id < b.id)
}

// selectReplicas picks up to want candidates, never two in one failure
// domain, best first, and returns their positions in cands ordered best
// first.
//
// With node spread it still prefers zones not yet used (heldZones marks the
// zones that already hold a replica), so two replicas share a zone only when
// no other zone has a qualifying node: distinct nodes is the hard floor,
// distinct zones the soft goal.
//
// It never sorts all candidates: the best per domain is found in one pass
// and only those few are sorted, which keeps a thousand-node cluster cheap.
func selectReplicas(cands []ranked, want int, spread SpreadLevel, domains, zones int, heldZones []bool) []int {
	if spread != SpreadNode {
		return bestPerDomain(cands, want, domains, func(r *ranked) int { return r.domain }, nil)
	}
	picked := bestPerDomain(cands, want, zones, func(r *ranked) int { return r.zone }, heldZones)
	taken := make(map[int]bool, len(picked))
	for _, p := range picked {
		taken[p] = true
	}
	// Fill from the zones already used, one best-remaining scan per
	// replica: replicas are few, so this is O(n·replicas), not a sort.
	for len(picked) < want {
		best := -1
		for i := range cands {
			if !taken[i] && (best < 0 || better(&cands[i], &cands[best])) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		taken[best] = true
		picked = append(picked, best)
	}
	slices.SortFunc(picked, func(i, j int) int { return cmpRanked(&cands[i], &cands[j]) })
	return picked
}

// bestPerDomain returns the best candidate of each of the want best
// domains (by their best candidate), skipping blocked domains.
func bestPerDomain(cands []ranked, want, domains int, key func(*ranked) int, blocked []bool) []int {
	best := make([]int, domains)
	for i := range best {
		best[i] = -1
	}
	for i := range cands {
		d := key(&cands[i])
		if d < len(blocked) && blocked[d] {
			continue
		}
		if best[d] < 0 || better(&cands[i], &cands[best[d]]) {
			best[d] = i
		}
	}
	tops := slices.DeleteFunc(best, func(i int) bool { return i < 0 })
	slices.SortFunc(tops, func(i, j int) int { return cmpRanked(&cands[i], &cands[j]) })
	return tops[:min(want, len(tops))]
}

func cmpRanked(a, b *ranked) int {
	switch {
	case better(a, b):
		return -1
	case better(b, a):
		return 1
	}
	return 0
}
