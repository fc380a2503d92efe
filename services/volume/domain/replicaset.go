package domain

import (
	"fmt"
	"time"
)

// Role is what a replica is to the volume's replica set.
type Role int

// Replica roles. A replica of a history written before roles has none and
// counts as healthy.
const (
	RoleUnspecified Role = iota
	// RoleHealthy: holds the data and serves it.
	RoleHealthy
	// RoleRebuilding: receiving a copy; it does not count towards the
	// volume's replicas until promoted.
	RoleRebuilding
	// RoleLeaving: leaving the set; its agent removes it.
	RoleLeaving
	// RoleLost: was healthy and can no longer serve (its node is down).
	RoleLost
)

func (r Role) String() string {
	return [...]string{"unspecified", "healthy", "rebuilding", "leaving", "lost"}[r]
}

// maxSpare bounds the replicas a set may hold beyond those the volume asks
// for: the moves of one volume that may be in flight at once.
const maxSpare = 3

// ReplicaAdded: a replica joined the set as rebuilding.
type ReplicaAdded struct {
	Replica     Replica
	Generation  uint64
	MigrationID string
	At          time.Time
}

// ReplicaPromoted: a rebuilding replica became healthy; RetiredID, if set,
// left the set in the same change.
type ReplicaPromoted struct {
	ReplicaID string
	NodeID    string
	RetiredID string
	// RetiredNodeID is the node of the replica retired.
	RetiredNodeID string
	Generation    uint64
	MigrationID   string
	At            time.Time
}

// ReplicaRetired: a replica left the set; its agent removes it.
type ReplicaRetired struct {
	ReplicaID   string
	NodeID      string
	Reason      string
	Generation  uint64
	MigrationID string
	At          time.Time
}

// ReplicaLost: a healthy replica can no longer serve.
type ReplicaLost struct {
	ReplicaID  string
	NodeID     string
	Reason     string
	Generation uint64
	At         time.Time
}

func (ReplicaAdded) isVolumeEvent()    {}
func (ReplicaPromoted) isVolumeEvent() {}
func (ReplicaRetired) isVolumeEvent()  {}
func (ReplicaLost) isVolumeEvent()     {}

// Generation is the replica set's generation: 1 once placed, bumped by
// every change of the set.
func (v *Volume) Generation() uint64 { return v.generation }

// Healthy counts the replicas that hold the data and serve it.
func (v *Volume) Healthy() int {
	n := 0
	for _, r := range v.replicas {
		if r.healthy() {
			n++
		}
	}
	return n
}

func (r Replica) healthy() bool {
	return (r.Role == RoleHealthy || r.Role == RoleUnspecified) && r.State == ReplicaStateReady
}

// Changing reports whether a change of the replica set is under way: a
// replica is being rebuilt or is leaving.
func (v *Volume) Changing() bool {
	for _, r := range v.replicas {
		if r.Role == RoleRebuilding || r.Role == RoleLeaving {
			return true
		}
	}
	return false
}

// settle is the state a ready volume's replica set makes it: degraded while
// it has fewer healthy replicas than it asks for.
func (v *Volume) settle() {
	if v.state != StateReady && v.state != StateDegraded {
		return
	}
	v.state = StateReady
	if v.Healthy() < int(v.spec.Replicas) {
		v.state = StateDegraded
	}
}

// applySetChange folds the events that change a ready volume's replica set.
func (v *Volume) applySetChange(e Event) {
	switch e := e.(type) {
	case ReplicaAdded:
		r := e.Replica
		r.Role, r.State, r.FailureReason = RoleRebuilding, ReplicaStatePending, ""
		if r.SizeBytes == 0 {
			r.SizeBytes = v.size
		}
		v.replicas = append(v.replicas, r)
		v.generation = e.Generation
		v.touch(e.At)
	case ReplicaPromoted:
		v.setRole(e.ReplicaID, RoleHealthy)
		if e.RetiredID != "" {
			v.leave(e.RetiredID)
		}
		v.generation = e.Generation
		v.touch(e.At)
	case ReplicaRetired:
		v.leave(e.ReplicaID)
		v.generation = e.Generation
		v.touch(e.At)
	case ReplicaLost:
		v.setRole(e.ReplicaID, RoleLost)
		v.setReason(e.ReplicaID, e.Reason)
		v.generation = e.Generation
		v.touch(e.At)
	}
	v.settle()
}

func (v *Volume) setRole(id string, role Role) {
	for i := range v.replicas {
		if v.replicas[i].ID == id {
			v.replicas[i].Role = role
		}
	}
}

func (v *Volume) setReason(id, reason string) {
	for i := range v.replicas {
		if v.replicas[i].ID == id {
			v.replicas[i].FailureReason = reason
		}
	}
}

func (v *Volume) leave(id string) {
	for i := range v.replicas {
		if v.replicas[i].ID == id {
			v.replicas[i].Role, v.replicas[i].State = RoleLeaving, ReplicaStateRemoving
		}
	}
}

// drop removes a replica from the set: its agent removed it.
func (v *Volume) drop(id string) {
	for i := range v.replicas {
		if v.replicas[i].ID == id {
			v.replicas = append(v.replicas[:i:i], v.replicas[i+1:]...)
			return
		}
	}
}

// changeable refuses a change of the replica set of a volume that is not
// ready (or degraded), or of a generation other than the one the change
// was decided on. Zero expected stands for any generation.
func (v *Volume) changeable(expected uint64) error {
	if err := v.Damaged(); err != nil {
		return err
	}
	if !v.Live() {
		return v.notFound()
	}
	if v.state != StateReady && v.state != StateDegraded {
		return fmt.Errorf("volume %q is %s; only a ready or degraded volume's replicas change: %w", v.name, v.state, ErrFailedPrecondition)
	}
	if expected != 0 && expected != v.generation {
		return fmt.Errorf("volume %q: its replica set is at generation %d, the change was decided on %d: %w", v.name, v.generation, expected, ErrFailedPrecondition)
	}
	return nil
}

// AddReplica decides that r joins the set as rebuilding. A replica of the
// same id on the same disk already in the set is a resend: nothing to do.
func (v *Volume) AddReplica(r Replica, expected uint64, migrationID string, now time.Time) ([]Event, error) {
	if have, ok := v.replica(r.ID); ok && have.NodeID == r.NodeID && have.DiskID == r.DiskID && have.Role != RoleUnspecified {
		return nil, nil
	}
	if err := v.changeable(expected); err != nil {
		return nil, err
	}
	switch {
	case r.ID == "" || r.NodeID == "" || r.DiskID == "":
		return nil, fieldErr("add", "names no replica id, node or disk")
	case v.resizingTo != 0:
		return nil, fmt.Errorf("volume %q is being resized to %s; replicas are added once it is done: %w", v.name, formatBytes(v.resizingTo), ErrFailedPrecondition)
	}
	if _, ok := v.replica(r.ID); ok {
		return nil, fmt.Errorf("volume %q already has a replica %s: %w", v.name, r.ID, ErrAlreadyExists)
	}
	for _, o := range v.replicas {
		if o.NodeID == r.NodeID && o.Role != RoleLeaving {
			return nil, fmt.Errorf("volume %q already has replica %s on node %s: %w", v.name, o.ID, r.NodeID, ErrFailedPrecondition)
		}
	}
	if len(v.replicas) >= int(v.spec.Replicas)+maxSpare {
		return nil, fmt.Errorf("volume %q has %d replicas in its set, the most it may hold while asking for %d: %w", v.name, len(v.replicas), v.spec.Replicas, ErrFailedPrecondition)
	}
	r.SizeBytes = v.size
	return []Event{ReplicaAdded{Replica: r, Generation: v.generation + 1, MigrationID: migrationID, At: now}}, nil
}

// PromoteReplica decides that a rebuilding replica, provisioned and filled,
// becomes healthy, and that retireID (if set) leaves in the same change. A
// promotion already made is a resend: nothing to do.
func (v *Volume) PromoteReplica(id, retireID string, expected uint64, migrationID string, now time.Time) ([]Event, error) {
	r, ok := v.replica(id)
	if ok && r.Role == RoleHealthy && v.gone(retireID) {
		return nil, nil
	}
	if err := v.changeable(expected); err != nil {
		return nil, err
	}
	switch {
	case !ok:
		return nil, fmt.Errorf("volume %q has no replica %s: %w", v.name, id, ErrNotFound)
	case r.Role != RoleRebuilding:
		return nil, fmt.Errorf("volume %q: replica %s is %s, not rebuilding: %w", v.name, id, r.Role, ErrFailedPrecondition)
	case r.State != ReplicaStateReady:
		return nil, fmt.Errorf("volume %q: replica %s is not provisioned yet: %w", v.name, id, ErrFailedPrecondition)
	}
	var retiredNode string
	if retireID != "" {
		o, ok := v.replica(retireID)
		retiredNode = o.NodeID
		switch {
		case !ok:
			return nil, fmt.Errorf("volume %q has no replica %s to retire: %w", v.name, retireID, ErrNotFound)
		case retireID == id:
			return nil, fieldErr("promote.retired_replica_id", "names the replica promoted")
		case o.Role == RoleLeaving:
			retireID = ""
		}
	}
	return []Event{ReplicaPromoted{ReplicaID: id, NodeID: r.NodeID, RetiredID: retireID, RetiredNodeID: retiredNode, Generation: v.generation + 1, MigrationID: migrationID, At: now}}, nil
}

// gone reports whether a replica is leaving or no longer in the set (true
// for none).
func (v *Volume) gone(id string) bool {
	r, ok := v.replica(id)
	return id == "" || !ok || r.Role == RoleLeaving
}

// RetireReplica decides that a replica leaves the set. A healthy one may go
// only if as many healthy replicas as the volume asks for stay: add before
// remove. One leaving or gone already is a resend.
func (v *Volume) RetireReplica(id, reason string, expected uint64, migrationID string, now time.Time) ([]Event, error) {
	if id == "" {
		return nil, fieldErr("retire.replica_id", "is required")
	}
	if v.gone(id) {
		if !v.Live() {
			return nil, v.notFound()
		}
		return nil, nil
	}
	if err := v.changeable(expected); err != nil {
		return nil, err
	}
	r, _ := v.replica(id)
	if r.healthy() && v.Healthy()-1 < int(v.spec.Replicas) {
		return nil, fmt.Errorf("volume %q: retiring replica %s would leave %d healthy replicas of the %d it asks for; add one first: %w",
			v.name, id, v.Healthy()-1, v.spec.Replicas, ErrFailedPrecondition)
	}
	return []Event{ReplicaRetired{ReplicaID: id, NodeID: r.NodeID, Reason: reason, Generation: v.generation + 1, MigrationID: migrationID, At: now}}, nil
}

// LoseReplica decides that a replica can no longer serve. One not healthy
// (lost, leaving, rebuilding, gone) changes nothing: a rebuilding replica
// that cannot be filled is retired by its move instead.
func (v *Volume) LoseReplica(id, reason string, expected uint64, now time.Time) ([]Event, error) {
	r, ok := v.replica(id)
	if !ok || (r.Role != RoleHealthy && r.Role != RoleUnspecified) {
		if !v.Live() {
			return nil, v.notFound()
		}
		return nil, nil
	}
	if err := v.changeable(expected); err != nil {
		return nil, err
	}
	return []Event{ReplicaLost{ReplicaID: id, NodeID: r.NodeID, Reason: reason, Generation: v.generation + 1, At: now}}, nil
}
