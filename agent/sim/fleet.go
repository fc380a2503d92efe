package sim

import (
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Tier is the performance class of a disk.
type Tier string

// The disk tiers, fastest first.
const (
	TierNVMe Tier = "nvme"
	TierSSD  Tier = "ssd"
	TierHDD  Tier = "hdd"
)

// Valid reports whether t is one of the known tiers.
func (t Tier) Valid() bool {
	return t == TierNVMe || t == TierSSD || t == TierHDD
}

// Labels that GenerateFleet puts on every node.
const (
	LabelRegion = "topology.ballast.dev/region"
	LabelZone   = "topology.ballast.dev/zone"
	// LabelTierPrefix + tier is set to "true" for each tier the node has.
	LabelTierPrefix = "tier.ballast.dev/"
)

// DiskSpec describes one disk of a node: what it holds and how fast it is.
type DiskSpec struct {
	ID            string // unique within the node, e.g. "node-001-d0"
	Tier          Tier
	CapacityBytes uint64
	MaxReadIOPS   uint64
	MaxWriteIOPS  uint64
	// MaxThroughputBps is the disk's bandwidth in bytes per second, shared
	// by reads and writes.
	MaxThroughputBps uint64
	// BaseLatency is the latency of one I/O on an idle disk.
	BaseLatency time.Duration
}

// maxUtilization caps the utilisation used for latency so that a saturated
// disk reports a large but finite latency: 1/(1-0.98) = 50 times the base.
const maxUtilization = 0.98

// LatencyAt returns the disk's latency at utilisation u (demand relative to
// the disk's maximum): base * (1 + u/(1-u)) = base/(1-u), an M/M/1 queue.
// It is at least BaseLatency, never decreases as u grows, and is capped at
// 50 times the base once u reaches 0.98.
func (d DiskSpec) LatencyAt(u float64) time.Duration {
	if !(u > 0) { // also catches NaN
		u = 0
	}
	if u > maxUtilization {
		u = maxUtilization
	}
	return time.Duration(float64(d.BaseLatency) / (1 - u))
}

// NodeSpec describes a storage node: where it is and which disks it has.
type NodeSpec struct {
	ID     string
	Zone   string
	Region string
	Labels map[string]string
	Disks  []DiskSpec
}

// Validate reports why the spec cannot describe a node, or nil.
func (s NodeSpec) Validate() error {
	if s.ID == "" {
		return fmt.Errorf("node spec: empty id: %w", ErrInvalid)
	}
	if len(s.Disks) == 0 {
		return fmt.Errorf("node %s: no disks: %w", s.ID, ErrInvalid)
	}
	seen := make(map[string]bool, len(s.Disks))
	for _, d := range s.Disks {
		switch {
		case d.ID == "":
			return fmt.Errorf("node %s: disk with empty id: %w", s.ID, ErrInvalid)
		case seen[d.ID]:
			return fmt.Errorf("node %s: duplicate disk %s: %w", s.ID, d.ID, ErrInvalid)
		case !d.Tier.Valid():
			return fmt.Errorf("node %s: disk %s: unknown tier %q: %w", s.ID, d.ID, d.Tier, ErrInvalid)
		case d.CapacityBytes == 0 || d.MaxReadIOPS == 0 || d.MaxWriteIOPS == 0 || d.MaxThroughputBps == 0:
			return fmt.Errorf("node %s: disk %s: capacity, IOPS and throughput must be positive: %w", s.ID, d.ID, ErrInvalid)
		case d.BaseLatency <= 0:
			return fmt.Errorf("node %s: disk %s: base latency must be positive: %w", s.ID, d.ID, ErrInvalid)
		}
		seen[d.ID] = true
	}
	return nil
}

// clone returns a deep copy, so that callers cannot change a node's spec
// behind its back.
func (s NodeSpec) clone() NodeSpec {
	c := s
	if s.Labels != nil {
		c.Labels = make(map[string]string, len(s.Labels))
		for k, v := range s.Labels {
			c.Labels[k] = v
		}
	}
	c.Disks = append([]DiskSpec(nil), s.Disks...)
	return c
}

// FleetConfig says what fleet GenerateFleet builds.
type FleetConfig struct {
	Seed  int64
	Nodes int // number of nodes; zero or less yields an empty fleet
	Zones int // number of zones; zero or less means 3
	// Region names the region of every node; empty means "region-1".
	Region string
}

// Default values for a FleetConfig's zero fields.
const (
	DefaultZones  = 3
	DefaultRegion = "region-1"
)

const (
	// Disks are sold in decimal units.
	gb = 1_000_000_000
	mb = 1_000_000
)

// tierProfile holds the performance of a tier and the capacities it comes in.
type tierProfile struct {
	capacities          []uint64
	readIOPS, writeIOPS uint64
	throughputBps       uint64
	baseLatency         time.Duration
}

var profiles = map[Tier]tierProfile{
	TierNVMe: {
		capacities: []uint64{1920 * gb, 3840 * gb},
		readIOPS:   500_000, writeIOPS: 200_000,
		throughputBps: 3000 * mb, baseLatency: 80 * time.Microsecond,
	},
	TierSSD: {
		capacities: []uint64{3840 * gb, 7680 * gb},
		readIOPS:   90_000, writeIOPS: 70_000,
		throughputBps: 550 * mb, baseLatency: 200 * time.Microsecond,
	},
	TierHDD: {
		capacities: []uint64{8000 * gb, 10_000 * gb, 12_000 * gb, 14_000 * gb, 16_000 * gb, 18_000 * gb},
		readIOPS:   200, writeIOPS: 200,
		throughputBps: 250 * mb, baseLatency: 5 * time.Millisecond,
	},
}

// GenerateFleet builds a fleet of node specs, deterministic from cfg.Seed.
//
// Nodes are named node-001, node-002, ... (zero-padded to the width of the
// count, at least three digits) and assigned to zones zone-a, zone-b, ...
// round-robin, so zone sizes differ by at most one. Every node has one ssd
// and two to four disks in all. Within a zone the nodes take turns having an
// nvme disk, an hdd, or both, starting at a seeded offset, so every zone with
// at least two nodes has every tier; a zone with a single node gets both.
// Some nodes, chosen by seed, get one more ssd or hdd.
func GenerateFleet(cfg FleetConfig) []NodeSpec {
	if cfg.Nodes <= 0 {
		return nil
	}
	if cfg.Zones <= 0 {
		cfg.Zones = DefaultZones
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	width := max(3, len(strconv.Itoa(cfg.Nodes)))
	rnd := &stream{seed: uint64(cfg.Seed), salt: 0xf1ee7}

	// Each zone starts its nvme/hdd/both rotation at a seeded offset, so
	// that fleets from different seeds differ in shape, not only in sizes.
	offsets := make([]int, cfg.Zones)
	for z := range offsets {
		offsets[z] = rnd.intn(3)
	}

	fleet := make([]NodeSpec, cfg.Nodes)
	for i := range fleet {
		z := i % cfg.Zones
		inZone := i / cfg.Zones
		zoneSize := cfg.Nodes / cfg.Zones
		if z < cfg.Nodes%cfg.Zones {
			zoneSize++
		}
		id := fmt.Sprintf("node-%0*d", width, i+1)
		zone := zoneName(z)

		tiers := []Tier{TierSSD}
		switch shape := (offsets[z] + inZone) % 3; {
		case zoneSize == 1 || shape == 2:
			tiers = append(tiers, TierNVMe, TierHDD)
		case shape == 0:
			tiers = append(tiers, TierNVMe)
		default:
			tiers = append(tiers, TierHDD)
		}
		if rnd.float() < 0.3 {
			if rnd.intn(2) == 0 {
				tiers = append(tiers, TierSSD)
			} else {
				tiers = append(tiers, TierHDD)
			}
		}
		// Fastest first, so disk numbers read nvme, ssd, hdd.
		slices.SortStableFunc(tiers, func(a, b Tier) int { return tierRank(a) - tierRank(b) })

		spec := NodeSpec{
			ID:     id,
			Zone:   zone,
			Region: cfg.Region,
			Labels: map[string]string{LabelRegion: cfg.Region, LabelZone: zone},
			Disks:  make([]DiskSpec, len(tiers)),
		}
		for d, t := range tiers {
			p := profiles[t]
			spec.Disks[d] = DiskSpec{
				ID:               id + "-d" + strconv.Itoa(d),
				Tier:             t,
				CapacityBytes:    p.capacities[rnd.intn(len(p.capacities))],
				MaxReadIOPS:      p.readIOPS,
				MaxWriteIOPS:     p.writeIOPS,
				MaxThroughputBps: p.throughputBps,
				BaseLatency:      p.baseLatency,
			}
			spec.Labels[LabelTierPrefix+string(t)] = "true"
		}
		fleet[i] = spec
	}
	return fleet
}

// tierRank orders tiers fastest first.
func tierRank(t Tier) int {
	switch t {
	case TierNVMe:
		return 0
	case TierSSD:
		return 1
	default:
		return 2
	}
}

// zoneName returns zone-a ... zone-z, then zone-aa, zone-ab, ...
func zoneName(i int) string {
	var b []byte
	for n := i + 1; n > 0; n = (n - 1) / 26 {
		b = append([]byte{byte('a' + (n-1)%26)}, b...)
	}
	return "zone-" + string(b)
}
