package domain

import (
	"fmt"
	"slices"
	"strings"
)

// Feasibility: the hard constraints. Each check looks at one node and either
// passes it or says, in an operator's words, why it cannot take a replica.
// Node checks run first and cheapest; the disk stage runs last because it is
// the only one that walks the node's disks.

// RejectKind classifies why a node was filtered out, so that a decision can
// count the nodes per cause instead of listing a thousand reasons.
type RejectKind int

// Reject kinds, in the order messages list them: node states, then the
// volume's own constraints, then space.
const (
	rejectNone RejectKind = iota
	// RejectCordoned: the node is cordoned.
	RejectCordoned
	// RejectDraining: the node is draining.
	RejectDraining
	// RejectDown: the node is down (or in a state that takes nothing).
	RejectDown
	// RejectHeld: the node's failure domain already holds a replica of the
	// volume.
	RejectHeld
	// RejectTopology: the node's zone is not one the volume may live in.
	RejectTopology
	// RejectSelector: the node lacks a label the volume's selector asks for.
	RejectSelector
	// RejectNoTier: the node has no disk of the volume's tier.
	RejectNoTier
	// RejectNoRoom: no disk of the tier on the node has room for the
	// replica.
	RejectNoRoom
	numRejectKinds
)

// String returns the kind's short name: "cordoned", "no-room", ...
func (k RejectKind) String() string {
	switch k {
	case rejectNone:
		return "none"
	case RejectCordoned:
		return "cordoned"
	case RejectDraining:
		return "draining"
	case RejectDown:
		return "down"
	case RejectHeld:
		return "holds-replica"
	case RejectTopology:
		return "topology"
	case RejectSelector:
		return "node-selector"
	case RejectNoTier:
		return "no-tier"
	case RejectNoRoom:
		return "no-room"
	}
	return fmt.Sprintf("reject(%d)", int(k))
}

// Valid reports whether k is one of the kinds a node can be rejected for.
func (k RejectKind) Valid() bool { return k > rejectNone && k < numRejectKinds }

// rejection is a check's verdict; the zero value passes. It holds what the
// reason needs rather than the reason itself: Place counts rejections on
// every call, and words are written only for a reader (explain, a failed
// placement's message).
type rejection struct {
	kind RejectKind
	// label is, for RejectSelector, the selector key the node failed on.
	label string
	// largestFree is, for RejectNoRoom, the most any disk of the tier on
	// the node had free: the number an operator compares with the size.
	largestFree uint64
}

func (r rejection) ok() bool { return r.kind == rejectNone }

// feasibility holds what the checks need beyond the node, computed once per
// Place so that each check is a few comparisons.
type feasibility struct {
	c            *Cluster
	r            *Request
	selectorKeys []string
	allowedZones map[string]bool
	// heldDomains are failure domains (at the request's spread level)
	// that already hold a replica of the volume.
	heldDomains map[string]bool
}

func newFeasibility(c *Cluster, r *Request, held map[string]bool) *feasibility {
	f := &feasibility{c: c, r: r, heldDomains: held}
	for k := range r.NodeSelector {
		f.selectorKeys = append(f.selectorKeys, k)
	}
	// Sorted so that the first missing label named is the same every time.
	slices.Sort(f.selectorKeys)
	if len(r.AllowedZones) > 0 {
		f.allowedZones = make(map[string]bool, len(r.AllowedZones))
		for _, z := range r.AllowedZones {
			f.allowedZones[z] = true
		}
	}
	return f
}

// nodeCheck is one hard constraint on a whole node.
type nodeCheck func(f *feasibility, n *Node) rejection

// nodeChecks run in order; the first rejection is the one recorded. checkHeld
// comes first so that a failure domain that already has its replica reads
// as such, whatever else is wrong with its nodes.
var nodeChecks = []nodeCheck{checkHeld, checkState, checkTopology, checkSelector}

// checkState admits only Up nodes: cordoned and draining nodes are being
// emptied by an operator, and down nodes cannot create a replica.
func checkState(_ *feasibility, n *Node) rejection {
	switch n.State {
	case NodeUp:
		return rejection{}
	case NodeCordoned:
		return rejection{kind: RejectCordoned}
	case NodeDraining:
		return rejection{kind: RejectDraining}
	default:
		return rejection{kind: RejectDown}
	}
}

// checkHeld keeps a second replica out of a failure domain that already
// holds one (from WithExistingReplicas).
func checkHeld(f *feasibility, n *Node) rejection {
	if len(f.heldDomains) == 0 || !f.heldDomains[domainKey(n, f.r.Spread)] {
		return rejection{}
	}
	return rejection{kind: RejectHeld}
}

// checkTopology keeps the volume inside the zones it may live in.
func checkTopology(f *feasibility, n *Node) rejection {
	if f.allowedZones == nil || f.allowedZones[n.Zone] {
		return rejection{}
	}
	return rejection{kind: RejectTopology}
}

// checkSelector requires every selector label with its exact value.
func checkSelector(f *feasibility, n *Node) rejection {
	for _, k := range f.selectorKeys {
		if got, ok := n.Labels[k]; !ok || got != f.r.NodeSelector[k] {
			return rejection{kind: RejectSelector, label: k}
		}
	}
	return rejection{}
}

// checkNode runs the node checks.
func (f *feasibility) checkNode(n *Node) rejection {
	for _, check := range nodeChecks {
		if rej := check(f, n); !rej.ok() {
			return rej
		}
	}
	return rejection{}
}

// diskFits is the disk-level hard constraint: the right tier and room for
// the whole replica (overcommit included) on this one disk.
func diskFits(d *Disk, tier Tier, free, size uint64) bool {
	return d.Tier == tier && free >= size
}

// chooseDisk returns the index of the disk on n that will hold the replica:
// among the disks that fit, the one left with the most headroom, ties to the
// lowest disk ID. When none fits it says what was missing.
func (f *feasibility) chooseDisk(n *Node) (int, rejection) {
	best, bestScore := -1, -1.0
	tierSeen, largest := false, uint64(0)
	for i := range n.Disks {
		d := &n.Disks[i]
		if d.Tier != f.r.Tier {
			continue
		}
		tierSeen = true
		free := f.c.free(d)
		largest = max(largest, free)
		if !diskFits(d, f.r.Tier, free, f.r.SizeBytes) {
			continue
		}
		s := headroomScore(scoreInput{limit: f.c.limit(d.CapacityBytes), used: d.UsedBytes, size: f.r.SizeBytes})
		if s > bestScore || (s == bestScore && d.ID < n.Disks[best].ID) {
			best, bestScore = i, s
		}
	}
	switch {
	case best >= 0:
		return best, rejection{}
	case !tierSeen:
		return -1, rejection{kind: RejectNoTier}
	default:
		return -1, rejection{kind: RejectNoRoom, largestFree: largest}
	}
}

// judge runs every hard constraint on n: the index of the disk that would
// hold the replica, or why there is none.
func (f *feasibility) judge(n *Node) (int, rejection) {
	if rej := f.checkNode(n); !rej.ok() {
		return -1, rej
	}
	return f.chooseDisk(n)
}

// reason says in an operator's words why n was rejected, e.g. "node is
// cordoned" or "no ssd disk with 10.0 GiB free (largest free 4.0 GiB)".
func (f *feasibility) reason(n *Node, rej rejection) string {
	switch rej.kind {
	case rejectNone:
		return ""
	case RejectCordoned, RejectDraining, RejectDown:
		return fmt.Sprintf("node is %s", n.State)
	case RejectHeld:
		if f.r.Spread == SpreadNode {
			return "node already holds a replica of this volume"
		}
		return fmt.Sprintf("%s %s already holds a replica of this volume", f.r.Spread, domainKey(n, f.r.Spread))
	case RejectTopology:
		return fmt.Sprintf("zone %s is not allowed for this volume (allowed: %s)", n.Zone, strings.Join(f.r.AllowedZones, ", "))
	case RejectSelector:
		k := rej.label
		want := f.r.NodeSelector[k]
		if got, ok := n.Labels[k]; ok {
			return fmt.Sprintf("label %s=%s required; node has %s=%s", k, want, k, got)
		}
		return fmt.Sprintf("label %s=%s required; node has no %s label", k, want, k)
	case RejectNoTier:
		return fmt.Sprintf("no %s disk", f.r.Tier)
	case RejectNoRoom:
		return fmt.Sprintf("no %s disk with %s free (largest free %s)", f.r.Tier, formatBytes(f.r.SizeBytes), formatBytes(rej.largestFree))
	}
	return rej.kind.String()
}

// domainKey identifies n's failure domain at level. Zone names are taken to
// be unique across regions, as they are in every cloud.
func domainKey(n *Node, level SpreadLevel) string {
	switch level {
	case SpreadZone:
		return n.Zone
	case SpreadRegion:
		return n.Region
	default:
		return n.ID
	}
}
