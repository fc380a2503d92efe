package domain

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Decision is the outcome of Place: where the replicas go and, for explain,
// how every node in the cluster fared.
type Decision struct {
	VolumeID string
	// Placements are the chosen replicas, best-scored first. Empty when
	// Place failed.
	Placements []Placement
	// Candidates has one entry per node, in node-ID order; Ranked sorts
	// them for display.
	Candidates []CandidateScore
}

// CandidateScore is how one node fared.
type CandidateScore struct {
	NodeID string
	Zone   string
	// DiskID is the disk that would hold the replica; empty when the node
	// was filtered out.
	DiskID   string
	Feasible bool
	// Reason says why the node was filtered out, e.g. "node is cordoned" or
	// "no ssd disk with 10.0 GiB free (largest free 4.0 GiB)".
	Reason string
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
	weights  []float64
	existing []Placement
	err      error
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
// The same cluster and request always yield the same decision. An invalid
// request fails with ErrInvalidRequest; a request the cluster cannot hold
// fails with a *PlacementError (ErrInsufficientCapacity) and a Decision
// whose Candidates still explain every node.
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
	var wsum float64
	for _, w := range cfg.weights {
		wsum += w
	}

	heldDomains, heldZones := held(c, r.Spread, cfg.existing)
	f := newFeasibility(c, &r, heldDomains)
	level := balanceLevel(r.Spread)
	loads := domainLoads(c, r.Tier, level)

	d.Candidates = make([]CandidateScore, len(c.order))
	feasible := make([]ranked, 0, len(c.order))
	// One backing array for every candidate's scores: a thousand small
	// allocations would cost more than the scoring itself.
	scoreBuf := make([]NamedScore, len(c.order)*len(scorers))
	for k, e := range c.order {
		n := &e.node
		cand := &d.Candidates[k]
		cand.NodeID, cand.Zone = n.ID, n.Zone
		rej := f.checkNode(n)
		di := -1
		if rej.ok() {
			di, rej = f.chooseDisk(n)
		}
		if !rej.ok() {
			cand.Reason = rej.reason
			continue
		}
		disk := &n.Disks[di]
		in := scoreInput{
			limit: c.limit(disk.CapacityBytes), used: disk.UsedBytes, size: r.SizeBytes,
			domain: loads[c.domainOf(e, k, level)],
		}
		scores := scoreBuf[k*len(scorers) : (k+1)*len(scorers) : (k+1)*len(scorers)]
		var total float64
		for i, s := range scorers {
			v := s.score(in)
			scores[i] = NamedScore{Name: s.name, Score: v, Weight: cfg.weights[i]}
			total += v * cfg.weights[i]
		}
		if wsum > 0 {
			total /= wsum
		}
		cand.DiskID, cand.Feasible, cand.Scores, cand.Total = disk.ID, true, scores, total
		feasible = append(feasible, ranked{pos: k, id: n.ID, total: total, domain: c.domainOf(e, k, r.Spread), zone: e.zone})
	}

	picked := selectReplicas(feasible, r.Replicas, r.Spread, c.domainCount(r.Spread), len(c.zones.names), heldZones)
	if len(picked) < r.Replicas {
		return d, shortage(c, f, d.Candidates, len(cfg.existing) > 0)
	}
	d.Placements = make([]Placement, len(picked))
	for k, p := range picked {
		cand := &d.Candidates[feasible[p].pos]
		cand.Chosen = true
		d.Placements[k] = Placement{NodeID: cand.NodeID, DiskID: cand.DiskID, Zone: cand.Zone}
	}
	return d, nil
}

// Ranked returns the candidates in the order explain shows them: feasible
// ones by descending Total (ties by node ID), then the filtered ones by node
// ID. Place leaves Candidates in node-ID order because sorting a thousand
// of them on every placement would cost more than choosing.
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
