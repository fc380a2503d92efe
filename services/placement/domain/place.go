package domain

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// BestCandidates is how many of the best feasible candidates a Decision
// keeps in Best, besides the chosen ones: enough to see what came close,
// few enough that a decision's record stays small at any fleet size.
const BestCandidates = 5

// Decision is the outcome of Place: where the replicas go, and a summary of
// how the cluster fared that stays small at any fleet size. The full
// per-node table (Candidates) is filled only when asked for, by explain.
type Decision struct {
	VolumeID string
	// Placements are the chosen replicas, best-scored first. Empty when
	// Place failed.
	Placements []Placement
	// Weights are the soft goals' weights Place used, in score order.
	Weights []ScoreWeight
	// Considered is how many nodes Place judged: every node of the
	// cluster. Feasible is how many of them could take a replica.
	Considered, Feasible int
	// Best are the BestCandidates best feasible candidates and every chosen
	// one, in the order Ranked gives them.
	Best []CandidateScore
	// Rejected counts the nodes filtered out per kind of reason, in
	// RejectKind order, leaving out kinds that rejected none; the counts add
	// up to Considered - Feasible.
	Rejected []RejectCount
	// Candidates has one entry per node, in node-ID order, when Place ran
	// WithCandidates; nil otherwise. Ranked sorts them for display.
	Candidates []CandidateScore
}

// ScoreWeight is the weight one soft goal had in a decision.
type ScoreWeight struct {
	Name   string
	Weight float64
}

// RejectCount is how many nodes one kind of reason filtered out.
type RejectCount struct {
	Kind  RejectKind
	Nodes int
	// LargestFreeBytes is, for RejectNoRoom, the most any of those nodes had
	// free on a disk of the tier: how far the largest came from fitting.
	LargestFreeBytes uint64
}

// CandidateScore is how one node fared.
type CandidateScore struct {
	NodeID string
	Zone   string
	// DiskID is the disk that would hold the replica; empty when the node
	// was filtered out.
	DiskID   string
	Feasible bool
	// Rejection is why the node was filtered out, as a kind to count by;
	// Reason says it in words, e.g. "node is cordoned" or "no ssd disk with
	// 10.0 GiB free (largest free 4.0 GiB)".
	Rejection RejectKind
	Reason    string
	// Scores holds one entry per soft goal, in a fixed order; nil when the
	// node was filtered out.
	Scores []NamedScore
	// Total is the weighted mean of Scores, in [0,1].
	Total  float64
	Chosen bool
}

// Score returns the named score.
func (c CandidateScore) Score(name string) (float64, bool) {
	for _, s := range c.Scores {
		if s.Name == name {
			return s.Score, true
		}
	}
	return 0, false
}

// NamedScore is one soft goal's verdict on a candidate.
type NamedScore struct {
	Name   string
	Score  float64 // in [0,1], higher is better
	Weight float64 // its weight in Total
}

// PlacementError says why a volume could not be placed. It matches
// ErrInsufficientCapacity with errors.Is.
type PlacementError struct {
	VolumeID string
	Spread   SpreadLevel
	// Needed is how many more failure domains the volume needed.
	Needed int
	// Qualifying are the failure domains that had a qualifying node.
	Qualifying []string
	msg        string
}

// Error names what was short in operator language.
func (e *PlacementError) Error() string { return "place " + e.VolumeID + ": " + e.msg }

// Is makes errors.Is(err, ErrInsufficientCapacity) hold.
func (e *PlacementError) Is(target error) bool { return target == ErrInsufficientCapacity }

// PlaceOption tunes one Place call.
type PlaceOption func(*placeConfig)

type placeConfig struct {
	weights    []float64
	existing   []Placement
	candidates bool
	err        error
}

// WithCandidates makes Place fill Decision.Candidates with every node of
// the cluster, scored or with the reason it was filtered out: the table
// explain shows. Without it Place keeps only the summary, which at a large
// fleet costs far less than the table.
func WithCandidates() PlaceOption {
	return func(c *placeConfig) { c.candidates = true }
}

// WithExistingReplicas declares replicas the volume already has, for
// re-replication and moves: their failure domains are taken, and
// Request.Replicas counts only the replicas to add.
func WithExistingReplicas(ps ...Placement) PlaceOption {
	return func(c *placeConfig) { c.existing = append(c.existing, ps...) }
}

// WithScoreWeight changes the weight of one soft goal (ScoreHeadroom,
// ScoreDomainBalance); 0 ignores it.
func WithScoreWeight(name string, weight float64) PlaceOption {
	return func(c *placeConfig) {
		i := slices.IndexFunc(scorers, func(s scorer) bool { return s.name == name })
		switch {
		case i < 0:
			c.err = fmt.Errorf("unknown score %q: %w", name, ErrInvalidRequest)
		case !(weight >= 0) || weight > 1e6:
			c.err = fmt.Errorf("weight %v for score %s must be between 0 and 1e6: %w", weight, name, ErrInvalidRequest)
		default:
			c.weights[i] = weight
		}
	}
}

// Place decides where the replicas of r go: feasibility checks, then
// scorers, then the selector. It reads c and never changes it; apply the
// decision with c.Reserve(d.VolumeID, d.Placements, r.SizeBytes).
//
// The same cluster, request and options always yield the same decision, and
// WithCandidates changes only whether Candidates is filled. An invalid
// request fails with ErrInvalidRequest; a request the cluster cannot hold
// fails with a *PlacementError (ErrInsufficientCapacity) and a Decision
// whose summary (and Candidates, when asked for) still explains every node.
func Place(c *Cluster, r Request, opts ...PlaceOption) (Decision, error) {
	d := Decision{VolumeID: r.VolumeID}
	if err := r.Validate(); err != nil {
		return d, err
	}
	cfg := placeConfig{weights: make([]float64, len(scorers))}
	for i, s := range scorers {
		cfg.weights[i] = s.weight
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.err != nil {
		return d, fmt.Errorf("place %s: %w", r.VolumeID, cfg.err)
	}
	p := newPlanner(c, &r, &cfg)
	d.Weights = make([]ScoreWeight, len(scorers))
	for i, s := range scorers {
		d.Weights[i] = ScoreWeight{Name: s.name, Weight: cfg.weights[i]}
	}

	ns := len(scorers)
	d.Considered = len(c.order)
	var scoreBuf []NamedScore
	if cfg.candidates {
		d.Candidates = make([]CandidateScore, len(c.order))
		// One backing array for every candidate's scores: a thousand
		// small allocations would cost more than the scoring itself.
		scoreBuf = make([]NamedScore, len(c.order)*ns)
	}
	scratch := make([]NamedScore, ns)
	buf := rankings.Get().(*[]ranked)
	defer rankings.Put(buf)
	feasible := (*buf)[:0]
	defer func() { *buf = feasible[:0] }()
	var rejected tally
	for k, e := range c.order {
		scores := scratch
		if cfg.candidates {
			scores = scoreBuf[k*ns : (k+1)*ns : (k+1)*ns]
		}
		di, total, rej := p.judge(k, e, scores)
		if cfg.candidates {
			d.Candidates[k] = p.candidate(e, di, total, rej, scores)
		}
		if !rej.ok() {
			rejected.add(rej)
			continue
		}
		feasible = append(feasible, ranked{pos: k, disk: di, id: e.node.ID, total: total, domain: c.domainOf(e, k, r.Spread), zone: e.zone})
	}
	d.Feasible = len(feasible)
	d.Rejected = rejected.list()

	picked := selectReplicas(feasible, r.Replicas, r.Spread, c.domainCount(r.Spread), len(c.zones.names), p.heldZones)
	if len(picked) < r.Replicas {
		d.Best = p.best(feasible, nil)
		return d, shortage(c, p.f, len(cfg.existing) > 0)
	}
	d.Best = p.best(feasible, picked)
	d.Placements = make([]Placement, len(picked))
	for k, i := range picked {
		e := c.order[feasible[i].pos]
		d.Placements[k] = Placement{NodeID: e.node.ID, DiskID: e.node.Disks[feasible[i].disk].ID, Zone: e.node.Zone}
		if cfg.candidates {
			d.Candidates[feasible[i].pos].Chosen = true
		}
	}
	return d, nil
}

// rankings are the feasible candidates' scratch of Place calls, reused: a
// thousand nodes' ranking would otherwise be most of what a placement
// allocates. Nothing of it outlives the call.
var rankings = sync.Pool{New: func() any { return new([]ranked) }}

// planner is what one Place call computes once and every candidate uses.
type planner struct {
	c         *Cluster
	r         *Request
	f         *feasibility
	weights   []float64
	wsum      float64
	level     SpreadLevel
	loads     []load
	heldZones []bool
}

func newPlanner(c *Cluster, r *Request, cfg *placeConfig) *planner {
	heldDomains, heldZones := held(c, r.Spread, cfg.existing)
	p := &planner{
		c: c, r: r, f: newFeasibility(c, r, heldDomains),
		weights: cfg.weights, level: balanceLevel(r.Spread), heldZones: heldZones,
	}
	for _, w := range cfg.weights {
		p.wsum += w
	}
	p.loads = domainLoads(c, r.Tier, p.level)
	return p
}

// judge runs the hard constraints on the node at position k and, when it
// passes, scores it into scores (one per scorer): the disk that would hold
// the replica and the node's total, or why it was filtered out.
func (p *planner) judge(k int, e *nodeEntry, scores []NamedScore) (int, float64, rejection) {
	di, rej := p.f.judge(&e.node)
	if !rej.ok() {
		return -1, 0, rej
	}
	disk := &e.node.Disks[di]
	in := scoreInput{
		limit: p.c.limit(disk.CapacityBytes), used: disk.UsedBytes, size: p.r.SizeBytes,
		domain: p.loads[p.c.domainOf(e, k, p.level)],
	}
	var total float64
	for i, s := range scorers {
		v := s.score(in)
		scores[i] = NamedScore{Name: s.name, Score: v, Weight: p.weights[i]}
		total += v * p.weights[i]
	}
	if p.wsum > 0 {
		total /= p.wsum
	}
	return di, total, rejection{}
}

// candidate is the table row of a judged node; scores become the row's.
func (p *planner) candidate(e *nodeEntry, di int, total float64, rej rejection, scores []NamedScore) CandidateScore {
	n := &e.node
	cand := CandidateScore{NodeID: n.ID, Zone: n.Zone}
	if !rej.ok() {
		cand.Rejection, cand.Reason = rej.kind, p.f.reason(n, rej)
		return cand
	}
	cand.DiskID, cand.Feasible, cand.Scores, cand.Total = n.Disks[di].ID, true, scores, total
	return cand
}

// best returns the BestCandidates best of the feasible candidates and the
// picked ones, ranked, each judged again: a few rows are cheaper to score
// twice than a thousand are to keep.
func (p *planner) best(feasible []ranked, picked []int) []CandidateScore {
	top := make([]int, 0, BestCandidates+len(picked))
	for i := range feasible {
		if len(top) == BestCandidates {
			if !better(&feasible[i], &feasible[top[len(top)-1]]) {
				continue
			}
			top = top[:len(top)-1]
		}
		top = append(top, i)
		// Keep top sorted, best first: one insertion step per candidate.
		for j := len(top) - 1; j > 0 && better(&feasible[top[j]], &feasible[top[j-1]]); j-- {
			top[j], top[j-1] = top[j-1], top[j]
		}
	}
	for _, i := range picked {
		if !slices.Contains(top, i) {
			top = append(top, i)
		}
	}
	if len(top) == 0 {
		return nil
	}
	slices.SortFunc(top, func(i, j int) int { return cmpRanked(&feasible[i], &feasible[j]) })

	ns := len(scorers)
	scoreBuf := make([]NamedScore, len(top)*ns)
	out := make([]CandidateScore, len(top))
	for j, i := range top {
		k := feasible[i].pos
		e := p.c.order[k]
		scores := scoreBuf[j*ns : (j+1)*ns : (j+1)*ns]
		di, total, rej := p.judge(k, e, scores)
		out[j] = p.candidate(e, di, total, rej, scores)
		out[j].Chosen = slices.Contains(picked, i)
	}
	return out
}

// Ranked returns the candidates in the order explain shows them: feasible
// ones by descending Total (ties by node ID), then the filtered ones by node
// ID. Place leaves Candidates in node-ID order because sorting a thousand
// of them on every placement would cost more than choosing. It is empty
// unless Place ran WithCandidates.
func (d Decision) Ranked() []CandidateScore {
	out := slices.Clone(d.Candidates)
	slices.SortStableFunc(out, func(a, b CandidateScore) int {
		if a.Feasible != b.Feasible {
			if a.Feasible {
				return -1
			}
			return 1
		}
		if a.Feasible {
			if c := cmp.Compare(b.Total, a.Total); c != 0 {
				return c
			}
		}
		return strings.Compare(a.NodeID, b.NodeID)
	})
	return out
}

// held returns the failure domains (by key, at spread) and the zones (by
// number) that the volume's existing replicas occupy. A replica on a node
// the cluster no longer knows still occupies the zone its placement
// recorded.
func held(c *Cluster, spread SpreadLevel, existing []Placement) (domains map[string]bool, zones []bool) {
	if len(existing) == 0 {
		return nil, nil
	}
	domains, zones = make(map[string]bool), make([]bool, len(c.zones.names))
	for _, p := range existing {
		if e, ok := c.nodes[p.NodeID]; ok {
			domains[domainKey(&e.node, spread)] = true
			zones[e.zone] = true
			continue
		}
		switch spread {
		case SpreadNode:
			domains[p.NodeID] = true
		case SpreadZone:
			domains[p.Zone] = true
		}
		if z, ok := c.zones.index[p.Zone]; ok {
			zones[z] = true
		}
	}
	return domains, zones
}
