package readmodel

import (
	"context"
	"fmt"
	"slices"
	"unique"

	"google.golang.org/protobuf/proto"

	"ballast.dev/platform/events"
	ballastv1 "ballast.dev/proto/ballast/v1"
)

// diskKey names one disk of one node: disk ids are only unique per node.
type diskKey struct{ node, disk string }

// replicaLoc is where a replica was provisioned.
type replicaLoc = diskKey

// reservation is the bytes one replica of a volume holds on a disk.
type reservation struct {
	replica string
	at      diskKey
	bytes   uint64
}

// diskOf is the key of a disk, its ids interned: a fleet has few nodes and
// disks and every replica names one, so the model keeps one copy of each id.
func diskOf(node, disk string) diskKey {
	return diskKey{unique.Make(node).Value(), unique.Make(disk).Value()}
}

// MemoryNodes is the nodes read model in memory. It is built from three
// streams that are consumed independently, so their events arrive in no
// particular order relative to each other (at a rebuild, a disk's
// reservations may come before the node registered it): the tallies are
// therefore kept apart from the node rows and joined when read.
type MemoryNodes struct {
	memBase
	nodes map[string]*ballastv1.Node // as last registered
	ids   keys
	loads map[string]*ballastv1.NodeLoad
	// states are what placement recorded, by node: a node without one
	// is up.
	states map[string]ballastv1.NodeState

	// Replicas provisioned, by replica id, and their counts.
	replicas     map[string]replicaLoc
	diskReplicas map[diskKey]uint32
	nodeReplicas map[string]uint32

	// Reservations by volume id and replica id, so that a release returns
	// exactly what the volume held; reserved sums them per disk.
	// A volume has few replicas: a slice each, not a map.
	reservations map[string][]reservation
	reserved     map[diskKey]uint64
}

var _ NodeStore = (*MemoryNodes)(nil)

// NewMemoryNodes returns an empty nodes read model.
func NewMemoryNodes() *MemoryNodes {
	return &MemoryNodes{
		memBase:      newMemBase(events.Node.Stream, events.Placement.Stream),
		nodes:        make(map[string]*ballastv1.Node),
		ids:          newKeys(),
		loads:        make(map[string]*ballastv1.NodeLoad),
		states:       make(map[string]ballastv1.NodeState),
		replicas:     make(map[string]replicaLoc),
		diskReplicas: make(map[diskKey]uint32),
		nodeReplicas: make(map[string]uint32),
		reservations: make(map[string][]reservation),
		reserved:     make(map[diskKey]uint64),
	}
}

// Apply applies one event of the node or placement stream.
func (s *MemoryNodes) Apply(_ context.Context, ev Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	fresh, err := s.begin(ev)
	if err != nil || !fresh {
		return err
	}
	defer s.advance(ev)
	switch e := ev.Message.(type) {
	case *ballastv1.NodeRegistered:
		s.register(e)
	case *ballastv1.ReplicaProvisioned:
		s.unplace(e.GetReplicaId())
		at := diskOf(e.GetNodeId(), e.GetDiskId())
		s.replicas[e.GetReplicaId()] = at
		s.diskReplicas[at]++
		s.nodeReplicas[at.node]++
	case *ballastv1.ReplicaDeleted:
		s.unplace(e.GetReplicaId())
	case *ballastv1.PlacementDecided:
		s.reserve(e)
	case *ballastv1.ResizeApproved:
		held := s.reservations[e.GetVolumeId()]
		for i := range held {
			if r := &held[i]; r.bytes < e.GetSizeBytes() {
				s.reserved[r.at] += e.GetSizeBytes() - r.bytes
				r.bytes = e.GetSizeBytes()
			}
		}
	case *ballastv1.CapacityReleased:
		s.release(e.GetVolumeId())
	case *ballastv1.NodeStateChanged:
		s.states[e.GetNodeId()] = e.GetState()
	case *ballastv1.MoveAdmitted:
		t := e.GetTarget()
		s.hold(e.GetVolumeId(), reservation{replica: t.GetReplicaId(), at: diskOf(t.GetNodeId(), t.GetDiskId()), bytes: e.GetSizeBytes()})
	case *ballastv1.MoveSettled:
		// The move's source (completed) or target (rolled back) holds
		// nothing any more.
		held := s.reservations[e.GetVolumeId()]
		at := diskOf(e.GetReleased().GetNodeId(), e.GetReleased().GetDiskId())
		if i := slices.IndexFunc(held, func(r reservation) bool { return r.at == at }); i >= 0 {
			s.unreserve(held[i])
			s.reservations[e.GetVolumeId()] = slices.Delete(held, i, i+1)
		}
	}
	return nil
}

// SetLoad records a node's latest load.
func (s *MemoryNodes) SetLoad(_ context.Context, e *ballastv1.NodeLoadSummarized) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loads[e.GetNodeId()] = &ballastv1.NodeLoad{
		ReadIops:            e.GetReadIops(),
		WriteIops:           e.GetWriteIops(),
		ReadBytesPerSecond:  e.GetReadBytesPerSecond(),
		WriteBytesPerSecond: e.GetWriteBytesPerSecond(),
		Utilization:         e.GetUtilization(),
		LatencyMicros:       e.GetLatencyMicros(),
		WindowEndTime:       e.GetWindowEndTime(),
	}
	return nil
}

func (s *MemoryNodes) register(e *ballastv1.NodeRegistered) {
	n := &ballastv1.Node{
		Id:           e.GetNodeId(),
		Zone:         e.GetZone(),
		Region:       e.GetRegion(),
		State:        ballastv1.NodeState_NODE_STATE_UP,
		Labels:       e.GetLabels(),
		RegisterTime: e.GetOccurTime(),
	}
	for _, d := range e.GetDisks() {
		d = proto.CloneOf(d)
		// The agent does not know what is reserved on its disks; the
		// tallies fill these in when the node is read.
		d.ReservedBytes, d.ReplicaCount = 0, 0
		n.Disks = append(n.Disks, d)
	}
	s.nodes[n.Id] = proto.CloneOf(n)
	s.ids.insert(n.Id)
}

// unplace forgets where a replica was provisioned, if anywhere.
func (s *MemoryNodes) unplace(replicaID string) {
	at, ok := s.replicas[replicaID]
	if !ok {
		return
	}
	delete(s.replicas, replicaID)
	if s.diskReplicas[at]--; s.diskReplicas[at] == 0 {
		delete(s.diskReplicas, at)
	}
	if s.nodeReplicas[at.node]--; s.nodeReplicas[at.node] == 0 {
		delete(s.nodeReplicas, at.node)
	}
}

// reserve records a decision's reservations. A replica placed again (a
// decision that moves it) gives up its earlier reservation.
func (s *MemoryNodes) reserve(e *ballastv1.PlacementDecided) {
	for i, p := range e.GetPlacements() {
		id := p.GetReplicaId()
		if id == "" {
			id = fmt.Sprintf("#%d", i)
		}
		s.hold(e.GetVolumeId(), reservation{replica: id, at: diskOf(p.GetNodeId(), p.GetDiskId()), bytes: e.GetSizeBytes()})
	}
}

// hold records what one replica of a volume reserves, giving up what it
// reserved before.
func (s *MemoryNodes) hold(volumeID string, r reservation) {
	held := s.reservations[volumeID]
	if i := slices.IndexFunc(held, func(o reservation) bool { return o.replica == r.replica }); i >= 0 {
		s.unreserve(held[i])
		held = slices.Delete(held, i, i+1)
	}
	s.reservations[volumeID] = append(held, r)
	s.reserved[r.at] += r.bytes
}

// release returns every reservation of a volume.
func (s *MemoryNodes) release(volumeID string) {
	for _, r := range s.reservations[volumeID] {
		s.unreserve(r)
	}
	delete(s.reservations, volumeID)
}

func (s *MemoryNodes) unreserve(r reservation) {
	if s.reserved[r.at] -= r.bytes; s.reserved[r.at] == 0 {
		delete(s.reserved, r.at)
	}
}

// view joins a node row with its tallies. The caller holds mu.
func (s *MemoryNodes) view(id string) *ballastv1.Node {
	n := proto.CloneOf(s.nodes[id])
	for _, d := range n.Disks {
		at := diskKey{id, d.GetId()}
		d.ReservedBytes = s.reserved[at]
		d.ReplicaCount = s.diskReplicas[at]
	}
	n.ReplicaCount = s.nodeReplicas[id]
	if st, ok := s.states[id]; ok {
		n.State = st
	}
	if l, ok := s.loads[id]; ok {
		n.Load = proto.CloneOf(l)
	}
	return n
}

// Node returns a registered node.
func (s *MemoryNodes) Node(_ context.Context, id string) (*ballastv1.Node, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, ok := s.nodes[id]; !ok {
		return nil, &NotFoundError{Kind: "node", Key: id}
	}
	return s.view(id), nil
}

// Nodes lists registered nodes in id order.
func (s *MemoryNodes) Nodes(_ context.Context, after string, limit int) ([]*ballastv1.Node, int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ids := s.ids.after(after, limit)
	page := make([]*ballastv1.Node, 0, len(ids))
	for _, id := range ids {
		page = append(page, s.view(id))
	}
	return page, s.ids.len(), nil
}
