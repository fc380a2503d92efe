package sim

import (
	"math"
	"time"
)

// NodeSample is a node's telemetry at one instant.
type NodeSample struct {
	NodeID   string
	At       time.Time
	Disks    []DiskSample    // in spec order
	Replicas []ReplicaSample // sorted by replica ID
}

// DiskSample is one disk's telemetry: the load it serves and how it copes.
type DiskSample struct {
	DiskID        string
	Tier          Tier
	UsedBytes     uint64
	CapacityBytes uint64
	ReadIOPS      float64
	WriteIOPS     float64
	ReadBps       float64
	WriteBps      float64
	// Latency grows with Demand as DiskSpec.LatencyAt describes.
	Latency time.Duration
	// Utilization is the share of the disk's capacity for I/O in use, in
	// [0, 1]: the larger of the IOPS share (reads against MaxReadIOPS plus
	// writes against MaxWriteIOPS) and the bandwidth share.
	Utilization float64
	// Demand is the load the replicas ask for relative to what the disk can
	// serve. Above 1 the disk is saturated: it serves each replica the same
	// fraction 1/Demand of its demand, and Utilization is 1.
	Demand float64
}

// ReplicaSample is the load one replica put on its disk.
type ReplicaSample struct {
	ReplicaID string
	VolumeID  string
	DiskID    string
	ReadIOPS  float64
	WriteIOPS float64
	ReadBps   float64
	WriteBps  float64
	// Latency is the latency of the replica's disk.
	Latency time.Duration
}

// Sample returns the node's telemetry at now. It depends only on the node's
// seed, the replicas and hotspots it holds and now: the same history sampled
// at the same instant gives the same sample, whatever was sampled before.
// It allocates the two slices of the result and nothing else.
func (n *Node) Sample(now time.Time) NodeSample {
	n.mu.RLock()
	defer n.mu.RUnlock()

	s := NodeSample{
		NodeID:   n.spec.ID,
		At:       now,
		Disks:    make([]DiskSample, len(n.spec.Disks)),
		Replicas: make([]ReplicaSample, len(n.ordered)),
	}
	seed, ns := uint64(n.seed), now.UnixNano()

	// First the demand of every replica, summed per disk.
	for i, r := range n.ordered {
		w := &r.workload
		f := w.shape(seed, r.idHash, ns) * noise(seed, r.idHash, ns)
		if now.Before(r.hotUntil) {
			f *= r.hotFactor
		}
		rs := &s.Replicas[i]
		*rs = ReplicaSample{
			ReplicaID: r.id,
			VolumeID:  r.volumeID,
			DiskID:    n.spec.Disks[r.disk].ID,
			ReadIOPS:  w.ReadIOPS * f,
			WriteIOPS: w.WriteIOPS * f,
		}
		rs.ReadBps = rs.ReadIOPS * float64(w.IOSizeBytes)
		rs.WriteBps = rs.WriteIOPS * float64(w.IOSizeBytes)
		ds := &s.Disks[r.disk]
		ds.ReadIOPS += rs.ReadIOPS
		ds.WriteIOPS += rs.WriteIOPS
		ds.ReadBps += rs.ReadBps
		ds.WriteBps += rs.WriteBps
	}

	// Then what each disk makes of it.
	for i := range s.Disks {
		spec, ds := &n.spec.Disks[i], &s.Disks[i]
		ds.DiskID, ds.Tier = spec.ID, spec.Tier
		ds.UsedBytes, ds.CapacityBytes = n.used[i], spec.CapacityBytes
		iops := ds.ReadIOPS/float64(spec.MaxReadIOPS) + ds.WriteIOPS/float64(spec.MaxWriteIOPS)
		bw := (ds.ReadBps + ds.WriteBps) / float64(spec.MaxThroughputBps)
		ds.Demand = math.Max(iops, bw)
		ds.Utilization = math.Min(ds.Demand, 1)
		ds.Latency = spec.LatencyAt(ds.Demand)
		if ds.Demand > 1 {
			scale := 1 / ds.Demand
			ds.ReadIOPS *= scale
			ds.WriteIOPS *= scale
			ds.ReadBps *= scale
			ds.WriteBps *= scale
		}
	}

	// Finally each replica gets its disk's latency and its share of what
	// a saturated disk could serve.
	for i, r := range n.ordered {
		rs, ds := &s.Replicas[i], &s.Disks[r.disk]
		rs.Latency = ds.Latency
		if ds.Demand > 1 {
			scale := 1 / ds.Demand
			rs.ReadIOPS *= scale
			rs.WriteIOPS *= scale
			rs.ReadBps *= scale
			rs.WriteBps *= scale
		}
	}
	return s
}
