package domain

import "fmt"

// Tier is the class of media a disk belongs to. Volumes ask for one tier and
// only disks of that tier may hold their replicas.
type Tier int

// Tiers. The zero value is deliberately invalid so that a request or disk
// that forgot its tier is refused instead of landing on an arbitrary medium.
const (
	TierUnspecified Tier = iota
	TierNVMe
	TierSSD
	TierHDD
)

// String returns the lower-case name operators type: "nvme", "ssd", "hdd".
func (t Tier) String() string {
	switch t {
	case TierNVMe:
		return "nvme"
	case TierSSD:
		return "ssd"
	case TierHDD:
		return "hdd"
	default:
		return fmt.Sprintf("tier(%d)", int(t))
	}
}

// Valid reports whether t is one of the known tiers.
func (t Tier) Valid() bool { return t >= TierNVMe && t <= TierHDD }

// ParseTier is the inverse of Tier.String.
func ParseTier(s string) (Tier, error) {
	for _, t := range []Tier{TierNVMe, TierSSD, TierHDD} {
		if t.String() == s {
			return t, nil
		}
	}
	return TierUnspecified, fmt.Errorf("unknown tier %q (want nvme, ssd or hdd)", s)
}

// SpreadLevel is the failure domain a volume's replicas must be spread
// over: at most one replica per domain at that level.
type SpreadLevel int

// Spread levels. SpreadNode is the zero value because two replicas on one
// node never protect anything, so it is the floor every volume gets.
const (
	SpreadNode SpreadLevel = iota
	SpreadZone
	SpreadRegion
)

// String returns "node", "zone" or "region".
func (s SpreadLevel) String() string {
	switch s {
	case SpreadNode:
		return "node"
	case SpreadZone:
		return "zone"
	case SpreadRegion:
		return "region"
	default:
		return fmt.Sprintf("spread(%d)", int(s))
	}
}

// Valid reports whether s is one of the known levels.
func (s SpreadLevel) Valid() bool { return s >= SpreadNode && s <= SpreadRegion }

// plural names a number of failure domains at this level, for messages.
func (s SpreadLevel) plural(n int) string {
	if n == 1 {
		return s.String()
	}
	return s.String() + "s"
}

// NodeState is the operator-visible lifecycle of a storage node. Only Up
// nodes receive new replicas.
type NodeState int

// Node states. The zero value is invalid so that a node registered without
// a state is refused rather than silently made schedulable.
const (
	NodeStateUnspecified NodeState = iota
	// NodeUp accepts new replicas.
	NodeUp
	// NodeCordoned keeps its replicas but accepts no new ones.
	NodeCordoned
	// NodeDraining accepts no new replicas and is being emptied.
	NodeDraining
	// NodeDown is unreachable; its replicas need re-replication.
	NodeDown
	// NodeSuspect stopped reporting and is down once a grace period
	// passes; it accepts no new replicas meanwhile, and keeps its own.
	NodeSuspect
)

// String returns "up", "cordoned", "draining", "down" or "suspect".
func (s NodeState) String() string {
	switch s {
	case NodeUp:
		return "up"
	case NodeCordoned:
		return "cordoned"
	case NodeDraining:
		return "draining"
	case NodeDown:
		return "down"
	case NodeSuspect:
		return "suspect"
	default:
		return fmt.Sprintf("state(%d)", int(s))
	}
}

// Valid reports whether s is one of the known states.
func (s NodeState) Valid() bool { return s >= NodeUp && s <= NodeSuspect }
