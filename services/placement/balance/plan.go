package balance

import (
	"math"
	"slices"

	"ballast.dev/services/placement/domain"
)

// The resources balanced, as indexes into the per-disk vectors.
const (
	rIOPS = iota
	rBps
	rBytes
	nResources
)

// vec is an amount of each resource.
type vec [nResources]float64

// targetsTried is how many of a tier's least utilised disks a move
// considers as its target: enough to get past the ones the volume's spread
// rules out, few enough that a plan over thousands of disks stays quick.
const targetsTried = 32

// keyed is a replica with the key it is ranked by.
type keyed struct {
	key float64
	rep int
}

type disk struct {
	loc                Location
	node, zone, region int
	tier               domain.Tier
	state              domain.NodeState
	capability         vec // what it bears of each resource; bytes is its capacity
	limit              uint64
	used               uint64
	load               vec
	reps               []int // into state.reps
	t                  *tier // its tier's
	pos                int   // in its tier's order; -1 when it does not carry load
	stuck              bool  // no move off it was found
	joining            bool  // its node joined recently
}

// carries tells whether the disk's node keeps carrying its load: up, or
// cordoned (which takes no new replicas but keeps its own).
func (d *disk) carries() bool {
	return d.state == domain.NodeUp || d.state == domain.NodeCordoned || d.state == domain.NodeSuspect
}

type rep struct {
	id    string
	vol   int
	disk  int // -1 when its disk is not in the model
	load  vec
	moved bool // in this plan already: a replica moves once
}

type vol struct {
	v    *Volume
	reps []int
}

// tier is the disks of one tier that carry load, least utilised first, and
// the constants of its objective.
type tier struct {
	order []int
	// k weighs each resource's load²/capability: the weight over the
	// tier's mean utilisation squared times its capability, so that a tier
	// evenly utilised scores the weights' sum.
	k vec
	// mean is each resource's capacity-weighted mean utilisation.
	mean vec
	// joining: an up disk of the tier is on a joining node, and balance
	// moves in the tier go only onto such disks.
	joining bool
	// most is each resource's highest utilisation once the forced moves
	// are made: no balancing move takes a disk above it, so balancing never
	// raises it.
	most vec
}

type state struct {
	cfg   Config
	disks []disk
	reps  []rep
	vols  []vol
	tiers map[domain.Tier]*tier
	plan  Plan
	// scratch holds candidates, reused.
	scratch    []int
	topScratch []keyed
	// from is the disk each move of the plan leaves, -1 for none.
	from []int
}

// Propose proposes the moves that bring m within the configured balance
// without breaking a hard constraint. It does not change m.
func Propose(m Model, cfg Config) Plan {
	s := newState(m, cfg.withDefaults())
	before := make([]float64, len(s.disks))
	for di := range s.disks {
		before[di] = s.ioUtilisation(di)
	}
	s.plan.Before = s.balance()
	s.forced()
	s.rebalance()
	s.plan.After = s.balance()
	for i, di := range s.from {
		if di >= 0 {
			s.plan.Moves[i].SourceAfter, s.plan.Moves[i].SourceBefore = s.ioUtilisation(di), before[di]
		}
	}
	return s.plan
}

// ioUtilisation is disk di's utilisation of its busier I/O resource, as a
// hotspot is judged: I/O operations or bytes per second over what the disk
// bears.
func (s *state) ioUtilisation(di int) float64 { d := &s.disks[di]; return ioUtilisationOf(d, d.load) }

// ioUtilisationOf is how utilised disk d carrying load would be, in its
// busier I/O resource.
func ioUtilisationOf(d *disk, load vec) float64 {
	u := 0.0
	for r := range rBytes {
		if d.capability[r] > 0 {
			u = max(u, load[r]/d.capability[r])
		}
	}
	return u
}

// relieves tells whether moving replica ri off disk a, busier than the
// relief bar, onto b, which would then carry load, relieves a without
// making another hotspot: b ends under the bar. (That b ends less
// utilised than a was, the caller checks; b may end busier than a is
// left, when one replica makes most of a's load: moving it is the relief.)
func (s *state) relieves(a *disk, b *disk, load vec) bool {
	return ioUtilisationOf(a, a.load) > s.cfg.Relief && ioUtilisationOf(b, load) <= s.cfg.Relief
}

func newState(m Model, cfg Config) *state {
	s := &state{cfg: cfg, tiers: map[domain.Tier]*tier{}, plan: Plan{Sequence: m.Sequence}}
	type key struct{ node, disk string }
	index := map[key]int{}
	zones, regions := map[string]int{}, map[string]int{}
	number := func(m map[string]int, name string) int {
		n, ok := m[name]
		if !ok {
			n = len(m)
			m[name] = n
		}
		return n
	}
	for ni, n := range m.Nodes {
		for _, d := range n.Disks {
			index[key{n.ID, d.ID}] = len(s.disks)
			s.disks = append(s.disks, disk{
				loc:  Location{NodeID: n.ID, DiskID: d.ID},
				node: ni, zone: number(zones, n.Zone), region: number(regions, n.Region),
				tier: d.Tier, state: n.State,
				capability: vec{d.IOPS, d.Bps, float64(d.CapacityBytes)},
				limit:      domain.Reservable(d.CapacityBytes, cfg.Overcommit),
				pos:        -1,
				joining:    n.Joining,
			})
		}
	}
	s.vols = make([]vol, len(m.Volumes))
	for vi := range m.Volumes {
		v := &m.Volumes[vi]
		s.vols[vi].v = v
		for _, r := range v.Replicas {
			di, ok := index[key{r.NodeID, r.DiskID}]
			if !ok {
				di = -1
			}
			ri := len(s.reps)
			s.reps = append(s.reps, rep{id: r.ID, vol: vi, disk: di,
				load: vec{r.Load.IOPS(), r.Load.Bps(), float64(v.SizeBytes)}})
			s.vols[vi].reps = append(s.vols[vi].reps, ri)
			if di >= 0 {
				d := &s.disks[di]
				d.reps = append(d.reps, ri)
				d.used += v.SizeBytes
				d.load = d.load.plus(s.reps[ri].load)
			}
		}
	}
	// Each tier's means: all the load its disks carry (what down nodes
	// lost is re-created elsewhere) over what its up disks can bear.
	total := map[domain.Tier]*[2]vec{}
	for i := range s.disks {
		d := &s.disks[i]
		t := total[d.tier]
		if t == nil {
			t = &[2]vec{}
			total[d.tier] = t
		}
		t[0] = t[0].plus(d.load)
		if d.carries() {
			t[1] = t[1].plus(d.capability)
		}
	}
	w := vec{cfg.Weights.IOPS, cfg.Weights.Bps, cfg.Weights.Capacity}
	for tr, t := range total {
		tt := &tier{}
		for r := range nResources {
			load, capability := t[0][r], t[1][r]
			if load > 0 && capability > 0 {
				tt.mean[r] = load / capability
				tt.k[r] = w[r] * capability / (load * load)
			}
		}
		s.tiers[tr] = tt
	}
	for i := range s.disks {
		d := &s.disks[i]
		d.t = s.tiers[d.tier]
		if d.carries() {
			d.t.order = append(d.t.order, i)
		}
		d.t.joining = d.t.joining || d.joining && d.state == domain.NodeUp
	}
	for _, t := range s.tiers {
		slices.SortStableFunc(t.order, func(a, b int) int { return cmpFloat(s.pressure(a), s.pressure(b)) })
		for p, di := range t.order {
			s.disks[di].pos = p
		}
	}
	return s
}

func (a vec) plus(b vec) vec {
	for r := range a {
		a[r] += b[r]
	}
	return a
}

func (a vec) minus(b vec) vec {
	for r := range a {
		a[r] -= b[r]
	}
	return a
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// pressureOf is how utilised a disk carrying load would be against its
// tier's mean, for its busier resource of I/O operations and bytes per
// second: 1 is the mean. Capacity is not in it: a disk is no hotspot for
// holding more bytes than another while both have room (the ceiling
// bounds that), though capacity headroom counts in the objective.
func (s *state) pressureOf(d *disk, load vec) float64 {
	t := d.t
	p := 0.0
	for r := range rBytes {
		if t.k[r] == 0 || load[r] == 0 {
			continue
		}
		if d.capability[r] == 0 {
			return math.Inf(1)
		}
		p = max(p, load[r]/d.capability[r]/t.mean[r])
	}
	return p
}

func (s *state) pressure(di int) float64 { d := &s.disks[di]; return s.pressureOf(d, d.load) }

// busiest is the disk's highest utilisation of a resource the objective
// weighs.
func (s *state) busiest(di int) float64 {
	d := &s.disks[di]
	u := 0.0
	for res := range nResources {
		if d.t.k[res] > 0 && d.capability[res] > 0 {
			u = max(u, d.load[res]/d.capability[res])
		}
	}
	return u
}

// fits tells whether replica ri may move to disk bi under the hard
// constraints: an up node, the volume's tier, room, and no other replica of
// the volume in the same domain at its spread level (or on the same node).
func (s *state) fits(ri, bi int) bool {
	r, b := &s.reps[ri], &s.disks[bi]
	v := s.vols[r.vol].v
	if b.state != domain.NodeUp || b.tier != v.Tier || r.disk == bi {
		return false
	}
	if r.disk >= 0 && s.disks[r.disk].node == b.node {
		// A move is a new replica beside the old one until the cut-over:
		// never two of one volume on a node.
		return false
	}
	if b.used > b.limit || b.limit-b.used < v.SizeBytes {
		return false
	}
	for _, oi := range s.vols[r.vol].reps {
		if oi == ri || s.reps[oi].disk < 0 {
			continue
		}
		o := &s.disks[s.reps[oi].disk]
		if o.node == b.node ||
			v.Spread >= domain.SpreadZone && o.zone == b.zone ||
			v.Spread >= domain.SpreadRegion && o.region == b.region {
			return false
		}
	}
	return true
}

// underCeiling tells whether disk b stays at or below the capacity ceiling
// with size more bytes.
func (s *state) underCeiling(b *disk, size uint64) bool {
	return float64(b.used)+float64(size) <= s.cfg.CapacityCeiling*b.capability[rBytes]
}

// raisesMost tells whether disk b carrying load would be more utilised, in
// some resource, than any disk of its tier was before the plan.
func (s *state) raisesMost(b *disk, load vec) bool {
	t := b.t
	for r := range rBytes {
		if load[r] > 0 && load[r] > t.most[r]*b.capability[r] {
			return true
		}
	}
	return false
}

// weight is what replica ri's own load costs the objective on disks a
// (where it is) and bi together: moving it gains the difference of their
// utilisations less this, so a gain of less than a share of it is a move
// between disks about as utilised as each other, which the next pass could
// as well undo.
func (s *state) weight(ri, bi int) float64 {
	r, b := &s.reps[ri], &s.disks[bi]
	a := &s.disks[r.disk]
	t := b.t
	w := 0.0
	for res := range nResources {
		if t.k[res] == 0 || r.load[res] == 0 || a.capability[res] == 0 || b.capability[res] == 0 {
			continue
		}
		w += t.k[res] * r.load[res] * r.load[res] * (1/a.capability[res] + 1/b.capability[res])
	}
	return w
}

// gain is how much moving replica ri to disk bi cuts the objective: for
// each resource, k·[(La² − (La−l)²)/Ca − ((Lb+l)² − Lb²)/Cb], the source's
// part only while it carries load.
func (s *state) gain(ri, bi int) float64 {
	r := &s.reps[ri]
	b := &s.disks[bi]
	var a *disk
	if r.disk >= 0 && s.disks[r.disk].carries() {
		a = &s.disks[r.disk]
	}
	t := b.t
	g := 0.0
	for res := range nResources {
		l := r.load[res]
		if t.k[res] == 0 || l == 0 {
			continue
		}
		if b.capability[res] == 0 {
			return math.Inf(-1)
		}
		g -= t.k[res] * (2*b.load[res]*l + l*l) / b.capability[res]
		if a != nil && a.capability[res] > 0 {
			g += t.k[res] * (2*a.load[res]*l - l*l) / a.capability[res]
		}
	}
	return g
}

// forced moves the replicas that must leave where they are: lost with a
// down node, on a draining node, or on a disk above the capacity ceiling.
func (s *state) forced() {
	for vi := range s.vols {
		for _, ri := range s.vols[vi].reps {
			di := s.reps[ri].disk
			if di < 0 {
				continue
			}
			switch s.disks[di].state {
			case domain.NodeDown:
				if s.healthyPeers(ri) == 0 {
					s.strand(ri, ReasonNodeDown) // no copy left to rebuild from
					continue
				}
				s.forceMove(ri, ReasonNodeDown)
			case domain.NodeDraining:
				s.forceMove(ri, ReasonDrain)
			}
		}
	}
	for di := range s.disks {
		d := &s.disks[di]
		if !d.carries() {
			continue
		}
		for float64(d.used) > s.cfg.CapacityCeiling*d.capability[rBytes] && len(s.plan.Moves) < s.cfg.MaxMoves {
			ri, bi, ok := s.bestOff(di, true, func(ri, bi int) bool {
				return s.underCeiling(&s.disks[bi], s.vols[s.reps[ri].vol].v.SizeBytes) &&
					!s.vols[s.reps[ri].vol].v.CoolingDown
			})
			if !ok {
				// Reported once, by the largest replica that could have
				// made room.
				if c := s.candidates(d, true); len(c) > 0 {
					s.strand(slices.MaxFunc(c, func(x, y int) int {
						return cmpFloat(s.reps[x].load[rBytes], s.reps[y].load[rBytes])
					}), ReasonCapacity)
				}
				break
			}
			s.apply(ri, bi, ReasonCapacity)
		}
	}
}

// healthyPeers counts the other replicas of ri's volume on nodes not down.
func (s *state) healthyPeers(ri int) int {
	n := 0
	for _, oi := range s.vols[s.reps[ri].vol].reps {
		if oi != ri && s.reps[oi].disk >= 0 && s.disks[s.reps[oi].disk].state != domain.NodeDown {
			n++
		}
	}
	return n
}

// forceMove moves replica ri to the target that costs the objective least,
// under the ceiling if any target is.
func (s *state) forceMove(ri int, why Reason) {
	if len(s.plan.Moves) >= s.cfg.MaxMoves {
		s.strand(ri, why)
		return
	}
	size := s.vols[s.reps[ri].vol].v.SizeBytes
	best, bestGain, bestUnder := -1, math.Inf(-1), false
	t := s.tiers[s.vols[s.reps[ri].vol].v.Tier]
	if t != nil {
		tried := 0
		for _, bi := range t.order {
			if !s.fits(ri, bi) {
				continue
			}
			under := s.underCeiling(&s.disks[bi], size)
			g := s.gain(ri, bi)
			if under && !bestUnder || under == bestUnder && g > bestGain {
				best, bestGain, bestUnder = bi, g, under
			}
			if tried++; tried >= targetsTried && bestUnder {
				break
			}
		}
	}
	if best < 0 {
		s.strand(ri, why)
		return
	}
	s.apply(ri, best, why)
}

func (s *state) strand(ri int, why Reason) {
	r := &s.reps[ri]
	st := Stranded{VolumeID: s.vols[r.vol].v.ID, ReplicaID: r.id, Reason: why}
	if r.disk >= 0 {
		st.At = s.disks[r.disk].loc
	}
	s.plan.Stranded = append(s.plan.Stranded, st)
}

// bestOff finds the move off disk ai with the most gain per byte copied
// among its replicas and the least utilised disks of its tier that pass
// ok. A shed (for capacity) takes the best move even if it costs the
// objective; otherwise found is false when no move cuts it.
func (s *state) bestOff(ai int, shed bool, ok func(ri, bi int) bool) (ri, bi int, found bool) {
	a := &s.disks[ai]
	t := s.tiers[a.tier]
	if t == nil {
		return 0, 0, false
	}
	bestScore := 0.0
	if shed {
		bestScore = math.Inf(-1)
	}
	for _, r := range s.candidates(a, shed) {
		tried := 0
		for _, b := range t.order {
			if tried >= targetsTried {
				break
			}
			if !s.fits(r, b) {
				continue
			}
			if tried++; !ok(r, b) {
				continue
			}
			g := s.gain(r, b)
			if g <= 0 && !shed {
				continue
			}
			score := g / float64(s.vols[s.reps[r].vol].v.SizeBytes+1)
			if score > bestScore {
				ri, bi, found, bestScore = r, b, true, score
			}
		}
	}
	return ri, bi, found
}

// replicasTried is how many of a disk's replicas a move off it considers:
// those that carry the most of its busiest resource per byte, or for a
// shed the largest, which are the moves that gain the most per byte copied.
const replicasTried = 24

// candidates returns the replicas of disk a worth trying to move, in
// s.scratch: all when few, else the replicasTried best.
func (s *state) candidates(a *disk, shed bool) []int {
	c := s.scratch[:0]
	for _, r := range a.reps {
		if !s.reps[r].moved {
			c = append(c, r)
		}
	}
	if len(c) > replicasTried {
		res := rIOPS
		if a.t.k[rBps] > 0 && a.t.mean[rBps] > 0 && a.capability[rBps] > 0 && a.capability[rIOPS] > 0 &&
			a.load[rBps]/a.capability[rBps]/a.t.mean[rBps] > a.load[rIOPS]/a.capability[rIOPS]/a.t.mean[rIOPS] {
			res = rBps
		}
		key := func(r int) float64 {
			if shed {
				return s.reps[r].load[rBytes]
			}
			return s.reps[r].load[res] / (s.reps[r].load[rBytes] + 1)
		}
		// The best replicasTried by key, best first, ties in the disk's
		// order: a bounded insertion, not a sort of the whole disk (which
		// holds thousands of replicas in a large fleet).
		top := s.topScratch[:0]
		for _, r := range c {
			k := key(r)
			if len(top) == replicasTried && k <= top[len(top)-1].key {
				continue
			}
			i, _ := slices.BinarySearchFunc(top, k, func(e keyed, k float64) int {
				if e.key >= k {
					return -1 // e stays ahead of k: ties keep the earlier
				}
				return 1
			})
			if len(top) < replicasTried {
				top = append(top, keyed{})
			}
			copy(top[i+1:], top[i:len(top)-1])
			top[i] = keyed{key: k, rep: r}
		}
		c = c[:len(top)]
		for i, e := range top {
			c[i] = e.rep
		}
		s.topScratch = top
	}
	s.scratch = c
	return c
}

// rebalance moves replicas off the disks above their tier's mean, the most
// utilised first, onto the least utilised, until every disk is inside the
// band or no move gains enough.
func (s *state) rebalance() {
	tiers := make([]domain.Tier, 0, len(s.tiers))
	for t := range s.tiers {
		tiers = append(tiers, t)
	}
	slices.Sort(tiers)
	for _, tr := range tiers {
		t := s.tiers[tr]
		for _, di := range t.order {
			d := &s.disks[di]
			for r := range nResources {
				if d.capability[r] > 0 {
					t.most[r] = max(t.most[r], d.load[r]/d.capability[r])
				}
			}
		}
		// A disk with no move off it may have one once others shed load
		// and became targets: rounds go on while the last one moved.
		for len(s.plan.Moves) < s.cfg.MaxMoves && s.rebalanceRound(t) {
			for _, di := range t.order {
				s.disks[di].stuck = false
			}
		}
	}
}

// rebalanceRound makes moves in tier t until every disk above the mean is
// inside the band or has no move off it, and tells whether it made any.
func (s *state) rebalanceRound(t *tier) (movedAny bool) {
	hi, lo := 1+s.cfg.Band, 1-s.cfg.Band
	for len(s.plan.Moves) < s.cfg.MaxMoves {
		moved := false
		for p := len(t.order) - 1; p >= 0; p-- {
			ai := t.order[p]
			pa := s.pressure(ai)
			if pa <= 1 || pa <= hi && s.pressure(t.order[0]) >= lo {
				break // nothing above the mean left, or all inside the band
			}
			if s.disks[ai].stuck || s.busiest(ai) < s.cfg.Floor {
				continue
			}
			ri, bi, ok := s.bestOff(ai, false, func(ri, bi int) bool {
				r, b := &s.reps[ri], &s.disks[bi]
				if s.vols[r.vol].v.CoolingDown || !s.underCeiling(b, s.vols[r.vol].v.SizeBytes) {
					return false
				}
				if b.t.joining && !b.joining {
					return false // new nodes first: no trading among the old
				}
				if pa <= hi && s.pressure(bi) >= lo {
					return false // both inside the band: nothing worth a copy
				}
				load := b.load.plus(r.load)
				if after := s.pressureOf(b, load); after >= pa || s.raisesMost(b, load) ||
					after > hi && !s.relieves(&s.disks[ai], b, load) {
					return false // it would make a new hotspot, or swap one
				}
				return s.gain(ri, bi) >= s.cfg.MinGain*s.weight(ri, bi)
			})
			if !ok {
				s.disks[ai].stuck = true
				continue
			}
			s.apply(ri, bi, ReasonBalance)
			moved, movedAny = true, true
			break
		}
		if !moved {
			return movedAny
		}
	}
	return movedAny
}

// apply records the move of replica ri to disk bi and updates the model.
func (s *state) apply(ri, bi int, why Reason) {
	r := &s.reps[ri]
	v := &s.vols[r.vol]
	b := &s.disks[bi]
	m := Move{VolumeID: v.v.ID, ReplicaID: r.id, To: b.loc, Bytes: v.v.SizeBytes, Reason: why, Gain: s.gain(ri, bi)}
	s.from = append(s.from, r.disk)
	if r.disk >= 0 {
		a := &s.disks[r.disk]
		m.From = a.loc
		a.reps = slices.DeleteFunc(a.reps, func(x int) bool { return x == ri })
		a.used -= v.v.SizeBytes
		a.load = a.load.minus(r.load)
		s.reorder(r.disk)
	}
	r.disk = bi
	b.reps = append(b.reps, ri)
	b.used += v.v.SizeBytes
	b.load = b.load.plus(r.load)
	s.reorder(bi)
	r.moved = true
	s.plan.Moves = append(s.plan.Moves, m)
	s.plan.BytesToCopy += m.Bytes
}

// reorder puts disk di back in its place in its tier's order after its
// load changed.
func (s *state) reorder(di int) {
	d := &s.disks[di]
	if d.pos < 0 {
		return
	}
	t := s.tiers[d.tier]
	o := slices.Delete(t.order, d.pos, d.pos+1)
	p := s.pressure(di)
	at, _ := slices.BinarySearchFunc(o, p, func(x int, p float64) int { return cmpFloat(s.pressure(x), p) })
	t.order = slices.Insert(o, at, di)
	for i := min(at, d.pos); i < len(t.order); i++ {
		s.disks[t.order[i]].pos = i
	}
}

// balance measures each resource's utilisation over the disks that carry
// load (up and cordoned nodes).
func (s *state) balance() Balance {
	var load, capability, most vec
	for i := range s.disks {
		d := &s.disks[i]
		if !d.carries() {
			continue
		}
		for r := range nResources {
			load[r] += d.load[r]
			capability[r] += d.capability[r]
			if d.capability[r] > 0 {
				most[r] = max(most[r], d.load[r]/d.capability[r])
			}
		}
	}
	u := func(r int) Utilisation {
		if capability[r] == 0 {
			return Utilisation{}
		}
		return Utilisation{Max: most[r], Mean: load[r] / capability[r]}
	}
	return Balance{IOPS: u(rIOPS), Bps: u(rBps), Capacity: u(rBytes)}
}
