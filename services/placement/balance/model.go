// Package balance is Ballast's rebalancing planner: a pure function from
// the cluster as measured (nodes, disks and what they can bear, volumes and
// the load each replica carries) to the replica moves that even it out.
//
// Balance is on utilisation, load over what a disk can bear, for I/O
// operations, bytes per second and capacity together: an NVMe disk carries
// more than an HDD before it is as busy. The objective is capacity-weighted
// as in CockroachDB's multi-metric allocator: for each resource, the sum
// over disks of load²/capability, normalised by the tier's mean, which is
// least when every disk of a tier is equally utilised. Moves are chosen
// greedily, the best gain per byte copied first, from the disks furthest
// above their tier's mean to the disks furthest below it.
//
// Hard constraints hold for every move: the target is up, of the volume's
// tier, has room (with the overcommit), and holds no other replica of the
// volume in the failure domain the volume spreads over. Nothing moves to
// balance a disk inside the band around the mean, no move makes its target
// busier than the band allows, and a volume that moved recently stays: the
// plan does not thrash. Replicas on draining nodes and lost ones on down
// nodes must go whatever the balance; disks fuller than the capacity
// ceiling shed replicas.
//
// The package does no I/O and keeps no clock.
package balance

import (
	"ballast.dev/services/placement/domain"
)

// Load is what a replica is measured to carry, per second.
type Load struct {
	ReadIOPS, WriteIOPS float64
	ReadBps, WriteBps   float64
}

// IOPS is the operations per second, read and write.
func (l Load) IOPS() float64 { return l.ReadIOPS + l.WriteIOPS }

// Bps is the bytes per second, read and write.
func (l Load) Bps() float64 { return l.ReadBps + l.WriteBps }

// Disk is one device and what it can bear.
type Disk struct {
	ID            string
	Tier          domain.Tier
	CapacityBytes uint64
	// IOPS and Bps are the operations and bytes per second the disk
	// serves at full utilisation, rated or measured. A disk of 0 in either
	// takes no load of that kind.
	IOPS, Bps float64
}

// Node is a storage node in its failure domains.
type Node struct {
	ID, Zone, Region string
	State            domain.NodeState
	Disks            []Disk
	// Joining marks a node that joined the fleet recently. While any node
	// is joining, balance moves go only onto joining nodes: the new
	// capacity takes its share, and the old nodes do not trade replicas
	// among themselves meanwhile.
	Joining bool
}

// Replica is one copy of a volume, where it lives and the load it carries.
type Replica struct {
	ID             string
	NodeID, DiskID string
	Load           Load
}

// Volume is a volume's replica set as the planner sees it.
type Volume struct {
	ID        string
	SizeBytes uint64
	Tier      domain.Tier
	Spread    domain.SpreadLevel
	Replicas  []Replica
	// CoolingDown is set for a volume that moved recently: it stays where
	// it is, except to leave a draining or down node.
	CoolingDown bool
}

// Model is the cluster as measured at one position of the log.
type Model struct {
	// Sequence is the model's position in the log. A plan names it, so
	// that moves computed on state that has since moved on are refused.
	Sequence uint64
	Nodes    []Node
	Volumes  []Volume
}

// Config tunes the planner. The zero value of a field is its default.
type Config struct {
	// Overcommit lets a disk hold reservations up to its capacity times
	// this ratio (default 1).
	Overcommit float64
	// CapacityCeiling is the fraction of capacity above which a disk sheds
	// replicas (default 0.8).
	CapacityCeiling float64
	// Band is how far from its tier's mean utilisation a disk may be and
	// still count as balanced (default 0.1, ±10%).
	Band float64
	// MinGain is the least a move must cut the objective, as a multiple
	// of what the moved replica's own load weighs on its two disks
	// (default 0.5): a replica does not move between disks whose
	// utilisations differ by about its own share.
	MinGain float64
	// Floor is the utilisation under which a disk is not rebalanced off
	// in any resource (default 0.2): a disk at 8% next to one at 1% is not
	// a hotspot, and moving bytes to even them out is not worth a copy.
	// Forced moves (drain, down, capacity) ignore it.
	Floor float64
	// Relief is the utilisation (a disk's busier I/O resource over what
	// it bears) that relieving a hotspot aims under (default 0.70, the
	// metrics service's bar for a hotspot to clear). A move off a disk
	// busier than that may take its target past the band, as long as the
	// target ends under Relief: when the fleet is idle on average, the
	// band alone would leave no disk able to take a hot replica.
	Relief float64
	// MaxMoves bounds the plan (default 100,000).
	MaxMoves int
	// Weights of I/O operations, bytes per second and capacity in the
	// objective (default 1, 1, 1). A weight of 0 leaves that resource
	// unbalanced.
	Weights Weights
}

// DefaultRelief is Config.Relief's default: the metrics service's default
// bar for a hotspot to clear.
const DefaultRelief = 0.70

// Weights are the objective's weights per resource.
type Weights struct{ IOPS, Bps, Capacity float64 }

func (c Config) withDefaults() Config {
	if c.Overcommit <= 0 {
		c.Overcommit = 1
	}
	if c.CapacityCeiling <= 0 {
		c.CapacityCeiling = 0.8
	}
	if c.Band <= 0 {
		c.Band = 0.1
	}
	if c.MinGain <= 0 {
		c.MinGain = 0.5
	}
	if c.MaxMoves <= 0 {
		c.MaxMoves = 100_000
	}
	if c.Floor <= 0 {
		c.Floor = 0.2
	}
	if c.Relief <= 0 {
		c.Relief = DefaultRelief
	}
	if c.Weights == (Weights{}) {
		c.Weights = Weights{IOPS: 1, Bps: 1, Capacity: 1}
	}
	return c
}

// Location is a disk on a node.
type Location struct{ NodeID, DiskID string }

// Reason says why a move is in the plan.
type Reason int

// Reasons, the forced ones first.
const (
	ReasonUnspecified Reason = iota
	// ReasonNodeDown re-creates a replica lost with its node, copied from
	// a healthy one.
	ReasonNodeDown
	// ReasonDrain empties a draining node.
	ReasonDrain
	// ReasonCapacity sheds a disk fuller than the capacity ceiling.
	ReasonCapacity
	// ReasonBalance evens out utilisation.
	ReasonBalance
)

// String names the reason as an operator reads it.
func (r Reason) String() string {
	switch r {
	case ReasonNodeDown:
		return "node-down"
	case ReasonDrain:
		return "drain"
	case ReasonCapacity:
		return "capacity"
	case ReasonBalance:
		return "balance"
	default:
		return "unspecified"
	}
}

// Move takes one replica of a volume from one disk to another: the saga
// adds the target, copies, cuts over and only then removes the source.
type Move struct {
	VolumeID, ReplicaID string
	From, To            Location
	// Bytes is what the move copies.
	Bytes  uint64
	Reason Reason
	// Gain is how much the move cut the objective.
	Gain float64
	// SourceAfter is the utilisation of the disk the move leaves, its
	// busier I/O resource over what it bears, once the whole plan is
	// applied: whether the plan relieves a hot disk.
	SourceAfter float64
	// SourceBefore is that disk's utilisation before the plan.
	SourceBefore float64
}

// Utilisation is the spread of one resource's utilisation over the disks
// of up nodes: the most utilised disk and the capacity-weighted mean.
type Utilisation struct{ Max, Mean float64 }

// Balance is the cluster's utilisation per resource.
type Balance struct{ IOPS, Bps, Capacity Utilisation }

// Plan is what the planner proposes.
type Plan struct {
	// Sequence is the model's, which the plan was computed on.
	Sequence uint64
	Moves    []Move
	// Before and After are the balance without and with the moves.
	Before, After Balance
	// BytesToCopy sums the moves' bytes.
	BytesToCopy uint64
	// BytesBound is the fewest bytes any plan must copy to bring the
	// model within the band and the ceilings (see Bound), when asked
	// for: the yardstick of BytesToCopy.
	BytesBound uint64
	// Stranded lists the replicas that must leave their disk (drain, down,
	// capacity) and have nowhere to go within the constraints.
	Stranded []Stranded
}

// Stranded is a replica the plan could not move off where it must not stay.
type Stranded struct {
	VolumeID, ReplicaID string
	At                  Location
	Reason              Reason
}
