package readmodel

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"ballast.dev/platform/events"
	ballastv1 "ballast.dev/proto/ballast/v1"
)

// maxTombstones bounds how many deleted incarnations MemoryVolumes keeps
// for Incarnation: enough for every watcher to see the end of its volume,
// without growing with every volume ever deleted.
const maxTombstones = 10000

// FoldVolume applies one event of a volume's history, stored at seq, to the
// volume as it was (nil when the name has no volume yet) and returns the
// volume after it and whether the event changed it. It never modifies v.
// Every store shares it, so that the memory and SQL read models cannot
// disagree on what an event means; it follows the volume service's
// aggregate.
func FoldVolume(v *ballastv1.Volume, seq uint64, m proto.Message) (*ballastv1.Volume, bool) {
	if e, ok := m.(*ballastv1.VolumeRequested); ok {
		// A request starts a new incarnation: whatever was under the
		// name before is gone.
		return &ballastv1.Volume{
			Id:         e.GetVolumeId(),
			Name:       e.GetVolumeName(),
			Spec:       proto.CloneOf(e.GetSpec()),
			SizeBytes:  e.GetSizeBytes(),
			State:      ballastv1.VolumeState_VOLUME_STATE_CREATING,
			CreateTime: e.GetOccurTime(),
			UpdateTime: e.GetOccurTime(),
			Version:    seq,
		}, true
	}
	if e, ok := m.(*ballastv1.VolumeRepaired); ok {
		// A repair records the volume as its readable events make it; the
		// history folds from here, as the aggregate's does.
		n := proto.CloneOf(e.GetVolume())
		if n == nil {
			n = &ballastv1.Volume{Id: e.GetVolumeId(), Name: e.GetVolumeName()}
		}
		n.UpdateTime, n.Version = e.GetOccurTime(), seq
		return n, true
	}
	id, at, ok := volumeEventRef(m)
	// An event of another incarnation, or of a name with no volume, is
	// history the current incarnation does not have.
	if !ok || v == nil || (id != "" && id != v.GetId()) {
		return v, false
	}
	n := proto.CloneOf(v)
	switch e := m.(type) {
	case *ballastv1.ReplicasAssigned:
		if e.GetSizeBytes() > 0 {
			n.SizeBytes = e.GetSizeBytes()
		}
		n.Replicas = make([]*ballastv1.Replica, len(e.GetReplicas()))
		for i, r := range e.GetReplicas() {
			r = proto.CloneOf(r)
			r.State, r.SizeBytes, r.Role = ballastv1.ReplicaState_REPLICA_STATE_PENDING, n.GetSizeBytes(), ballastv1.ReplicaRole_REPLICA_ROLE_HEALTHY
			n.Replicas[i] = r
		}
		n.Generation = 1
	case *ballastv1.ReplicaConfirmed:
		setReplica(n, e.GetReplicaId(), ballastv1.ReplicaState_REPLICA_STATE_READY, "")
	case *ballastv1.ReplicaFailed:
		setReplica(n, e.GetReplicaId(), ballastv1.ReplicaState_REPLICA_STATE_FAILED, e.GetReason())
	case *ballastv1.VolumeReady:
		// Ready means every replica is confirmed; the event carries the
		// last confirmation.
		n.State = ballastv1.VolumeState_VOLUME_STATE_READY
		setAllReplicas(n, ballastv1.ReplicaState_REPLICA_STATE_READY)
	case *ballastv1.VolumeFailed:
		n.State = ballastv1.VolumeState_VOLUME_STATE_FAILED
		n.FailureCode, n.FailureReason = e.GetCode(), e.GetReason()
	case *ballastv1.VolumeResizeRequested:
		n.ResizingToBytes, n.ResizeFailureReason = e.GetSizeBytes(), ""
	case *ballastv1.ReplicaGrown:
		for _, r := range n.Replicas {
			if r.GetId() == e.GetReplicaId() {
				r.SizeBytes = max(r.GetSizeBytes(), e.GetSizeBytes())
			}
		}
	case *ballastv1.VolumeResized:
		// Every replica has grown: in older logs, by the time the agents
		// acted on it.
		n.SizeBytes, n.ResizingToBytes = e.GetSizeBytes(), 0
		for _, r := range n.Replicas {
			r.SizeBytes = max(r.GetSizeBytes(), e.GetSizeBytes())
		}
		// As in the aggregate: the spec now asks for what the resize asked
		// for, or, in older logs that did not record it, the size granted.
		if n.Spec == nil {
			n.Spec = &ballastv1.VolumeSpec{}
		}
		n.Spec.Capacity = proto.CloneOf(e.GetCapacity())
		if n.Spec.Capacity == nil {
			n.Spec.Capacity = &ballastv1.CapacityRange{RequiredBytes: e.GetSizeBytes()}
		}
	case *ballastv1.VolumeResizeFailed:
		n.ResizingToBytes, n.ResizeFailureReason = 0, e.GetReason()
	case *ballastv1.VolumeDeleteRequested:
		n.State, n.ResizingToBytes = ballastv1.VolumeState_VOLUME_STATE_DELETING, 0
		for _, r := range e.GetReplicas() {
			setReplica(n, r.GetId(), ballastv1.ReplicaState_REPLICA_STATE_REMOVING, "")
		}
	case *ballastv1.ReplicaRemoved:
		if n.GetState() == ballastv1.VolumeState_VOLUME_STATE_DELETING {
			setReplica(n, e.GetReplicaId(), ballastv1.ReplicaState_REPLICA_STATE_REMOVED, "")
		} else {
			// A replica that left the set of a live volume.
			n.Replicas = slices.DeleteFunc(n.Replicas, func(r *ballastv1.Replica) bool { return r.GetId() == e.GetReplicaId() })
		}
	case *ballastv1.ReplicaAdded:
		r := proto.CloneOf(e.GetReplica())
		if r == nil {
			return v, false
		}
		r.Role, r.State, r.FailureReason = ballastv1.ReplicaRole_REPLICA_ROLE_REBUILDING, ballastv1.ReplicaState_REPLICA_STATE_PENDING, ""
		if r.SizeBytes == 0 {
			r.SizeBytes = n.GetSizeBytes()
		}
		n.Replicas = append(n.Replicas, r)
		n.Generation = e.GetGeneration()
	case *ballastv1.ReplicaPromoted:
		setRole(n, e.GetReplicaId(), ballastv1.ReplicaRole_REPLICA_ROLE_HEALTHY)
		if e.GetRetiredReplicaId() != "" {
			leave(n, e.GetRetiredReplicaId())
		}
		n.Generation = e.GetGeneration()
	case *ballastv1.ReplicaRetired:
		leave(n, e.GetReplicaId())
		n.Generation = e.GetGeneration()
	case *ballastv1.ReplicaLost:
		setRole(n, e.GetReplicaId(), ballastv1.ReplicaRole_REPLICA_ROLE_LOST)
		for _, r := range n.Replicas {
			if r.GetId() == e.GetReplicaId() {
				r.FailureReason = e.GetReason()
			}
		}
		n.Generation = e.GetGeneration()
	case *ballastv1.VolumeDeleted:
		n.State = ballastv1.VolumeState_VOLUME_STATE_DELETED
		setAllReplicas(n, ballastv1.ReplicaState_REPLICA_STATE_REMOVED)
	}
	switch m.(type) {
	case *ballastv1.ReplicaConfirmed, *ballastv1.ReplicaFailed, *ballastv1.ReplicaAdded, *ballastv1.ReplicaPromoted,
		*ballastv1.ReplicaRetired, *ballastv1.ReplicaLost, *ballastv1.ReplicaRemoved:
		// The replica set of a ready volume changed.
		settle(n)
	}
	if at != nil && (n.UpdateTime == nil || at.AsTime().After(n.UpdateTime.AsTime())) {
		n.UpdateTime = at
	}
	n.Version = seq
	return n, true
}

// settle is the state a ready volume's replica set makes it, as in the
// aggregate: degraded while it has fewer healthy replicas than it asks for.
func settle(v *ballastv1.Volume) {
	if v.GetState() != ballastv1.VolumeState_VOLUME_STATE_READY && v.GetState() != ballastv1.VolumeState_VOLUME_STATE_DEGRADED {
		return
	}
	healthy := 0
	for _, r := range v.GetReplicas() {
		role := r.GetRole()
		if (role == ballastv1.ReplicaRole_REPLICA_ROLE_HEALTHY || role == ballastv1.ReplicaRole_REPLICA_ROLE_UNSPECIFIED) &&
			r.GetState() == ballastv1.ReplicaState_REPLICA_STATE_READY {
			healthy++
		}
	}
	v.State = ballastv1.VolumeState_VOLUME_STATE_READY
	if healthy < int(v.GetSpec().GetReplicas()) {
		v.State = ballastv1.VolumeState_VOLUME_STATE_DEGRADED
	}
}

func setRole(v *ballastv1.Volume, id string, role ballastv1.ReplicaRole) {
	for _, r := range v.Replicas {
		if r.GetId() == id {
			r.Role = role
		}
	}
}

func leave(v *ballastv1.Volume, id string) {
	for _, r := range v.Replicas {
		if r.GetId() == id {
			r.Role, r.State = ballastv1.ReplicaRole_REPLICA_ROLE_LEAVING, ballastv1.ReplicaState_REPLICA_STATE_REMOVING
		}
	}
}

// volumeEventRef returns the volume id and time of a volume event other than
// VolumeRequested; ok is false for messages that are not volume events.
func volumeEventRef(m proto.Message) (id string, at *timestamppb.Timestamp, ok bool) {
	switch e := m.(type) {
	case *ballastv1.ReplicasAssigned:
		return e.GetVolumeId(), e.GetOccurTime(), true
	case *ballastv1.ReplicaConfirmed:
		return e.GetVolumeId(), e.GetOccurTime(), true
	case *ballastv1.ReplicaFailed:
		return e.GetVolumeId(), e.GetOccurTime(), true
	case *ballastv1.VolumeReady:
		return e.GetVolumeId(), e.GetOccurTime(), true
	case *ballastv1.VolumeFailed:
		return e.GetVolumeId(), e.GetOccurTime(), true
	case *ballastv1.VolumeResizeRequested:
		return e.GetVolumeId(), e.GetOccurTime(), true
	case *ballastv1.VolumeResizeApproved:
		return e.GetVolumeId(), e.GetOccurTime(), true
	case *ballastv1.ReplicaGrown:
		return e.GetVolumeId(), e.GetOccurTime(), true
	case *ballastv1.VolumeResized:
		return e.GetVolumeId(), e.GetOccurTime(), true
	case *ballastv1.VolumeResizeFailed:
		return e.GetVolumeId(), e.GetOccurTime(), true
	case *ballastv1.VolumeDeleteRequested:
		return e.GetVolumeId(), e.GetOccurTime(), true
	case *ballastv1.ReplicaRemoved:
		return e.GetVolumeId(), e.GetOccurTime(), true
	case *ballastv1.VolumeDeleted:
		return e.GetVolumeId(), e.GetOccurTime(), true
	case *ballastv1.ReplicaAdded:
		return e.GetVolumeId(), e.GetOccurTime(), true
	case *ballastv1.ReplicaPromoted:
		return e.GetVolumeId(), e.GetOccurTime(), true
	case *ballastv1.ReplicaRetired:
		return e.GetVolumeId(), e.GetOccurTime(), true
	case *ballastv1.ReplicaLost:
		return e.GetVolumeId(), e.GetOccurTime(), true
	}
	return "", nil, false
}

func setAllReplicas(v *ballastv1.Volume, s ballastv1.ReplicaState) {
	for _, r := range v.Replicas {
		r.State, r.FailureReason = s, ""
	}
}

func setReplica(v *ballastv1.Volume, id string, s ballastv1.ReplicaState, reason string) {
	for _, r := range v.Replicas {
		if r.GetId() == id {
			r.State, r.FailureReason = s, reason
		}
	}
}

// row is a volume as MemoryVolumes keeps it: its encoding. As a graph of
// messages a volume of three replicas costs about 2 KB in some fifteen
// objects, all of them scanned by every collection; encoded, about 400
// bytes in one object without pointers. A read decodes it, which costs about
// what the copy a read hands out used to.
type row []byte

func rowOf(v *ballastv1.Volume) (row, error) {
	b, err := proto.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("volume %s: encode: %w", v.GetName(), err)
	}
	return b, nil
}

// volume decodes the row: a fresh message, the caller's to keep or change.
func (r row) volume() (*ballastv1.Volume, error) {
	v := &ballastv1.Volume{}
	if err := proto.Unmarshal(r, v); err != nil {
		return nil, fmt.Errorf("volumes read model: decode: %w", err)
	}
	return v, nil
}

// MemoryVolumes is the volumes read model in memory, rebuilt from the log at
// every start.
type MemoryVolumes struct {
	memBase
	byName map[string]row    // live volumes
	names  keys              // live names
	nameOf map[string]string // live id → name
	// tombstones are deleted incarnations by id, oldest first in order.
	tombstones map[string]row
	order      []string
	// changed holds, per name someone waits on, the channel closed at the
	// name's next change.
	changed map[string]*waiters
}

var _ VolumeStore = (*MemoryVolumes)(nil)

// NewMemoryVolumes returns an empty volumes read model.
func NewMemoryVolumes() *MemoryVolumes {
	return &MemoryVolumes{
		memBase:    newMemBase(events.Volume.Stream),
		byName:     make(map[string]row),
		names:      newKeys(),
		nameOf:     make(map[string]string),
		tombstones: make(map[string]row),
		changed:    make(map[string]*waiters),
	}
}

// Apply applies one event of the volume stream.
func (s *MemoryVolumes) Apply(_ context.Context, ev Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	fresh, err := s.begin(ev)
	if err != nil || !fresh {
		return err
	}
	defer s.advance(ev)
	if ev.Message == nil {
		return nil
	}
	// The subject names the history; the name in the payload should agree.
	name := events.Volume.ID(ev.Subject)
	var old *ballastv1.Volume
	if r, ok := s.byName[name]; ok {
		if old, err = r.volume(); err != nil {
			return err
		}
	}
	v, changed := FoldVolume(old, ev.Sequence, ev.Message)
	if !changed {
		return nil
	}
	r, err := rowOf(v)
	if err != nil {
		return err
	}
	if old != nil && old.GetId() != v.GetId() {
		// A new incarnation replaces one that was never deleted. The volume
		// service deletes a failed incarnation in the same append as the
		// request that replaces it, so only a log it did not write has
		// this; keep the old one as it stood for Incarnation.
		delete(s.nameOf, old.GetId())
		s.bury(old.GetId(), s.byName[name])
	}
	if v.GetState() == ballastv1.VolumeState_VOLUME_STATE_DELETED {
		delete(s.byName, name)
		delete(s.nameOf, v.GetId())
		s.names.remove(name)
		s.bury(v.GetId(), r)
	} else {
		s.byName[name] = r
		s.nameOf[v.GetId()] = name
		s.names.insert(name)
	}
	if w, ok := s.changed[name]; ok {
		close(w.ch)
		delete(s.changed, name)
	}
	return nil
}

// bury keeps a deleted incarnation for Incarnation, forgetting the oldest
// beyond maxTombstones.
func (s *MemoryVolumes) bury(id string, r row) {
	if _, ok := s.tombstones[id]; !ok {
		s.order = append(s.order, id)
	}
	s.tombstones[id] = r
	for len(s.order) > maxTombstones {
		delete(s.tombstones, s.order[0])
		s.order = s.order[1:]
	}
}

// Volume returns the live volume with the name or id.
func (s *MemoryVolumes) Volume(_ context.Context, nameOrID string) (*ballastv1.Volume, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if r, ok := s.byName[nameOrID]; ok {
		return r.volume()
	}
	if name, ok := s.nameOf[nameOrID]; ok {
		return s.byName[name].volume()
	}
	return nil, &NotFoundError{Kind: "volume", Key: nameOrID}
}

// Incarnation returns the volume with the id, live or deleted.
func (s *MemoryVolumes) Incarnation(_ context.Context, id string) (*ballastv1.Volume, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if name, ok := s.nameOf[id]; ok {
		return s.byName[name].volume()
	}
	if r, ok := s.tombstones[id]; ok {
		return r.volume()
	}
	return nil, &NotFoundError{Kind: "volume", Key: id}
}

// Volumes lists live volumes in name order.
func (s *MemoryVolumes) Volumes(_ context.Context, after string, limit int) ([]*ballastv1.Volume, int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	names := s.names.after(after, limit)
	page := make([]*ballastv1.Volume, 0, len(names))
	for _, name := range names {
		v, err := s.byName[name].volume()
		if err != nil {
			return nil, 0, err
		}
		page = append(page, v)
	}
	return page, s.names.len(), nil
}

// waiters are those waiting on one name's next change.
type waiters struct {
	ch chan struct{}
	n  int
}

// VolumeChanged returns a channel closed at the next change under name, and
// the func that says the caller waits no more: a name nobody waits on
// holds nothing, however many watches have come and gone.
func (s *MemoryVolumes) VolumeChanged(name string) (<-chan struct{}, func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.changed[name]
	if !ok {
		w = &waiters{ch: make(chan struct{})}
		s.changed[name] = w
	}
	w.n++
	var once sync.Once
	return w.ch, func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if w.n--; w.n == 0 && s.changed[name] == w {
				delete(s.changed, name)
			}
		})
	}
}
