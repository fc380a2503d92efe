package domain

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// listCap bounds how many names a message lists: an operator needs the
// shape of the shortage, not a thousand node IDs.
const listCap = 5

// tally counts, for one failure domain (or, with node spread, for all the
// nodes that failed), why its nodes were filtered out.
type tally struct {
	qualifies   bool
	counts      [numRejectKinds]int
	largestFree uint64
}

func (t *tally) add(rej rejection) {
	t.counts[rej.kind]++
	if rej.kind == RejectNoRoom {
		t.largestFree = max(t.largestFree, rej.largestFree)
	}
}

// list returns the counts as a decision records them: in kind order, only
// the kinds that rejected a node.
func (t *tally) list() []RejectCount {
	var out []RejectCount
	for k := RejectCordoned; k < numRejectKinds; k++ {
		if n := t.counts[k]; n > 0 {
			rc := RejectCount{Kind: k, Nodes: n}
			if k == RejectNoRoom {
				rc.LargestFreeBytes = t.largestFree
			}
			out = append(out, rc)
		}
	}
	return out
}

// causes renders the counts, most operator-actionable first: node states,
// then constraints of the volume, then space.
func (t *tally) causes(r *Request) string {
	var parts []string
	for k := RejectCordoned; k < numRejectKinds; k++ {
		n := t.counts[k]
		if n == 0 {
			continue
		}
		var s string
		switch k {
		case RejectCordoned:
			s = fmt.Sprintf("%d cordoned", n)
		case RejectDraining:
			s = fmt.Sprintf("%d draining", n)
		case RejectDown:
			s = fmt.Sprintf("%d down", n)
		case RejectHeld:
			s = fmt.Sprintf("%d already %s a replica", n, verb(n, "holds", "hold"))
		case RejectTopology:
			s = fmt.Sprintf("%d outside the allowed zones", n)
		case RejectSelector:
			s = fmt.Sprintf("%d without labels %s", n, labelString(r.NodeSelector))
		case RejectNoTier:
			s = fmt.Sprintf("%d without an %s disk", n, r.Tier)
		case RejectNoRoom:
			s = fmt.Sprintf("%d short of space (largest free %s)", n, formatBytes(t.largestFree))
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

func verb(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// labelString renders a selector as sorted k=v pairs.
func labelString(m map[string]string) string {
	keys := slices.Sorted(maps.Keys(m))
	for i, k := range keys {
		keys[i] = k + "=" + m[k]
	}
	return strings.Join(keys, ",")
}

// nameList joins names, eliding past listCap.
func nameList(names []string) string {
	if len(names) <= listCap {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:listCap], ", "), len(names)-listCap)
}

// shortage explains a failed placement: how many failure domains were
// needed, which qualified, and what every other domain lacked. It walks the
// nodes in c.order (node-ID order), which keeps the message deterministic,
// and runs the checks again rather than have Place keep every rejection on
// the path where placement succeeds.
func shortage(c *Cluster, f *feasibility, more bool) *PlacementError {
	r := f.r
	rejs := make([]rejection, len(c.order))
	for k, e := range c.order {
		_, rejs[k] = f.judge(&e.node)
	}
	have := fmt.Sprintf("an %s disk with %s free", r.Tier, formatBytes(r.SizeBytes))
	if len(r.NodeSelector) > 0 {
		have += " and labels " + labelString(r.NodeSelector)
	}
	moreWord := ""
	if more {
		moreWord = "more "
	}
	var b strings.Builder
	e := &PlacementError{VolumeID: r.VolumeID, Spread: r.Spread, Needed: r.Replicas}

	if r.Spread == SpreadNode {
		var failed tally
		for k, n := range c.order {
			if rejs[k].ok() {
				e.Qualifying = append(e.Qualifying, n.node.ID)
			} else {
				failed.add(rejs[k])
			}
		}
		where := "distinct up nodes"
		switch {
		case r.Replicas == 1 && more:
			where = "another up node"
		case r.Replicas == 1:
			where = "an up node"
		}
		fmt.Fprintf(&b, "need %d %s%s on %s with %s", r.Replicas, moreWord,
			verb(r.Replicas, "replica", "replicas"), where, have)
		switch {
		case len(c.order) == 0:
			b.WriteString("; the cluster has no nodes")
		case len(e.Qualifying) == 0:
			fmt.Fprintf(&b, "; no node qualifies (%s)", failed.causes(r))
		default:
			fmt.Fprintf(&b, "; only %d %s (%s)", len(e.Qualifying), verb(len(e.Qualifying), "node qualifies", "nodes qualify"), nameList(e.Qualifying))
			if n := len(c.order) - len(e.Qualifying); n > 0 {
				fmt.Fprintf(&b, "; of the other %d: %s", n, failed.causes(r))
			}
		}
		e.msg = b.String()
		return e
	}

	tallies := make(map[string]*tally)
	for i, e := range c.order {
		key := domainKey(&e.node, r.Spread)
		t := tallies[key]
		if t == nil {
			t = &tally{}
			tallies[key] = t
		}
		if rejs[i].ok() {
			t.qualifies = true
		} else {
			t.add(rejs[i])
		}
	}
	var failed []string
	for _, name := range slices.Sorted(maps.Keys(tallies)) {
		if tallies[name].qualifies {
			e.Qualifying = append(e.Qualifying, name)
		} else {
			failed = append(failed, name)
		}
	}
	fmt.Fprintf(&b, "need %d %s%s with an up node that has %s", r.Replicas, moreWord, r.Spread.plural(r.Replicas), have)
	switch {
	case len(c.order) == 0:
		b.WriteString("; the cluster has no nodes")
	case len(e.Qualifying) == 0:
		b.WriteString("; none qualify")
	default:
		fmt.Fprintf(&b, "; only %d %s (%s)", len(e.Qualifying), verb(len(e.Qualifying), "qualifies", "qualify"), nameList(e.Qualifying))
	}
	for i, name := range failed {
		if i == listCap {
			fmt.Fprintf(&b, "; %d more %s do not qualify", len(failed)-listCap, r.Spread.plural(2))
			break
		}
		t := tallies[name]
		if t.counts[RejectHeld] > 0 {
			// checkHeld runs first, so every node of a held domain
			// is rejected for it.
			fmt.Fprintf(&b, "; %s: already holds a replica", name)
			continue
		}
		fmt.Fprintf(&b, "; %s: no node qualifies (%s)", name, t.causes(r))
	}
	e.msg = b.String()
	return e
}
