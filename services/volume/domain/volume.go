package domain

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// State is where a volume is in its lifecycle. The zero value is a name with
// no live volume: never created, or deleted.
type State int

// Volume states.
const (
	StateNone State = iota
	StateCreating
	StateReady
	StateFailed
	StateDeleting
	StateDeleted
	// StateDegraded: was ready, and has fewer healthy replicas than it
	// asks for until a replacement is promoted.
	StateDegraded
)

func (s State) String() string {
	return [...]string{"none", "creating", "ready", "failed", "deleting", "deleted", "degraded"}[s]
}

// ReplicaState is the state of one replica.
type ReplicaState int

// Replica states.
const (
	ReplicaStatePending ReplicaState = iota + 1
	ReplicaStateReady
	ReplicaStateFailed
	ReplicaStateRemoving
	ReplicaStateRemoved
)

// FailureKind says why a volume failed.
type FailureKind int

// Failure kinds.
const (
	// FailureNoCapacity: placement found no disks that could hold it.
	FailureNoCapacity FailureKind = iota + 1
	// FailureProvisioning: an agent could not create a replica.
	FailureProvisioning
)

// Replica is one copy of the volume on one disk.
type Replica struct {
	ID            string
	NodeID        string
	DiskID        string
	Zone          string
	State         ReplicaState
	FailureReason string
	// SizeBytes is what the replica was provisioned with or has grown to.
	SizeBytes uint64
	Role      Role
}

// Volume is the aggregate: a replicated volume under one name. Build it by
// applying its history; decide by calling its methods, which return the events
// to append and never change the volume themselves.
type Volume struct {
	id       string
	name     string
	spec     Spec
	size     uint64
	state    State
	replicas []Replica
	// generation is the replica set's: 1 once placed, bumped by every
	// change of the set.
	generation    uint64
	failure       FailureKind
	failureReason string
	resizingTo    uint64
	// resizeAsked is the range of the resize in progress; the spec asks
	// for it once the resize is done.
	resizeAsked CapacityRange
	// resizeApproved: placement has approved resizingTo, and the agents
	// grow the replicas. A repair records neither (the volume it records
	// has no place for them): after one, an approval seen again is
	// recorded again, which the agents take in stride, and the spec of a
	// resize done asks for its size.
	resizeApproved bool
	resizeFailure  string
	created        time.Time
	updated        time.Time
	// unreadable are events of the history since the last repair that
	// could not be read: while there are any, the volume refuses changes.
	unreadable []Unreadable
}

// Fields is a volume's whole state, as a repair records it.
type Fields struct {
	ID            string
	Name          string
	Spec          Spec
	SizeBytes     uint64
	State         State
	Replicas      []Replica
	Generation    uint64
	Failure       FailureKind
	FailureReason string
	ResizingTo    uint64
	ResizeFailure string
	Created       time.Time
	Updated       time.Time
}

// Fields returns a copy of the volume's state.
func (v *Volume) Fields() Fields {
	c := v.Clone()
	return Fields{
		ID: c.id, Name: c.name, Spec: c.spec, SizeBytes: c.size, State: c.state, Replicas: c.replicas, Generation: c.generation,
		Failure: c.failure, FailureReason: c.failureReason, ResizingTo: c.resizingTo, ResizeFailure: c.resizeFailure,
		Created: c.created, Updated: c.updated,
	}
}

// Restore makes a volume of its recorded state.
func Restore(f Fields) *Volume {
	v := &Volume{
		id: f.ID, name: f.Name, spec: f.Spec, size: f.SizeBytes, state: f.State, replicas: f.Replicas, generation: f.Generation,
		failure: f.Failure, failureReason: f.FailureReason, resizingTo: f.ResizingTo, resizeFailure: f.ResizeFailure,
		created: f.Created, updated: f.Updated,
	}
	c := v.Clone()
	for i := range c.replicas {
		if c.replicas[i].Role == RoleUnspecified {
			c.replicas[i].Role = RoleHealthy
		}
	}
	return c
}

// SetUnreadable records the events of the history since its last repair that
// could not be read. The loader of the history calls it.
func (v *Volume) SetUnreadable(us []Unreadable) { v.unreadable = slices.Clone(us) }

// Unreadable lists them.
func (v *Volume) Unreadable() []Unreadable { return slices.Clone(v.unreadable) }

// Damaged is a *DamagedError while the history holds unreadable events.
func (v *Volume) Damaged() error {
	if len(v.unreadable) == 0 {
		return nil
	}
	name := v.name
	if name == "" {
		name = "(unknown)"
	}
	return &DamagedError{Name: name, Unreadable: slices.Clone(v.unreadable)}
}

// Repair decides a repair: the volume as the readable events make it is
// recorded, and the unreadable events are left out from then on. A volume
// with nothing to repair needs no event.
func (v *Volume) Repair(name string, now time.Time) []Event {
	if len(v.unreadable) == 0 {
		return nil
	}
	f := v.Fields()
	if f.Name == "" {
		// The history's first readable event is missing: the subject
		// still names the volume.
		f.Name = name
	}
	skipped := make([]uint64, len(v.unreadable))
	for i, u := range v.unreadable {
		skipped[i] = u.Sequence
	}
	return []Event{Repaired{Volume: f, Skipped: skipped, At: now}}
}

// ID is the id of the current incarnation.
func (v *Volume) ID() string { return v.id }

// Name is the volume's name.
func (v *Volume) Name() string { return v.name }

// Spec is what the volume was asked to be.
func (v *Volume) Spec() Spec { return v.spec }

// SizeBytes is the provisioned size.
func (v *Volume) SizeBytes() uint64 { return v.size }

// State is the lifecycle state.
func (v *Volume) State() State { return v.state }

// Replicas returns a copy of the replica set.
func (v *Volume) Replicas() []Replica { return slices.Clone(v.replicas) }

// Failure says why the volume failed.
func (v *Volume) Failure() (FailureKind, string) { return v.failure, v.failureReason }

// ResizingTo is the size of a resize in progress, zero when none.
func (v *Volume) ResizingTo() uint64 { return v.resizingTo }

// ResizeFailure is why the last resize was refused.
func (v *Volume) ResizeFailure() string { return v.resizeFailure }

// CreatedAt and UpdatedAt are the times of the first and the last event.
func (v *Volume) CreatedAt() time.Time { return v.created }

// UpdatedAt is the time of the volume's last event.
func (v *Volume) UpdatedAt() time.Time { return v.updated }

// Live reports whether a volume exists under the name (in any state but
// deleted).
func (v *Volume) Live() bool { return v.state != StateNone && v.state != StateDeleted }

// Replay builds the volume under name from its history.
func Replay(name string, history []Event) *Volume {
	// The name keys the history: a name with none still has its name.
	v := &Volume{name: name}
	for _, e := range history {
		v.Apply(e)
	}
	return v
}

// Apply folds one event into the volume.
func (v *Volume) Apply(e Event) {
	switch e := e.(type) {
	case Requested:
		*v = Volume{id: e.ID, name: e.Name, spec: e.Spec, size: e.SizeBytes, state: StateCreating, created: e.At, updated: e.At}
		return
	case Repaired:
		*v = *Restore(e.Volume)
		v.touch(e.At)
		return
	case ReplicasAssigned:
		v.size = e.SizeBytes
		v.replicas = slices.Clone(e.Replicas)
		for i := range v.replicas {
			v.replicas[i].State, v.replicas[i].SizeBytes, v.replicas[i].Role = ReplicaStatePending, e.SizeBytes, RoleHealthy
		}
		v.generation = 1
		v.touch(e.At)
	case ReplicaConfirmed:
		v.setReplica(e.ReplicaID, ReplicaStateReady, "")
		v.touch(e.At)
		v.settle()
	case ReplicaFailed:
		v.setReplica(e.ReplicaID, ReplicaStateFailed, e.Reason)
		v.touch(e.At)
		v.settle()
	case ReplicaAdded, ReplicaPromoted, ReplicaRetired, ReplicaLost:
		v.applySetChange(e)
	case Ready:
		v.state = StateReady
		v.setAllReplicas(ReplicaStateReady)
		v.touch(e.At)
	case Failed:
		v.state, v.failure, v.failureReason = StateFailed, e.Kind, e.Reason
		v.touch(e.At)
	case ResizeRequested:
		v.resizingTo, v.resizeAsked, v.resizeApproved, v.resizeFailure = e.SizeBytes, e.Capacity, false, ""
		v.touch(e.At)
	case ResizeApproved:
		v.resizeApproved = true
		v.touch(e.At)
	case ReplicaGrown:
		for i := range v.replicas {
			if v.replicas[i].ID == e.ReplicaID {
				v.replicas[i].SizeBytes = max(v.replicas[i].SizeBytes, e.SizeBytes)
			}
		}
		v.touch(e.At)
	case Resized:
		v.size, v.resizingTo, v.resizeAsked, v.resizeApproved = e.SizeBytes, 0, CapacityRange{}, false
		// The spec is what the volume was asked to be.
		v.spec.Capacity = e.Capacity
		if v.spec.Capacity == (CapacityRange{}) {
			v.spec.Capacity = CapacityRange{RequiredBytes: e.SizeBytes}
		}
		for i := range v.replicas {
			v.replicas[i].SizeBytes = max(v.replicas[i].SizeBytes, e.SizeBytes)
		}
		v.touch(e.At)
	case ResizeFailed:
		v.resizingTo, v.resizeAsked, v.resizeApproved, v.resizeFailure = 0, CapacityRange{}, false, e.Reason
		v.touch(e.At)
	case DeleteRequested:
		v.state, v.resizingTo, v.resizeAsked, v.resizeApproved = StateDeleting, 0, CapacityRange{}, false
		for _, r := range e.Replicas {
			v.setReplica(r.ID, ReplicaStateRemoving, "")
		}
		v.touch(e.At)
	case ReplicaRemoved:
		if v.state == StateDeleting {
			v.setReplica(e.ReplicaID, ReplicaStateRemoved, "")
		} else {
			// A replica that left the set of a live volume.
			v.drop(e.ReplicaID)
		}
		v.touch(e.At)
	case Deleted:
		v.state = StateDeleted
		v.setAllReplicas(ReplicaStateRemoved)
		v.touch(e.At)
	}
}

func (v *Volume) touch(at time.Time) {
	if at.After(v.updated) {
		v.updated = at
	}
}

func (v *Volume) setReplica(id string, s ReplicaState, reason string) {
	for i := range v.replicas {
		if v.replicas[i].ID == id {
			v.replicas[i].State, v.replicas[i].FailureReason = s, reason
		}
	}
}

func (v *Volume) setAllReplicas(s ReplicaState) {
	for i := range v.replicas {
		v.replicas[i].State, v.replicas[i].FailureReason = s, ""
	}
}

func (v *Volume) replica(id string) (Replica, bool) {
	for _, r := range v.replicas {
		if r.ID == id {
			return r, true
		}
	}
	return Replica{}, false
}

// Create decides a create of name with spec. A live volume under the name
// with the same intent is a retry: no events and no error. Another intent is
// ErrAlreadyExists. A FAILED volume does not hold its name: the create starts
// a new incarnation, deleting the failed one in the same append (its
// replicas removed, its reservations released), as CSI's retries of a failed
// CreateVolume expect. The repository answers a resend of the very create
// that failed with the failed volume, before asking here.
func (v *Volume) Create(id, name string, spec Spec, now time.Time) ([]Event, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	if err := v.Damaged(); err != nil {
		return nil, err
	}
	size, err := spec.Validate()
	if err != nil {
		return nil, err
	}
	requested := Requested{ID: id, Name: name, Spec: spec, SizeBytes: size, At: now}
	switch {
	case v.state == StateFailed:
		return append(v.retire(now), requested), nil
	case v.Live():
		if v.spec.sameIntent(spec, v.size) {
			return nil, nil
		}
		return nil, fmt.Errorf("volume %q exists with another spec (%s): %w", name, v.describe(), ErrAlreadyExists)
	}
	return []Event{requested}, nil
}

// retire deletes a failed incarnation at once: the agents remove whatever
// replicas it has (provisioned or not) on DeleteRequested, and Deleted
// releases its reservations, without waiting for the removals, which are
// reported about an incarnation that is no longer there.
func (v *Volume) retire(now time.Time) []Event {
	var out []Event
	if remove := v.unremoved(); len(remove) > 0 {
		out = append(out, DeleteRequested{Replicas: remove, At: now})
	}
	return append(out, Deleted{At: now})
}

// unremoved lists the replicas not yet removed.
func (v *Volume) unremoved() []Replica {
	var out []Replica
	for _, r := range v.replicas {
		if r.State != ReplicaStateRemoved {
			out = append(out, r)
		}
	}
	return out
}

func (v *Volume) describe() string {
	return fmt.Sprintf("%s, %d replicas, tier %s, spread %s", formatBytes(v.size), v.spec.Replicas, v.spec.Tier, v.spec.Spread)
}

// AssignReplicas records placement's decision. Only a volume that is still
// being created and has no replicas takes one; anything else is stale and
// ignored.
func (v *Volume) AssignReplicas(size uint64, replicas []Replica, now time.Time) []Event {
	if v.state != StateCreating || len(v.replicas) > 0 {
		return nil
	}
	return []Event{ReplicasAssigned{SizeBytes: size, Replicas: slices.Clone(replicas), At: now}}
}

// FailPlacement records that no placement exists; reason names what was short.
func (v *Volume) FailPlacement(reason string, now time.Time) []Event {
	if v.state != StateCreating || len(v.replicas) > 0 {
		return nil
	}
	return []Event{Failed{Kind: FailureNoCapacity, Reason: reason, At: now}}
}

// ConfirmReplica records that an agent provisioned a replica; the last
// confirmation is the volume's readiness.
func (v *Volume) ConfirmReplica(replicaID, nodeID string, now time.Time) []Event {
	r, ok := v.replica(replicaID)
	if !ok || r.State != ReplicaStatePending {
		return nil
	}
	if r.Role == RoleRebuilding && (v.state == StateReady || v.state == StateDegraded) {
		// A replica added to a ready set: it is filled next.
		return []Event{ReplicaConfirmed{ReplicaID: replicaID, NodeID: nodeID, At: now}}
	}
	if v.state != StateCreating {
		return nil
	}
	if v.pendingExcept(replicaID) == 0 {
		return []Event{Ready{ReplicaID: replicaID, NodeID: nodeID, At: now}}
	}
	return []Event{ReplicaConfirmed{ReplicaID: replicaID, NodeID: nodeID, At: now}}
}

func (v *Volume) pendingExcept(replicaID string) int {
	n := 0
	for _, r := range v.replicas {
		if r.ID != replicaID && r.State != ReplicaStateReady {
			n++
		}
	}
	return n
}

// FailReplica records that an agent could not provision a replica. A volume
// being created fails with it: it could never become ready.
func (v *Volume) FailReplica(replicaID, nodeID, reason string, now time.Time) []Event {
	r, ok := v.replica(replicaID)
	if !ok || r.State != ReplicaStatePending {
		return nil
	}
	if r.Role == RoleRebuilding && (v.state == StateReady || v.state == StateDegraded) {
		// The move that added it rolls back; the volume keeps the
		// replicas it has.
		return []Event{ReplicaFailed{ReplicaID: replicaID, NodeID: nodeID, Reason: reason, At: now}}
	}
	if v.state != StateCreating {
		return nil
	}
	return []Event{
		ReplicaFailed{ReplicaID: replicaID, NodeID: nodeID, Reason: reason, At: now},
		Failed{Kind: FailureProvisioning, Reason: fmt.Sprintf("replica %s on node %s: %s", replicaID, nodeID, reason), At: now},
	}
}

// RequestResize decides a resize to the capacity range c, as CSI's
// ControllerExpandVolume has it: the size is the smallest whole MiB in the
// range (rounded up, as a driver rounds up to its allocation unit). Volumes
// only grow: a range that excludes the current size from above is refused. A
// range the volume already satisfies changes nothing.
func (v *Volume) RequestResize(c CapacityRange, now time.Time) ([]Event, error) {
	if err := v.Damaged(); err != nil {
		return nil, err
	}
	if !v.Live() || v.state == StateDeleting {
		return nil, v.notFound()
	}
	if c.RequiredBytes == 0 {
		return nil, fieldErr("capacity.required_bytes", "is required")
	}
	size, err := c.resolve("capacity")
	if err != nil {
		return nil, err
	}
	if c.Contains(v.size) && (v.resizingTo == 0 || c.Contains(v.resizingTo)) {
		return nil, nil
	}
	if size < v.size {
		return nil, fieldErr("capacity", "volumes only grow: %s is less than the current %s", formatBytes(size), formatBytes(v.size))
	}
	if v.state != StateReady {
		return nil, fmt.Errorf("volume %q is %s; only a ready volume can be resized: %w", v.name, v.state, ErrFailedPrecondition)
	}
	if v.Changing() {
		return nil, fmt.Errorf("volume %q has a replica being moved; resize it once the move is done: %w", v.name, ErrFailedPrecondition)
	}
	if v.resizingTo == size {
		return nil, nil
	}
	if v.resizingTo != 0 {
		return nil, fmt.Errorf("volume %q is already being resized to %s: %w", v.name, formatBytes(v.resizingTo), ErrFailedPrecondition)
	}
	return []Event{ResizeRequested{SizeBytes: size, Capacity: c, At: now}}, nil
}

// ApproveResize records that every replica's disk has room for size: the
// agents grow the replicas next. The resize is done when they all have.
func (v *Volume) ApproveResize(size uint64, now time.Time) []Event {
	if v.resizingTo != size || v.state != StateReady || v.resizeApproved {
		return nil
	}
	return []Event{ResizeApproved{SizeBytes: size, At: now}}
}

// GrowReplica records that an agent grew a replica to size; the growth of
// the last replica short of the size being resized to is the resize done.
// Reports that do not reach that size, or of replicas grown already, change
// nothing. Agents grow replicas only once the resize is approved, so a
// report that reaches the size stands for the approval too.
func (v *Volume) GrowReplica(replicaID, nodeID string, size uint64, now time.Time) []Event {
	r, ok := v.replica(replicaID)
	if v.state != StateReady || v.resizingTo == 0 || !ok || r.SizeBytes >= v.resizingTo || size < v.resizingTo {
		return nil
	}
	for _, o := range v.replicas {
		if o.ID != replicaID && o.SizeBytes < v.resizingTo {
			return []Event{ReplicaGrown{ReplicaID: replicaID, NodeID: nodeID, SizeBytes: size, At: now}}
		}
	}
	return []Event{Resized{SizeBytes: v.resizingTo, Capacity: v.resizeAsked, ReplicaID: replicaID, NodeID: nodeID, At: now}}
}

// RejectResize records that some disk lacks room for size.
func (v *Volume) RejectResize(size uint64, reason string, now time.Time) []Event {
	if v.resizingTo != size {
		return nil
	}
	return []Event{ResizeFailed{SizeBytes: size, Reason: reason, At: now}}
}

// RequestDelete decides a delete. Deleting a volume that is already going is
// a retry. A volume with nothing left to remove is deleted at once.
func (v *Volume) RequestDelete(now time.Time) ([]Event, error) {
	if err := v.Damaged(); err != nil {
		return nil, err
	}
	if !v.Live() {
		return nil, v.notFound()
	}
	if v.state == StateDeleting {
		return nil, nil
	}
	remove := v.unremoved()
	if len(remove) == 0 {
		return []Event{Deleted{At: now}}, nil
	}
	return []Event{DeleteRequested{Replicas: remove, At: now}}, nil
}

// ConfirmRemoved records that an agent removed a replica; the last removal
// is the volume's deletion.
func (v *Volume) ConfirmRemoved(replicaID, nodeID string, now time.Time) []Event {
	r, ok := v.replica(replicaID)
	if !ok || r.State != ReplicaStateRemoving {
		return nil
	}
	if v.state != StateDeleting {
		// A replica that left the set of a live volume is gone.
		return []Event{ReplicaRemoved{ReplicaID: replicaID, NodeID: nodeID, At: now}}
	}
	for _, o := range v.replicas {
		if o.ID != replicaID && o.State == ReplicaStateRemoving {
			return []Event{ReplicaRemoved{ReplicaID: replicaID, NodeID: nodeID, At: now}}
		}
	}
	return []Event{Deleted{ReplicaID: replicaID, NodeID: nodeID, At: now}}
}

// notFound refuses a change of a name with no live volume, spelled as the
// gateway's read model spells it.
func (v *Volume) notFound() error { return fmt.Errorf("volume %q %w", v.name, ErrNotFound) }

// Clone returns a copy that shares nothing with v.
func (v *Volume) Clone() *Volume {
	c := *v
	c.replicas = slices.Clone(v.replicas)
	c.spec.Labels = maps.Clone(v.spec.Labels)
	c.unreadable = slices.Clone(v.unreadable)
	return &c
}
