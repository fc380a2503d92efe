package domain

import (
	"slices"
	"strings"
	"time"
)

// Health is whether a node reports.
type Health int

// Healths of a node.
const (
	Alive Health = iota
	Suspect
	Down
)

func (h Health) String() string { return [...]string{"alive", "suspect", "down"}[h] }

// Liveness bars: a node silent for SuspectAfter is suspect, for DownAfter
// down.
type Liveness struct {
	SuspectAfter, DownAfter time.Duration
	nodes                   map[string]*heard
}

// DefaultLiveness is what an operator would accept with telemetry every few
// seconds: suspect after 15 s of silence, down after a minute.
var DefaultLiveness = Liveness{SuspectAfter: 15 * time.Second, DownAfter: time.Minute}

type heard struct {
	last   time.Time
	health Health
}

// Change is a node's health changing.
type Change struct {
	Node     string
	To       Health
	LastSeen time.Time
}

func (l *Liveness) node(id string, now time.Time) *heard {
	if l.nodes == nil {
		l.nodes = map[string]*heard{}
	}
	n, ok := l.nodes[id]
	if !ok {
		n = &heard{last: now}
		l.nodes[id] = n
	}
	return n
}

// Know makes a node known as of now, in the health the log last recorded
// for it: its silence is counted from now (a restarted service gives every
// node the whole grace period again).
func (l *Liveness) Know(id string, h Health, now time.Time) {
	n := l.node(id, now)
	n.health = h
}

// Heard records telemetry sampled at sampled and received at now. A sample
// older than the suspect bar (late, or replayed) says nothing of the node
// now. It returns the change, if the node was suspect or down.
func (l *Liveness) Heard(id string, sampled, now time.Time) (Change, bool) {
	if now.Sub(sampled) > l.SuspectAfter {
		return Change{}, false
	}
	n := l.node(id, now)
	if sampled.After(n.last) {
		n.last = sampled
	}
	if n.health == Alive {
		return Change{}, false
	}
	n.health = Alive
	return Change{Node: id, To: Alive, LastSeen: n.last}, true
}

// Check returns the nodes whose silence crossed a bar by now, in node
// order, and records them so.
func (l *Liveness) Check(now time.Time) []Change {
	var out []Change
	for id, n := range l.nodes {
		silent := now.Sub(n.last)
		switch {
		case n.health != Down && silent > l.DownAfter:
			n.health = Down
		case n.health == Alive && silent > l.SuspectAfter:
			n.health = Suspect
		default:
			continue
		}
		out = append(out, Change{Node: id, To: n.health, LastSeen: n.last})
	}
	slices.SortFunc(out, func(a, b Change) int { return strings.Compare(a.Node, b.Node) })
	return out
}

// Undo returns a node to the health it had before a change that could not
// be recorded, so that the next check finds it again.
func (l *Liveness) Undo(c Change, before Health) {
	if n, ok := l.nodes[c.Node]; ok {
		n.health = before
	}
}
