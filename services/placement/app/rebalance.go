package app

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"ballast.dev/services/placement/balance"
)

// Rebalancer runs the planner now and then and admits the moves it
// proposes for balance and capacity (the drainer sees to drained and down
// nodes), a few at a time: the next pass plans again on the cluster those
// moves left. Each move is admitted against the model as it is then, so a
// move of a plan the cluster has moved on from is refused, not applied.
type Rebalancer struct {
	Planner  Planner
	Mover    Mover
	Holdings AllHoldings
	// PerPass bounds the moves one pass admits (default 16).
	PerPass int
	// MaxInFlight bounds the volumes with a move under way (default 32,
	// the migration service's global limit): a pass admits only what
	// brings them up to it, so moves never queue up faster than they
	// complete.
	MaxInFlight int
	// Cooldown is how long a volume that moved stays put (default 10
	// minutes).
	Cooldown time.Duration
	Now      func() time.Time
	Log      *slog.Logger
	// Hot, when it has a value, asks for a pass now: a hotspot appeared.
	Hot chan struct{}
	// Hotspots counts the nodes that are hotspots now: while there are
	// any, passes come every HotEvery (default 5 s), since the moves of
	// one pass may not be all it takes, and the loads a pass sees may be
	// a window behind the hotspot.
	Hotspots func() int
	HotEvery time.Duration
	// IsHot, when set, tells whether a node is a hotspot now: a balance
	// move off one that the plan relieves is recorded as shedding a
	// hotspot, and does not wait behind routine moves.
	IsHot func(nodeID string) bool
	// ReliefBar, when set, is the utilisation a hot node must fall under
	// to stop being one (default balance.DefaultRelief): the plan relieves it
	// if it leaves the node's disk under that, or takes PartialRelief of
	// its utilisation off. Moves off a hot disk that one replica keeps hot
	// whatever moves, taking little off it, are routine balancing.
	ReliefBar func(nodeID string) float64
	// UpNodes, when set, lists the nodes that take replicas. A node up
	// for the first time since the rebalancer started (it joined, or was
	// cordoned until now) is joining: a pass comes at the next tick, so it
	// takes its share in seconds, and for JoinWindow (default 10 minutes)
	// balance moves go onto joining nodes only.
	UpNodes    func() []string
	JoinWindow time.Duration
	// joined is when each node joined, as this process saw it.
	joined *joins
	// relieved are the hot nodes the last pass found or left with a move
	// under way off them.
	relieved *nodeSet
}

// nodeSet is a set of node ids (those counted above 0), safe for
// concurrent use.
type nodeSet struct {
	mu  sync.Mutex
	ids map[string]int
}

func (s *nodeSet) set(ids map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids = ids
}

func (s *nodeSet) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids[id] > 0
}

// joins remembers which nodes joined while the rebalancer ran.
type joins struct {
	mu   sync.Mutex
	seen map[string]bool
	at   map[string]time.Time
}

// observe records the nodes up now and returns those that joined: new
// since the last look and, if empty is given, holding no replica while
// others hold some. The first look that finds nodes learns the fleet: only
// those empty says are empty join then (nodes that came up in a cluster
// with data before the rebalancer's first look), and with no empty none do
// (the fleet as the rebalancer starts, whose holdings may still be loading).
func (j *joins) observe(ids []string, now time.Time, empty func(id string) bool) (joined []string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.seen == nil {
		j.seen, j.at = map[string]bool{}, map[string]time.Time{}
	}
	first := len(j.seen) == 0
	for _, id := range ids {
		if !j.seen[id] {
			j.seen[id] = true
			if empty != nil && empty(id) || empty == nil && !first {
				j.at[id] = now
				joined = append(joined, id)
			}
		}
	}
	return joined
}

// meet records an up node a pass found, which may have come up since the
// last look: it joins as observe would have it. Before the first look
// learned the fleet, no node is new.
func (j *joins) meet(id string, now time.Time, empty func(id string) bool) (joined bool) {
	j.mu.Lock()
	known := len(j.seen) == 0 || j.seen[id]
	j.mu.Unlock()
	return !known && len(j.observe([]string{id}, now, empty)) > 0
}

// joining tells whether id joined within window of now.
func (j *joins) joining(id string, now time.Time, window time.Duration) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	at, ok := j.at[id]
	return ok && now.Sub(at) < window
}

// NewRebalancer readies r to run, and to show operators the plan its next
// pass would make.
func NewRebalancer(r Rebalancer) *Rebalancer {
	if r.UpNodes != nil {
		r.joined = &joins{}
	}
	r.relieved = &nodeSet{}
	return &r
}

// Relieving tells whether the last pass found or left a move under way off
// node, a hot node: a pass for news of it (a new load summary) can wait for
// the next tick.
func (r Rebalancer) Relieving(node string) bool {
	return r.relieved != nil && r.relieved.has(node)
}

// Planning is the planner as the next pass runs it: volumes that moved
// within the cooldown stay put, and balance moves go onto joining nodes
// first. A dry run on it shows the moves the rebalancer would make.
func (r Rebalancer) Planning() Planner {
	cooldown := r.Cooldown
	if cooldown <= 0 {
		cooldown = 10 * time.Minute
	}
	p := r.Planner
	now := r.Now()
	p.Cooling = func(h Held) bool { return !h.LastMoved.IsZero() && now.Sub(h.LastMoved) < cooldown }
	if r.joined != nil {
		p.Joining = r.joining(now)
	}
	return p
}

// Pass plans and admits; it returns how many moves it admitted. Routine
// moves (balance, capacity) go up to MaxInFlight under way; moves off a
// node hot now do not wait behind them: each hot node may have HotPerNode
// under way, a node nothing relieves yet first.
func (r Rebalancer) Pass(ctx context.Context) (int, error) {
	perPass, maxInFlight := r.PerPass, r.MaxInFlight
	if perPass <= 0 {
		perPass = 16
	}
	if maxInFlight <= 0 {
		maxInFlight = 32
	}
	all := r.Holdings.HeldAll()
	routineInFlight := 0
	relieving := map[string]int{} // hot node → its moves off it under way
	for _, h := range all {
		switch {
		case len(h.Set) <= h.Replicas:
		case h.MovingKind == MoveHotspot:
			relieving[h.MovingFrom]++
		default:
			routineInFlight++
		}
	}
	hot := r.Hotspots != nil && r.Hotspots() > 0 && r.IsHot != nil
	room := maxInFlight - routineInFlight
	if r.relieved != nil {
		// What the pass leaves under way (it adds the moves it admits).
		defer r.relieved.set(relieving)
	}
	if room <= 0 && (!hot || r.allRelieving(relieving)) {
		return 0, nil // the moves under way first: the next pass plans on what they left
	}
	plan, _, err := r.Planning().Plan(ctx, WhatIf{})
	if err != nil {
		return 0, err
	}
	relieves := r.relieves
	if !hot {
		relieves = nil
	}
	moves, offHot := admissible(plan.Moves, relieves, relieving)
	if hot {
		r.Log.Debug("rebalance pass while nodes are hot", "hot", r.Hotspots(), "planned", len(plan.Moves), "off_hot", offHot,
			"routine_in_flight", routineInFlight, "relieving", len(relieving))
	}
	routine := max(0, min(perPass, room))
	held := make(map[string]Held, len(all))
	for _, h := range all {
		held[h.VolumeID] = h
	}
	admittedHot, admittedRoutine := 0, 0
	moving := map[string]bool{}
	for i, mv := range moves {
		offHotMove := i < offHot
		if offHotMove && (admittedHot >= perPass || relieving[mv.From.NodeID] >= HotPerNode) {
			continue
		}
		if !offHotMove && admittedRoutine >= routine {
			break
		}
		h, ok := held[mv.VolumeID]
		if !ok || len(h.Set) > h.Replicas || moving[mv.VolumeID] {
			continue // one move of a volume at a time
		}
		var src Replica
		for _, rep := range h.Set {
			if rep.ID == mv.ReplicaID {
				src = rep
			}
		}
		if src.ID == "" {
			continue
		}
		_, err := r.Mover.Move(ctx, MoveReplica{
			RequestID:  fmt.Sprintf("rebalance:%d:%s", plan.Sequence, mv.ReplicaID),
			VolumeID:   h.VolumeID,
			VolumeName: h.Name,
			Source:     src,
			ToNode:     mv.To.NodeID,
			Tier:       h.Tier,
			Spread:     h.Spread,
			Reason:     "rebalance (" + mv.Reason.String() + ")",
			Kind:       r.kind(mv),
			Gain:       mv.Gain,
		})
		if err != nil {
			r.Log.Info("planned move not admitted", "volume", h.Name, "replica", mv.ReplicaID, "to", mv.To.NodeID, "err", err)
			continue
		}
		moving[mv.VolumeID] = true
		if offHotMove {
			admittedHot++
			relieving[mv.From.NodeID]++
		} else {
			admittedRoutine++
		}
	}
	return admittedHot + admittedRoutine, nil
}

// allRelieving tells whether every hot node has HotPerNode moves under way
// off it, given the moves under way off each node: a pass could admit none.
func (r Rebalancer) allRelieving(relieving map[string]int) bool {
	n := 0
	for node, k := range relieving {
		if k >= HotPerNode && r.IsHot(node) {
			n++
		}
	}
	return n >= r.Hotspots()
}

// HotPerNode bounds the moves under way off one hot node. The loads a pass
// plans on do not show what moves under way will take off it, so without
// a bound each pass would add more; with it, the next moves are planned on
// what the first left.
const HotPerNode = 2

// relieves tells whether mv is a move off a hot node that the plan leaves
// under the bar to clear, or at least PartialRelief less utilised.
func (r Rebalancer) relieves(mv balance.Move) bool {
	if r.IsHot == nil || !r.IsHot(mv.From.NodeID) {
		return false
	}
	bar := 0.0
	if r.ReliefBar != nil {
		bar = r.ReliefBar(mv.From.NodeID)
	}
	if bar <= 0 {
		bar = balance.DefaultRelief
	}
	// Or the plan takes a good part of the disk's load off, though not
	// enough to clear it (a replica made busier than any disk bears): it
	// sheds what can go, as fast as it can.
	return mv.SourceAfter < bar || mv.SourceAfter <= (1-PartialRelief)*mv.SourceBefore
}

// PartialRelief is the share of a hot disk's utilisation a plan must take
// off it for its moves to count as relief when it cannot clear the disk.
const PartialRelief = 0.2

// admissible orders a plan's balance and capacity moves for admission: moves
// that relieve a hot node first, then the rest in the plan's order; of a
// volume, only its first move in the plan. Among
// those, a node's k-th move in the plan comes after every node's (k-1)-th,
// counting the moves under way off it (relieving), so that a new hotspot's
// first move goes before another move off one being relieved. relieves may
// be nil: no node is hot.
func admissible(plan []balance.Move, relieves func(balance.Move) bool, relieving map[string]int) (moves []balance.Move, offHot int) {
	var rest []balance.Move
	var rank []int
	seen := map[string]int{}
	planned := map[string]bool{} // volumes with a move earlier in the plan
	for _, mv := range plan {
		later := planned[mv.VolumeID]
		planned[mv.VolumeID] = true
		switch {
		case later:
			// The plan moved another replica of the volume first, and
			// chose this one's target on what that left (a zone it
			// emptied): alone it may break the spread. A volume moves
			// one replica at a time; the next pass plans the rest.
		case mv.Reason != balance.ReasonBalance && mv.Reason != balance.ReasonCapacity:
		case relieves != nil && relieves(mv):
			rank = append(rank, relieving[mv.From.NodeID]+seen[mv.From.NodeID])
			seen[mv.From.NodeID]++
			moves = append(moves, mv)
		default:
			rest = append(rest, mv)
		}
	}
	idx := make([]int, len(moves))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(rank[a], rank[b]) })
	ordered := make([]balance.Move, 0, len(moves)+len(rest))
	for _, i := range idx {
		ordered = append(ordered, moves[i])
	}
	return append(ordered, rest...), len(moves)
}

// joining tells which up nodes are joining at now. A node the planner finds
// that no look has seen yet (it registered since the last) is judged there
// and then, so that the pass it first shows up in does not trade among the
// old nodes, nor fill it without it counting as joining.
func (r Rebalancer) joining(now time.Time) func(id string) bool {
	window := r.joinWindow()
	empty := r.emptyIn()
	return func(id string) bool {
		if r.joined.meet(id, now, empty) {
			r.Log.Info("node joined: balance moves go onto the joining nodes first", "node", id, "for", window)
		}
		return r.joined.joining(id, now, window)
	}
}

// joinWindow is how long a node that joined counts as joining.
func (r Rebalancer) joinWindow() time.Duration {
	if r.JoinWindow <= 0 {
		return 10 * time.Minute
	}
	return r.JoinWindow
}

// emptyIn tells, computed once when first asked, whether a node holds no
// replica while others hold some: a node that joins a cluster with data. The
// nodes of a fresh cluster, registering one after another, are not joining.
func (r Rebalancer) emptyIn() func(id string) bool {
	var held map[string]int
	return func(id string) bool {
		if held == nil {
			held = map[string]int{}
			for _, h := range r.Holdings.HeldAll() {
				for _, rep := range h.Set {
					held[rep.NodeID]++
				}
			}
		}
		return len(held) > 0 && held[id] == 0
	}
}

// kind is the kind of a planned move.
func (r Rebalancer) kind(mv balance.Move) MoveKind {
	switch {
	case mv.Reason == balance.ReasonCapacity:
		return MoveCapacity
	case r.relieves(mv):
		return MoveHotspot
	}
	return MoveBalance
}

// observeJoins looks at the nodes up now, logs those that joined, and tells
// whether any did.
func (r Rebalancer) observeJoins() bool {
	if r.joined == nil {
		return false
	}
	window := r.joinWindow()
	ids := r.joined.observe(r.UpNodes(), r.Now(), r.emptyIn())
	if len(ids) > 0 {
		r.Log.Info("nodes joined: balance moves go onto the joining nodes first", "nodes", ids, "for", window)
	}
	return len(ids) > 0
}

// Run passes every interval until ctx ends. A Rebalancer made by
// NewRebalancer tells joining nodes.
func (r Rebalancer) Run(ctx context.Context, every time.Duration) {
	hotEvery := r.HotEvery
	if hotEvery <= 0 {
		hotEvery = 5 * time.Second
	}
	t := time.NewTicker(min(every, hotEvery))
	defer t.Stop()
	last := time.Now()
	if r.joined != nil {
		r.joined.observe(r.UpNodes(), r.Now(), nil) // the fleet as it starts: none of it is joining
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.Hot:
		case <-t.C:
			hot := r.Hotspots != nil && r.Hotspots() > 0
			joined := r.observeJoins()
			if !hot && !joined && time.Since(last) < every {
				continue
			}
		}
		last = time.Now()
		r.observeJoins() // a hotspot's pass sees who joined too
		n, err := r.Pass(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			r.Log.Warn("rebalance pass failed", "err", err)
		case n > 0:
			r.Log.Info("rebalance moves admitted", "moves", n)
		}
	}
}
