package domain

// Ranking: the soft goals. Each scorer maps a feasible candidate to [0,1],
// higher is better; Place combines them as a weighted mean and records every
// score so that explain can show which goal decided.

// Score names, as they appear in CandidateScore.Scores and WithScoreWeight.
const (
	// ScoreHeadroom prefers the disk left emptiest after the replica lands:
	// the fraction of its reservable bytes still free.
	ScoreHeadroom = "headroom"
	// ScoreDomainBalance prefers the least-loaded zone (region for region
	// spread): one minus the zone's utilisation of the requested tier
	// after the replica lands, over the nodes that are up.
	ScoreDomainBalance = "domain-balance"
)

// scoreInput is what the scorers see of one candidate.
type scoreInput struct {
	// limit and used describe the chosen disk; size is the replica.
	limit, used, size uint64
	// domain is the load of the candidate's balance domain.
	domain load
}

// load sums reservable and reserved bytes over a set of disks.
type load struct{ limit, used uint64 }

// scorer is one soft goal.
type scorer struct {
	name   string
	weight float64
	score  func(scoreInput) float64
}

// scorers is the rank pipeline with default weights. Headroom weighs more
// because a full disk hurts one node now, while zone imbalance only costs
// evenness later.
var scorers = []scorer{
	{name: ScoreHeadroom, weight: 1, score: headroomScore},
	{name: ScoreDomainBalance, weight: 0.5, score: domainBalanceScore},
}

// fractionFree is the share of limit not taken by used+add, in [0,1].
func fractionFree(limit, used, add uint64) float64 {
	if limit == 0 || used >= limit || add >= limit-used {
		return 0
	}
	return float64(limit-used-add) / float64(limit)
}

func headroomScore(in scoreInput) float64 {
	return fractionFree(in.limit, in.used, in.size)
}

func domainBalanceScore(in scoreInput) float64 {
	return fractionFree(in.domain.limit, in.domain.used, in.size)
}

// balanceLevel is the failure domain the balance scorer evens out: zones
// even when replicas only need distinct nodes, because losing a zone is the
// failure operators plan for.
func balanceLevel(s SpreadLevel) SpreadLevel { return max(s, SpreadZone) }

// domainLoads sums, per balance domain (indexed like Cluster.zones or
// Cluster.regions), the reservable and reserved bytes of the tier's disks on
// up nodes: the capacity new replicas compete for.
func domainLoads(c *Cluster, tier Tier, level SpreadLevel) []load {
	out := make([]load, c.domainCount(level))
	for k, e := range c.order {
		if e.node.State != NodeUp {
			continue
		}
		l := &out[c.domainOf(e, k, level)]
		for i := range e.node.Disks {
			d := &e.node.Disks[i]
			if d.Tier == tier {
				l.limit += c.limit(d.CapacityBytes)
				l.used += d.UsedBytes
			}
		}
	}
	return out
}

// domainCount is how many failure domains exist at level.
func (c *Cluster) domainCount(level SpreadLevel) int {
	switch level {
	case SpreadZone:
		return len(c.zones.names)
	case SpreadRegion:
		return len(c.regions.names)
	default:
		return len(c.order)
	}
}

// domainOf numbers e's failure domain at level; k is e's position in
// c.order, which numbers the node-level domains.
func (c *Cluster) domainOf(e *nodeEntry, k int, level SpreadLevel) int {
	switch level {
	case SpreadZone:
		return e.zone
	case SpreadRegion:
		return e.region
	default:
		return k
	}
}
