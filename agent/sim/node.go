package sim

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Node is a simulated storage node: disks holding replicas, each replica
// carrying a workload. It is safe for concurrent use.
type Node struct {
	spec NodeSpec
	seed int64

	mu       sync.RWMutex
	used     []uint64            // bytes allocated per disk, indexed like spec.Disks
	diskIdx  map[string]int      // disk ID -> index in spec.Disks
	replicas map[string]*replica // by replica ID
	ordered  []*replica          // sorted by ID, for deterministic output
}

// replica is the node's record of one replica and its load.
type replica struct {
	id, volumeID string
	disk         int
	size         uint64
	workload     Workload
	idHash       uint64 // stringHash(id), kept so sampling does not rehash

	hotFactor float64
	hotUntil  time.Time
}

// Replica is a replica as the node reports it.
type Replica struct {
	ID        string
	VolumeID  string
	DiskID    string
	SizeBytes uint64
	Workload  Workload
	// HotspotFactor and HotspotUntil describe the last injected hotspot;
	// the factor applies while the sample time is before HotspotUntil.
	HotspotFactor float64
	HotspotUntil  time.Time
}

// DiskState is a disk's spec and how much of it is allocated.
type DiskState struct {
	DiskSpec
	UsedBytes uint64
	FreeBytes uint64
	Replicas  int
}

// NewNode returns a node with spec's disks, all empty. seed drives the
// workloads and noise of its replicas; use one seed across a fleet so that a
// replica's workload does not change when it moves between nodes.
func NewNode(spec NodeSpec, seed int64) (*Node, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	n := &Node{
		spec:     spec.clone(),
		seed:     seed,
		used:     make([]uint64, len(spec.Disks)),
		diskIdx:  make(map[string]int, len(spec.Disks)),
		replicas: make(map[string]*replica),
	}
	for i, d := range spec.Disks {
		n.diskIdx[d.ID] = i
	}
	return n, nil
}

// ID returns the node's ID.
func (n *Node) ID() string { return n.spec.ID }

// Spec returns a copy of the node's spec.
func (n *Node) Spec() NodeSpec { return n.spec.clone() }

// CreateReplica allocates sizeBytes on diskID for replica replicaID of
// volumeID. Creating a replica that already exists with the same volume,
// disk and size succeeds without change, so retries are safe; with anything
// different it fails with ErrReplicaConflict. A disk without room fails with
// a *CapacityError.
func (n *Node) CreateReplica(replicaID, volumeID, diskID string, sizeBytes uint64) error {
	if replicaID == "" || volumeID == "" || sizeBytes == 0 {
		return fmt.Errorf("create replica %q: replica ID, volume ID and size are required: %w", replicaID, ErrInvalid)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	d, ok := n.diskIdx[diskID]
	if !ok {
		return fmt.Errorf("create replica %s on node %s: disk %s: %w", replicaID, n.spec.ID, diskID, ErrUnknownDisk)
	}
	if r, ok := n.replicas[replicaID]; ok {
		if r.volumeID == volumeID && r.disk == d && r.size == sizeBytes {
			return nil
		}
		return fmt.Errorf("create replica %s: have volume %s on disk %s with %d bytes, asked for volume %s on disk %s with %d bytes: %w",
			replicaID, r.volumeID, n.spec.Disks[r.disk].ID, r.size, volumeID, diskID, sizeBytes, ErrReplicaConflict)
	}
	if err := n.reserve(d, sizeBytes); err != nil {
		return fmt.Errorf("create replica %s: %w", replicaID, err)
	}
	r := &replica{
		id:       replicaID,
		volumeID: volumeID,
		disk:     d,
		size:     sizeBytes,
		workload: WorkloadFor(n.seed, volumeID),
		idHash:   stringHash(replicaID),
	}
	n.replicas[replicaID] = r
	i, _ := slices.BinarySearchFunc(n.ordered, replicaID, func(r *replica, id string) int { return strings.Compare(r.id, id) })
	n.ordered = slices.Insert(n.ordered, i, r)
	return nil
}

// reserve takes need bytes on disk d, or says why it cannot. n.mu is held.
func (n *Node) reserve(d int, need uint64) error {
	free := n.spec.Disks[d].CapacityBytes - n.used[d]
	if need > free {
		return &CapacityError{DiskID: n.spec.Disks[d].ID, FreeBytes: free, NeedBytes: need}
	}
	n.used[d] += need
	return nil
}

// ResizeReplica grows a replica to newSize bytes on its disk. Resizing to the
// current size is a no-op; a smaller size fails with ErrShrink, and a disk
// without room for the growth fails with a *CapacityError naming the bytes
// the growth needs.
func (n *Node) ResizeReplica(replicaID string, newSize uint64) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	r, ok := n.replicas[replicaID]
	if !ok {
		return fmt.Errorf("resize replica %s on node %s: %w", replicaID, n.spec.ID, ErrUnknownReplica)
	}
	switch {
	case newSize == r.size:
		return nil
	case newSize < r.size:
		return fmt.Errorf("resize replica %s from %d to %d bytes: %w", replicaID, r.size, newSize, ErrShrink)
	}
	if err := n.reserve(r.disk, newSize-r.size); err != nil {
		return fmt.Errorf("resize replica %s from %d to %d bytes: %w", replicaID, r.size, newSize, err)
	}
	r.size = newSize
	return nil
}

// DeleteReplica frees a replica's space. Deleting a replica the node does not
// hold succeeds, so retries are safe.
func (n *Node) DeleteReplica(replicaID string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	r, ok := n.replicas[replicaID]
	if !ok {
		return nil
	}
	n.used[r.disk] -= r.size
	delete(n.replicas, replicaID)
	n.ordered = slices.DeleteFunc(n.ordered, func(o *replica) bool { return o == r })
	return nil
}

// InjectHotspot multiplies replicaID's load by factor for samples taken
// before until, replacing any earlier hotspot on it. A factor of 1 or an
// until in the past clears it.
func (n *Node) InjectHotspot(replicaID string, factor float64, until time.Time) error {
	if !(factor > 0) || factor > 1e6 {
		return fmt.Errorf("hotspot on replica %s: factor %v outside (0, 1e6]: %w", replicaID, factor, ErrInvalid)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	r, ok := n.replicas[replicaID]
	if !ok {
		return fmt.Errorf("hotspot on replica %s on node %s: %w", replicaID, n.spec.ID, ErrUnknownReplica)
	}
	r.hotFactor, r.hotUntil = factor, until
	return nil
}

// SetWorkload replaces the workload the node chose for replicaID, for
// scenarios and tests that need a specific load.
func (n *Node) SetWorkload(replicaID string, w Workload) error {
	if err := w.Validate(); err != nil {
		return fmt.Errorf("set workload of replica %s: %w", replicaID, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	r, ok := n.replicas[replicaID]
	if !ok {
		return fmt.Errorf("set workload of replica %s on node %s: %w", replicaID, n.spec.ID, ErrUnknownReplica)
	}
	r.workload = w
	return nil
}

// Replicas returns the node's replicas sorted by ID.
func (n *Node) Replicas() []Replica {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make([]Replica, len(n.ordered))
	for i, r := range n.ordered {
		out[i] = Replica{
			ID:            r.id,
			VolumeID:      r.volumeID,
			DiskID:        n.spec.Disks[r.disk].ID,
			SizeBytes:     r.size,
			Workload:      r.workload,
			HotspotFactor: r.hotFactor,
			HotspotUntil:  r.hotUntil,
		}
	}
	return out
}

// Disks returns the node's disks, in spec order, with their allocation.
func (n *Node) Disks() []DiskState {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make([]DiskState, len(n.spec.Disks))
	for i, d := range n.spec.Disks {
		out[i] = DiskState{DiskSpec: d, UsedBytes: n.used[i], FreeBytes: d.CapacityBytes - n.used[i]}
	}
	for _, r := range n.ordered {
		out[r.disk].Replicas++
	}
	return out
}
