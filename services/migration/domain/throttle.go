package domain

import (
	"cmp"
	"fmt"
	"slices"
)

// Limits are the throttles on moves: how many at once in the cluster, into
// and out of one node, and the bandwidth all copies share.
type Limits struct {
	Global     int
	PerNodeIn  int
	PerNodeOut int
	// BandwidthBps is split evenly between the copies running; 0 is no
	// limit.
	BandwidthBps uint64
}

// DefaultLimits are limits an operator would accept on a fleet of a
// thousand nodes: a drain of one node runs two copies at a time, and moves
// take at most 8 GiB/s of the network between them, 8 MiB/s a node on
// average (CockroachDB lets each store send rebalancing snapshots at 32
// MiB/s). With 32 under way each copies at up to 256 MiB/s, inside an
// ssd's bandwidth; at 1 GiB/s each copied at 32 MiB/s, a GiB in half a
// minute, and a hotspot's relief waited minutes for a slot.
var DefaultLimits = Limits{Global: 32, PerNodeIn: 2, PerNodeOut: 2, BandwidthBps: 8 << 30}

// Validate refuses limits that would admit nothing.
func (l Limits) Validate() error {
	if l.Global < 1 || l.PerNodeIn < 1 || l.PerNodeOut < 1 {
		return fmt.Errorf("migration limits: global %d, per node in %d, out %d: each must be at least 1: %w", l.Global, l.PerNodeIn, l.PerNodeOut, ErrInvalidArgument)
	}
	return nil
}

// Admit chooses which queued moves start now, so that with the active
// moves none of the limits is exceeded. The most urgent kind goes first
// (see Kind.rank); within a kind, a move off a node with no move off it
// under way (a hotspot not yet relieved), then the oldest. Routine moves
// leave the last quarter of the global cap (Limits.Reserve) to urgent ones,
// so that a lost replica or a hotspot starts at once behind a long drain or
// a rebalance. A move that does not fit does not hold up others that do (a
// drain of one node does not stall moves elsewhere).
func Admit(queued, active []*Migration, l Limits) []*Migration {
	in, out := map[string]int{}, map[string]int{}
	n := 0
	for _, m := range active {
		if m.Step.Active() {
			n++
			in[m.Target.NodeID]++
			out[m.Source.NodeID]++
		}
	}
	order := slices.Clone(queued)
	slices.SortFunc(order, func(a, b *Migration) int {
		return cmp.Or(cmp.Compare(a.Kind.rank(), b.Kind.rank()),
			cmp.Compare(min(out[a.Source.NodeID], 1), min(out[b.Source.NodeID], 1)),
			a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
	routine := l.Global - l.Reserve()
	var start []*Migration
	for _, m := range order {
		if n >= l.Global {
			break
		}
		if !m.Kind.Urgent() && n >= routine {
			break // urgent ones sort first: only routine ones are left
		}
		if m.Step != StepQueued || in[m.Target.NodeID] >= l.PerNodeIn || out[m.Source.NodeID] >= l.PerNodeOut {
			continue
		}
		start = append(start, m)
		n++
		in[m.Target.NodeID]++
		out[m.Source.NodeID]++
	}
	return start
}

// Reserve is how many of the global cap's slots routine moves leave free
// for urgent ones: a quarter, none when the cap is 1.
func (l Limits) Reserve() int { return l.Global / 4 }

// Share is the bandwidth one of running copies may use.
func (l Limits) Share(running int) uint64 {
	if l.BandwidthBps == 0 || running < 1 {
		return l.BandwidthBps
	}
	return l.BandwidthBps / uint64(running)
}
