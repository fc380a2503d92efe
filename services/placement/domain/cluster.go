package domain

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
)

// Disk is one device on a node.
type Disk struct {
	// ID names the disk; it is unique within its node, not across nodes.
	ID   string
	Tier Tier
	// CapacityBytes is the usable size of the disk.
	CapacityBytes uint64
	// UsedBytes is what placed replicas have reserved on the disk. The
	// Cluster maintains it from Reserve, Release and Resize; the value given
	// to UpsertNode is ignored, so a node read with Cluster.Node can be
	// edited and upserted back without counting anything twice.
	UsedBytes uint64
	// ReadIOPS, WriteIOPS and ThroughputBps are the disk's performance
	// capacity, optional, kept for the load-aware scorers that follow.
	ReadIOPS      uint64
	WriteIOPS     uint64
	ThroughputBps uint64
}

// Node is a storage node: a member of one zone in one region, with disks.
type Node struct {
	ID     string
	Zone   string
	Region string
	State  NodeState
	// Labels are matched against a request's NodeSelector.
	Labels map[string]string
	Disks  []Disk
}

// Placement is where one replica lives.
type Placement struct {
	NodeID string
	DiskID string
	// Zone is the node's zone when the placement was made; carried so
	// that a reader of a decision need not look the node up.
	Zone string
}

// Reservation is what one volume holds: SizeBytes on every placed disk.
type Reservation struct {
	VolumeID   string
	SizeBytes  uint64
	Placements []Placement
}

// Cluster is the placement model: nodes, their disks, and the reservations
// volumes hold on those disks.
//
// A Cluster is not safe for concurrent mutation; the placement service owns
// it from one goroutine (there is one active planner per cluster). Reads,
// including Place, may run concurrently with each other.
type Cluster struct {
	overcommit float64
	nodes      map[string]*nodeEntry
	// order holds the nodes sorted by ID, kept sorted on insert so that
	// Place walks them deterministically without sorting (or mutating)
	// per call, and without a map lookup per node.
	order   []*nodeEntry
	volumes map[string]Reservation
	// zones and regions number the failure domains so that Place can keep
	// per-domain state in slices instead of maps: at a thousand nodes the
	// map lookups were a third of the planner's time. Numbers are never
	// reused; a domain whose nodes all left simply has no candidates.
	zones, regions domainIndex
}

// domainIndex numbers domain names in order of first sight.
type domainIndex struct {
	index map[string]int
	names []string
}

func (x *domainIndex) of(name string) int {
	if i, ok := x.index[name]; ok {
		return i
	}
	if x.index == nil {
		x.index = make(map[string]int)
	}
	x.index[name] = len(x.names)
	x.names = append(x.names, name)
	return len(x.names) - 1
}

// nodeEntry is a node plus the bookkeeping Place and Reserve need.
type nodeEntry struct {
	node Node
	// refs[i] counts the volumes holding a reservation on node.Disks[i]; a
	// disk with refs cannot be dropped.
	refs    []int
	diskIdx map[string]int
	// zone and region are the node's domain numbers in Cluster.zones and
	// Cluster.regions.
	zone, region int
}

// ClusterOption configures a Cluster.
type ClusterOption func(*Cluster) error

// WithOvercommit lets each disk hold reservations up to CapacityBytes*ratio.
// The default, 1.0, never promises more bytes than a disk has; thin-provisioned
// fleets raise it, and a ratio below 1 keeps headroom free on every disk.
func WithOvercommit(ratio float64) ClusterOption {
	return func(c *Cluster) error {
		if !(ratio > 0) || math.IsInf(ratio, 0) {
			return fmt.Errorf("overcommit ratio %v must be a positive number: %w", ratio, ErrInvalidRequest)
		}
		c.overcommit = ratio
		return nil
	}
}

// NewCluster returns an empty cluster.
func NewCluster(opts ...ClusterOption) (*Cluster, error) {
	c := &Cluster{
		overcommit: 1,
		nodes:      make(map[string]*nodeEntry),
		volumes:    make(map[string]Reservation),
	}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Overcommit returns the ratio of reservable bytes to capacity.
func (c *Cluster) Overcommit() float64 { return c.overcommit }

// limit is how many bytes a disk of this capacity may have reserved.
func (c *Cluster) limit(capacity uint64) uint64 { return Reservable(capacity, c.overcommit) }

// Reservable is how many bytes a disk of this capacity may have reserved
// with the overcommit ratio.
func Reservable(capacity uint64, overcommit float64) uint64 {
	if overcommit == 1 {
		// Exact: a float round trip would lose bytes above 2^53.
		return capacity
	}
	l := math.Floor(float64(capacity) * overcommit)
	if l >= math.MaxUint64 {
		return math.MaxUint64
	}
	return uint64(l)
}

// free is what can still be reserved on d.
func (c *Cluster) free(d *Disk) uint64 {
	l := c.limit(d.CapacityBytes)
	if d.UsedBytes >= l {
		return 0
	}
	return l - d.UsedBytes
}

// UpsertNode adds a node or replaces its description (zone, state, labels,
// disks). Reservations on disks that stay are kept. A disk that holds
// replicas cannot be dropped: release or move them first.
func (c *Cluster) UpsertNode(n Node) error {
	if err := validateNode(n); err != nil {
		return err
	}
	old := c.nodes[n.ID]
	if old != nil {
		// Placement owns a known node's state: registering it again
		// (an agent's restart, a disk added) does not uncordon it.
		n.State = old.node.State
	}
	e := &nodeEntry{
		node: Node{
			ID: n.ID, Zone: n.Zone, Region: n.Region, State: n.State,
			Labels: maps.Clone(n.Labels),
			Disks:  slices.Clone(n.Disks),
		},
		refs:    make([]int, len(n.Disks)),
		diskIdx: make(map[string]int, len(n.Disks)),
		zone:    c.zones.of(n.Zone),
		region:  c.regions.of(n.Region),
	}
	for i := range e.node.Disks {
		d := &e.node.Disks[i]
		e.diskIdx[d.ID] = i
		d.UsedBytes = 0
		if old != nil {
			if j, ok := old.diskIdx[d.ID]; ok {
				d.UsedBytes = old.node.Disks[j].UsedBytes
				e.refs[i] = old.refs[j]
			}
		}
	}
	if old != nil {
		var dropped []string
		for j, d := range old.node.Disks {
			if _, ok := e.diskIdx[d.ID]; !ok && old.refs[j] > 0 {
				dropped = append(dropped, d.ID)
			}
		}
		if len(dropped) > 0 {
			return fmt.Errorf("update node %s: disk %s: %w of %s",
				n.ID, strings.Join(dropped, ", "), ErrHoldsReplicas, strings.Join(c.volumesOn(n.ID, dropped...), ", "))
		}
	}
	i, found := c.position(n.ID)
	if found {
		c.order[i] = e
	} else {
		c.order = slices.Insert(c.order, i, e)
	}
	c.nodes[n.ID] = e
	return nil
}

// position finds where node id is, or would be, in c.order.
func (c *Cluster) position(id string) (int, bool) {
	return slices.BinarySearchFunc(c.order, id, func(e *nodeEntry, id string) int { return strings.Compare(e.node.ID, id) })
}

func validateNode(n Node) error {
	var problems []string
	if n.ID == "" {
		problems = append(problems, "empty id")
	}
	if n.Zone == "" {
		problems = append(problems, "empty zone")
	}
	if n.Region == "" {
		problems = append(problems, "empty region")
	}
	if !n.State.Valid() {
		problems = append(problems, fmt.Sprintf("invalid state %v", n.State))
	}
	seen := make(map[string]bool, len(n.Disks))
	for _, d := range n.Disks {
		switch {
		case d.ID == "":
			problems = append(problems, "disk with empty id")
		case seen[d.ID]:
			problems = append(problems, fmt.Sprintf("duplicate disk %s", d.ID))
		case !d.Tier.Valid():
			problems = append(problems, fmt.Sprintf("disk %s has invalid tier %v", d.ID, d.Tier))
		}
		seen[d.ID] = true
	}
	if len(problems) > 0 {
		return fmt.Errorf("node %q: %s: %w", n.ID, strings.Join(problems, "; "), ErrInvalidNode)
	}
	return nil
}

// SetNodeState changes a node's state, e.g. to cordon or drain it. Its
// reservations are untouched: moving replicas off is the rebalancer's job.
func (c *Cluster) SetNodeState(id string, s NodeState) error {
	e, ok := c.nodes[id]
	if !ok {
		return fmt.Errorf("set state of node %s: %w", id, ErrUnknownNode)
	}
	if !s.Valid() {
		return fmt.Errorf("set state of node %s to %v: %w", id, s, ErrInvalidNode)
	}
	e.node.State = s
	return nil
}

// RemoveNode forgets a node that holds no replicas. Removing an unknown node
// is a no-op, so replayed events are harmless.
func (c *Cluster) RemoveNode(id string) error {
	e, ok := c.nodes[id]
	if !ok {
		return nil
	}
	for _, r := range e.refs {
		if r > 0 {
			return fmt.Errorf("remove node %s: %w of %s", id, ErrHoldsReplicas, strings.Join(c.volumesOn(id), ", "))
		}
	}
	delete(c.nodes, id)
	i, _ := c.position(id)
	c.order = slices.Delete(c.order, i, i+1)
	return nil
}

// volumesOn lists, sorted, the volumes with a replica on node (restricted to
// the given disks when any are named). Only error paths call it, so a scan
// is fine.
func (c *Cluster) volumesOn(nodeID string, disks ...string) []string {
	var out []string
	for v, r := range c.volumes {
		for _, p := range r.Placements {
			if p.NodeID == nodeID && (len(disks) == 0 || slices.Contains(disks, p.DiskID)) {
				out = append(out, v)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

// Node returns a copy of the node with its current reservations in
// Disk.UsedBytes.
func (c *Cluster) Node(id string) (Node, bool) {
	e, ok := c.nodes[id]
	if !ok {
		return Node{}, false
	}
	return copyNode(&e.node), true
}

// Nodes returns copies of all nodes, sorted by ID.
func (c *Cluster) Nodes() []Node {
	out := make([]Node, 0, len(c.order))
	for _, e := range c.order {
		out = append(out, copyNode(&e.node))
	}
	return out
}

// UpNodes lists the nodes that take new replicas, sorted.
func (c *Cluster) UpNodes() []string {
	var out []string
	for _, e := range c.order {
		if e.node.State == NodeUp {
			out = append(out, e.node.ID)
		}
	}
	return out
}

func copyNode(n *Node) Node {
	cp := *n
	cp.Labels = maps.Clone(n.Labels)
	cp.Disks = slices.Clone(n.Disks)
	return cp
}

// FreeBytes returns what can still be reserved on a disk, overcommit
// included.
func (c *Cluster) FreeBytes(nodeID, diskID string) (uint64, bool) {
	e, ok := c.nodes[nodeID]
	if !ok {
		return 0, false
	}
	i, ok := e.diskIdx[diskID]
	if !ok {
		return 0, false
	}
	return c.free(&e.node.Disks[i]), true
}

// Reservation returns what a volume holds.
func (c *Cluster) Reservation(volumeID string) (Reservation, bool) {
	r, ok := c.volumes[volumeID]
	if !ok {
		return Reservation{}, false
	}
	r.Placements = slices.Clone(r.Placements)
	return r, true
}

// Reservations returns what every volume holds, by volume id.
func (c *Cluster) Reservations() []Reservation {
	out := make([]Reservation, 0, len(c.volumes))
	for _, r := range c.volumes {
		r.Placements = slices.Clone(r.Placements)
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Reservation) int { return strings.Compare(a.VolumeID, b.VolumeID) })
	return out
}

// diskRef locates a disk inside the cluster.
type diskRef struct {
	e *nodeEntry
	i int
}

func (c *Cluster) lookup(p Placement) (diskRef, error) {
	e, ok := c.nodes[p.NodeID]
	if !ok {
		return diskRef{}, fmt.Errorf("node %s: %w", p.NodeID, ErrUnknownNode)
	}
	i, ok := e.diskIdx[p.DiskID]
	if !ok {
		return diskRef{}, fmt.Errorf("disk %s on node %s: %w", p.DiskID, p.NodeID, ErrUnknownDisk)
	}
	return diskRef{e, i}, nil
}

// Reserve records that volumeID holds sizeBytes on each placed disk. It is
// the step that applies a Decision, and like Nomad's plan applier it checks
// the placements against the cluster as it is now, since the cluster may
// have moved on since Place ran.
//
// Reserve sets the volume's reservation rather than adding to it: reserving
// the same volume again replaces what it held, so a replayed event never
// counts twice. Only bytes a disk gains are checked against its room, so
// re-reserving what is already held succeeds even on a disk that has since
// shrunk. Placement.Zone is not trusted: the node's zone is recorded. On
// error nothing changes.
func (c *Cluster) Reserve(volumeID string, placements []Placement, sizeBytes uint64) error {
	if volumeID == "" || sizeBytes == 0 || len(placements) == 0 {
		return fmt.Errorf("reserve %q: need a volume id, a size and at least one placement: %w", volumeID, ErrInvalidRequest)
	}
	refs := make([]diskRef, len(placements))
	for i, p := range placements {
		r, err := c.lookup(p)
		if err != nil {
			return fmt.Errorf("reserve %s: %w", volumeID, err)
		}
		for _, q := range placements[:i] {
			if q.NodeID == p.NodeID && q.DiskID == p.DiskID {
				return fmt.Errorf("reserve %s: disk %s on node %s placed twice: %w", volumeID, p.DiskID, p.NodeID, ErrInvalidRequest)
			}
		}
		refs[i] = r
	}
	old := c.volumes[volumeID]
	if short := c.shortDisks(old, placements, refs, sizeBytes); short != "" {
		return fmt.Errorf("reserve %s (%s per replica): %s: %w", volumeID, formatBytes(sizeBytes), short, ErrInsufficientCapacity)
	}
	c.apply(volumeID, placements, refs, sizeBytes)
	return nil
}

// apply replaces the volume's reservation; callers have checked room.
func (c *Cluster) apply(volumeID string, placements []Placement, refs []diskRef, size uint64) {
	c.Release(volumeID)
	stored := make([]Placement, len(placements))
	for i, p := range placements {
		r := refs[i]
		r.e.node.Disks[r.i].UsedBytes += size
		r.e.refs[r.i]++
		p.Zone = r.e.node.Zone
		stored[i] = p
	}
	c.volumes[volumeID] = Reservation{VolumeID: volumeID, SizeBytes: size, Placements: stored}
}

// shortDisks names every target disk that cannot take what it would gain
// when the volume goes from old to size bytes on placements; "" when all fit.
func (c *Cluster) shortDisks(old Reservation, placements []Placement, refs []diskRef, size uint64) string {
	var short []string
	for i, p := range placements {
		held := uint64(0)
		for _, q := range old.Placements {
			if q.NodeID == p.NodeID && q.DiskID == p.DiskID {
				held = old.SizeBytes
			}
		}
		if size <= held {
			continue
		}
		grow := size - held
		if free := c.free(&refs[i].e.node.Disks[refs[i].i]); free < grow {
			short = append(short, fmt.Sprintf("disk %s on node %s has %s free, needs %s more",
				p.DiskID, p.NodeID, formatBytes(free), formatBytes(grow)))
		}
	}
	return strings.Join(short, "; ")
}

// Release drops whatever volumeID holds. Releasing a volume that holds
// nothing is a no-op, so replayed deletions are harmless.
func (c *Cluster) Release(volumeID string) {
	old, ok := c.volumes[volumeID]
	if !ok {
		return
	}
	for _, p := range old.Placements {
		// Nodes and disks with reservations cannot be removed, so the
		// lookup cannot fail.
		r, err := c.lookup(p)
		if err != nil {
			continue
		}
		d := &r.e.node.Disks[r.i]
		d.UsedBytes -= min(d.UsedBytes, old.SizeBytes)
		r.e.refs[r.i]--
	}
	delete(c.volumes, volumeID)
}

// Resize changes a volume's reservation to newSize on the disks it already
// holds. Growing is refused, with every disk that lacks room named, unless
// all of them can take it; shrinking always succeeds. On error nothing
// changes.
func (c *Cluster) Resize(volumeID string, newSize uint64) error {
	return c.resize(volumeID, newSize, true)
}

// CheckResize reports whether Resize would succeed, changing nothing.
func (c *Cluster) CheckResize(volumeID string, newSize uint64) error {
	return c.resize(volumeID, newSize, false)
}

func (c *Cluster) resize(volumeID string, newSize uint64, apply bool) error {
	old, ok := c.volumes[volumeID]
	if !ok {
		return fmt.Errorf("resize %s: %w", volumeID, ErrUnknownVolume)
	}
	if newSize == 0 {
		return fmt.Errorf("resize %s to 0 bytes: %w", volumeID, ErrInvalidRequest)
	}
	// Held disks cannot be removed, so every lookup succeeds.
	refs := make([]diskRef, len(old.Placements))
	for i, p := range old.Placements {
		refs[i], _ = c.lookup(p)
	}
	if short := c.shortDisks(old, old.Placements, refs, newSize); short != "" {
		return fmt.Errorf("resize %s from %s to %s: %s: %w", volumeID,
			formatBytes(old.SizeBytes), formatBytes(newSize), short, ErrInsufficientCapacity)
	}
	if apply {
		c.apply(volumeID, old.Placements, refs, newSize)
	}
	return nil
}
