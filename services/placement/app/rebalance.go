package app

import (
	"context"
	"fmt"
	"log/slog"
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
	// move off one is recorded as shedding a hotspot.
	IsHot func(nodeID string) bool
	// UpNodes, when set, lists the nodes that take replicas. A node up
	// for the first time since the rebalancer started (it joined, or was
	// cordoned until now) is joining: a pass comes at the next tick, so it
	// takes its share in seconds, and for JoinWindow (default 10 minutes)
	// balance moves go onto joining nodes only.
	UpNodes    func() []string
	JoinWindow time.Duration
	// joined is when each node joined, as this process saw it.
	joined *joins
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
	return &r
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

// Pass plans and admits; it returns how many moves it admitted.
func (r Rebalancer) Pass(ctx context.Context) (int, error) {
	perPass, maxInFlight := r.PerPass, r.MaxInFlight
	if perPass <= 0 {
		perPass = 16
	}
	if maxInFlight <= 0 {
		maxInFlight = 32
	}
	all := r.Holdings.HeldAll()
	inFlight := 0
	for _, h := range all {
		if len(h.Set) > h.Replicas {
			inFlight++
		}
	}
	hot := r.Hotspots != nil && r.Hotspots() > 0 && r.IsHot != nil
	if maxInFlight-inFlight <= 0 && !hot {
		return 0, nil // the moves under way first: the next pass plans on what they left
	}
	plan, _, err := r.Planning().Plan(ctx, WhatIf{})
	if err != nil {
		return 0, err
	}
	isHot := r.IsHot
	if !hot {
		isHot = nil
	}
	moves, offHot := admissible(plan.Moves, isHot)
	routine, hotLimit := admissions(perPass, maxInFlight-inFlight)
	held := make(map[string]Held, len(all))
	for _, h := range all {
		held[h.VolumeID] = h
	}
	admitted := 0
	moving := map[string]bool{}
	for i, mv := range moves {
		limit := routine
		if i < offHot {
			limit = hotLimit
		}
		if admitted >= limit {
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
			Kind:       r.kind(mv.Reason, src.NodeID),
			Gain:       mv.Gain,
		})
		if err != nil {
			r.Log.Info("planned move not admitted", "volume", h.Name, "replica", mv.ReplicaID, "to", mv.To.NodeID, "err", err)
			continue
		}
		moving[mv.VolumeID] = true
		admitted++
	}
	return admitted, nil
}

// HotReserve is how many moves off hotspots may be under way beyond the
// in-flight bound: a hotspot does not wait behind routine balancing.
const HotReserve = 8

// admissible orders a plan's balance and capacity moves for admission: moves
// off a node hot now first, in the plan's order, then the rest. isHot may be
// nil: no node is hot.
func admissible(plan []balance.Move, isHot func(nodeID string) bool) (moves []balance.Move, offHot int) {
	var rest []balance.Move
	for _, mv := range plan {
		switch {
		case mv.Reason != balance.ReasonBalance && mv.Reason != balance.ReasonCapacity:
		case isHot != nil && isHot(mv.From.NodeID):
			moves = append(moves, mv)
		default:
			rest = append(rest, mv)
		}
	}
	return append(moves, rest...), len(moves)
}

// admissions is how many moves a pass admits with room for room more under
// way: routine moves up to min(perPass, room), and moves off hotspots up to
// HotReserve beyond room.
func admissions(perPass, room int) (routine, offHot int) {
	routine = max(0, min(perPass, room))
	return routine, max(routine, min(perPass, room+HotReserve))
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

// kind is the kind of a planned move of a replica on node.
func (r Rebalancer) kind(why balance.Reason, node string) MoveKind {
	switch {
	case why == balance.ReasonCapacity:
		return MoveCapacity
	case r.IsHot != nil && r.IsHot(node):
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
