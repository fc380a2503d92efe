package domain

import "time"

// Event is something that happened to a volume. The aggregate's history is a
// sequence of them; Apply folds one into the state.
type Event interface{ isVolumeEvent() }

// Requested: a volume was asked for. It starts a new incarnation under the
// name, with a new ID.
type Requested struct {
	ID        string
	Name      string
	Spec      Spec
	SizeBytes uint64
	At        time.Time
}

// ReplicasAssigned: placement chose where each replica lives.
type ReplicasAssigned struct {
	SizeBytes uint64
	Replicas  []Replica
	At        time.Time
}

// ReplicaConfirmed: an agent provisioned a replica.
type ReplicaConfirmed struct {
	ReplicaID string
	NodeID    string
	At        time.Time
}

// ReplicaFailed: an agent could not provision a replica.
type ReplicaFailed struct {
	ReplicaID string
	NodeID    string
	Reason    string
	At        time.Time
}

// Ready: every replica is confirmed. It carries the confirmation that
// completed the set, so that readiness is a single append.
type Ready struct {
	ReplicaID string
	NodeID    string
	At        time.Time
}

// Failed: the volume could not be created.
type Failed struct {
	Kind   FailureKind
	Reason string
	At     time.Time
}

// ResizeRequested: a larger size was asked for: Capacity, of which SizeBytes
// is the size chosen. Histories written before the range was recorded have
// none.
type ResizeRequested struct {
	SizeBytes uint64
	Capacity  CapacityRange
	At        time.Time
}

// ResizeApproved: every disk holding a replica has room for the larger size;
// the agents grow the replicas.
type ResizeApproved struct {
	SizeBytes uint64
	At        time.Time
}

// ReplicaGrown: an agent grew a replica of a volume being resized; others
// have yet to grow.
type ReplicaGrown struct {
	ReplicaID string
	NodeID    string
	SizeBytes uint64
	At        time.Time
}

// Resized: the volume grew: every replica has the size. It carries the
// growth that completed the set, so that completion is a single append; in
// histories written before replicas' growth was followed it has none, and
// came at placement's approval.
//
// Capacity is the range the resize asked for, which the spec asks for from
// then on; older histories have none, and the spec asks for SizeBytes.
type Resized struct {
	SizeBytes uint64
	Capacity  CapacityRange
	ReplicaID string
	NodeID    string
	At        time.Time
}

// ResizeFailed: the larger size could not be granted.
type ResizeFailed struct {
	SizeBytes uint64
	Reason    string
	At        time.Time
}

// DeleteRequested: deletion began; the listed replicas are to be removed.
type DeleteRequested struct {
	Replicas []Replica
	At       time.Time
}

// ReplicaRemoved: an agent removed a replica.
type ReplicaRemoved struct {
	ReplicaID string
	NodeID    string
	At        time.Time
}

// Deleted: the volume and all its replicas are gone. It carries the removal
// that completed the deletion, if there was one to wait for.
type Deleted struct {
	ReplicaID string
	NodeID    string
	At        time.Time
}

// Repaired: an operator repaired a history with unreadable events. It
// carries the volume as the readable events made it; the history folds from
// here.
type Repaired struct {
	Volume  Fields
	Skipped []uint64
	At      time.Time
}

func (Requested) isVolumeEvent()        {}
func (Repaired) isVolumeEvent()         {}
func (ReplicasAssigned) isVolumeEvent() {}
func (ReplicaConfirmed) isVolumeEvent() {}
func (ReplicaFailed) isVolumeEvent()    {}
func (Ready) isVolumeEvent()            {}
func (Failed) isVolumeEvent()           {}
func (ResizeRequested) isVolumeEvent()  {}
func (ResizeApproved) isVolumeEvent()   {}
func (ReplicaGrown) isVolumeEvent()     {}
func (Resized) isVolumeEvent()          {}
func (ResizeFailed) isVolumeEvent()     {}
func (DeleteRequested) isVolumeEvent()  {}
func (ReplicaRemoved) isVolumeEvent()   {}
func (Deleted) isVolumeEvent()          {}
