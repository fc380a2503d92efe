package balance

import (
	"slices"

	"ballast.dev/services/placement/domain"
)

// Bound is the fewest bytes any plan must copy to bring m as it stands
// within cfg's balance band and capacity ceiling: a lower bound to judge a
// plan's bytes against (Plan.BytesBound). Each byte moved leaves one disk
// and arrives at another, so the bound is the larger of two sums.
//
// What must leave, per disk the largest of
//   - all its bytes, if its node no longer carries load (draining, down);
//   - its bytes over the capacity ceiling;
//   - for I/O operations and for bytes per second, the bytes that must
//     leave it to bring its load down to (1+band) × its tier's mean
//     utilisation, if it is busy enough to be rebalanced at all (the
//     floor): its replicas taken by load per byte, the last one in part.
//     That is a fractional knapsack, which no set of whole moves beats.
//
// What must arrive, per tier with a disk over the band and for each
// resource: the load its up disks lack to reach (1-band) × the tier's mean,
// carried by the tier's replicas densest in load per byte first, each once,
// the last in part.
//
// It costs about as much as a plan; Propose does not compute it.
func Bound(m Model, cfg Config) uint64 {
	return newState(m, cfg.withDefaults()).bound()
}

func (s *state) bound() uint64 {
	leave, arrive := 0.0, 0.0
	var order []int
	over := map[*tier]bool{}
	for di := range s.disks {
		d := &s.disks[di]
		if !d.carries() {
			leave += float64(d.used)
			continue
		}
		need := float64(d.used) - s.cfg.CapacityCeiling*d.capability[rBytes]
		if s.busiest(di) >= s.cfg.Floor {
			for r := range rBytes {
				excess := d.load[r] - (1+s.cfg.Band)*d.t.mean[r]*d.capability[r]
				if excess <= 0 || d.t.k[r] == 0 {
					continue
				}
				over[d.t] = true
				order = append(order[:0], d.reps...)
				need = max(need, s.knapsack(order, r, excess))
			}
		}
		leave += max(need, 0)
	}
	for t := range over {
		var lack vec
		for _, di := range t.order {
			d := &s.disks[di]
			if d.state != domain.NodeUp {
				continue
			}
			for r := range rBytes {
				lack[r] += max(0, (1-s.cfg.Band)*t.mean[r]*d.capability[r]-d.load[r])
			}
		}
		order = order[:0]
		for _, di := range t.order {
			order = append(order, s.disks[di].reps...)
		}
		need := 0.0
		for r := range rBytes {
			if lack[r] > 0 && t.k[r] > 0 {
				need = max(need, s.knapsack(order, r, lack[r]))
			}
		}
		arrive += need
	}
	return uint64(max(leave, arrive))
}

// knapsack is the fewest bytes of the replicas reps (reordered) that carry
// load of resource r, whole replicas densest in load per byte first and the
// last in part.
func (s *state) knapsack(reps []int, r int, load float64) float64 {
	density := func(ri int) float64 { return s.reps[ri].load[r] / s.reps[ri].load[rBytes] }
	slices.SortFunc(reps, func(a, b int) int { return cmpFloat(density(b), density(a)) })
	bytes := 0.0
	for _, ri := range reps {
		if load <= 0 {
			break
		}
		l := s.reps[ri].load
		if l[r] <= 0 {
			break // the rest carry none of it
		}
		take := min(1, load/l[r])
		bytes += take * l[rBytes]
		load -= take * l[r]
	}
	return bytes
}
