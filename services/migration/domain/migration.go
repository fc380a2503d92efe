// Package domain is the Migration aggregate: one move of one replica as a
// saga (queued, adding, provisioning, copying, cutting over, removing the
// source, completed; or rolling back and rolled back), and the throttles
// that admit moves. It does no I/O.
package domain

import (
	"errors"
	"fmt"
	"time"
)

// Step is where a move stands. The values are the contract's.
type Step int

// Steps of a move.
const (
	StepUnspecified Step = iota
	StepQueued
	StepAdding
	StepProvisioning
	StepCopying
	StepCuttingOver
	StepRemovingSource
	StepCompleted
	StepRollingBack
	StepRolledBack
)

func (s Step) String() string {
	return [...]string{"unspecified", "queued", "adding", "provisioning", "copying", "cutting over", "removing source",
		"completed", "rolling back", "rolled back"}[s]
}

// Terminal reports whether a move in this step is over.
func (s Step) Terminal() bool { return s == StepCompleted || s == StepRolledBack }

// Active reports whether a move in this step holds a throttle slot: it was
// admitted and is not over.
func (s Step) Active() bool { return s != StepQueued && s != StepUnspecified && !s.Terminal() }

// Refusals.
var (
	ErrInvalidArgument    = errors.New("invalid argument")
	ErrNotFound           = errors.New("not found")
	ErrFailedPrecondition = errors.New("failed precondition")
)

// Kind is why a move was made. The values are the contract's.
type Kind int

// Kinds of moves.
const (
	KindUnspecified Kind = iota
	KindBalance
	KindHotspot
	KindCapacity
	KindDrain
	KindNodeDown
	KindOperator
)

// Urgent tells whether a move of this kind starts before routine ones and
// may take the slots routine moves leave free: it restores a replica lost
// with its node, relieves a hotspot, or an operator asked for it. Balance,
// capacity and drain moves (and those of unknown kind) are routine.
func (k Kind) Urgent() bool { return k == KindNodeDown || k == KindHotspot || k == KindOperator }

// rank orders kinds for admission: a lost replica first (its volume is
// short), then a hotspot, an operator's move, a disk over its ceiling, a
// drain, balance.
func (k Kind) rank() int {
	switch k {
	case KindNodeDown:
		return 0
	case KindHotspot:
		return 1
	case KindOperator:
		return 2
	case KindCapacity:
		return 3
	case KindDrain:
		return 4
	}
	return 5
}

// Ref names a replica and where it is.
type Ref struct {
	ReplicaID, NodeID, DiskID, Zone string
}

// Migration is the aggregate. Build it by applying its history.
type Migration struct {
	ID         string
	VolumeID   string
	VolumeName string
	Source     Ref
	Target     Ref
	Bytes      uint64
	Reason     string
	Kind       Kind
	SourceLost bool
	// CopyFrom is the healthy replica the copy comes from; unset, the
	// source.
	CopyFrom Ref
	// Generation is the volume's replica-set generation the move last saw:
	// the one it was decided on, then the one its own changes made.
	Generation uint64
	Step       Step
	// Added: the target is in the volume's set, so a rollback retires it.
	Added   bool
	Copied  uint64
	Failure string
	Created time.Time
	Updated time.Time
}

// Event is something that happened to a move.
type Event interface{ isMigrationEvent() }

// Requested: the move was asked for.
type Requested struct {
	Migration Migration
	At        time.Time
}

// Started: the throttles admitted the move.
type Started struct{ At time.Time }

// Progressed: a step is done: the move is in Step from now on.
type Progressed struct {
	Step       Step
	Generation uint64
	Copied     uint64
	At         time.Time
}

// CutOver: the target was promoted and the source retired.
type CutOver struct {
	Generation uint64
	At         time.Time
}

// Completed: the source is gone.
type Completed struct{ At time.Time }

// Failed: a step could not be done; the move rolls back.
type Failed struct {
	Step   Step
	Reason string
	At     time.Time
}

// CancelRequested: an operator cancelled the move.
type CancelRequested struct {
	Reason string
	At     time.Time
}

// RolledBack: the target left the set, or was never in it.
type RolledBack struct {
	Reason string
	At     time.Time
}

func (Requested) isMigrationEvent()       {}
func (Started) isMigrationEvent()         {}
func (Progressed) isMigrationEvent()      {}
func (CutOver) isMigrationEvent()         {}
func (Completed) isMigrationEvent()       {}
func (Failed) isMigrationEvent()          {}
func (CancelRequested) isMigrationEvent() {}
func (RolledBack) isMigrationEvent()      {}

// Apply folds one event into the move.
func (m *Migration) Apply(e Event) {
	switch e := e.(type) {
	case Requested:
		*m = e.Migration
		m.Step, m.Created, m.Updated = StepQueued, e.At, e.At
		return
	case Started:
		if m.Step == StepQueued {
			m.Step = StepAdding
		}
		m.touch(e.At)
	case Progressed:
		if m.Step.Terminal() || m.Step == StepRollingBack {
			return
		}
		if e.Step > m.Step {
			m.Step = e.Step
		}
		if e.Step >= StepProvisioning {
			m.Added = true
		}
		m.Generation = max(m.Generation, e.Generation)
		m.Copied = max(m.Copied, e.Copied)
		m.touch(e.At)
	case CutOver:
		m.Step, m.Generation = StepRemovingSource, max(m.Generation, e.Generation)
		m.Copied = m.Bytes
		m.touch(e.At)
	case Completed:
		m.Step = StepCompleted
		m.touch(e.At)
	case Failed:
		m.rollBack(e.Reason)
		m.touch(e.At)
	case CancelRequested:
		m.rollBack("cancelled: " + e.Reason)
		m.touch(e.At)
	case RolledBack:
		m.Step = StepRolledBack
		m.touch(e.At)
	}
}

// rollBack turns a move that has not cut over towards its rollback.
func (m *Migration) rollBack(reason string) {
	if m.Step.Terminal() || m.Step == StepRemovingSource {
		return
	}
	if m.Failure == "" {
		m.Failure = reason
	}
	m.Step = StepRollingBack
}

func (m *Migration) touch(at time.Time) {
	if at.After(m.Updated) {
		m.Updated = at
	}
}

// Validate checks a move as asked for.
func (m Migration) Validate() error {
	switch {
	case m.ID == "":
		return fmt.Errorf("migration_id: is required: %w", ErrInvalidArgument)
	case m.VolumeID == "" || m.VolumeName == "":
		return fmt.Errorf("volume_id and volume_name: are required: %w", ErrInvalidArgument)
	case m.Source.ReplicaID == "" || m.Source.NodeID == "":
		return fmt.Errorf("source: names no replica or node: %w", ErrInvalidArgument)
	case m.Target.ReplicaID == "" || m.Target.NodeID == "" || m.Target.DiskID == "":
		return fmt.Errorf("target: names no replica, node or disk: %w", ErrInvalidArgument)
	case m.Target.NodeID == m.Source.NodeID && m.Target.DiskID == m.Source.DiskID:
		return fmt.Errorf("target: is the source's own disk: %w", ErrInvalidArgument)
	case m.Target.ReplicaID == m.Source.ReplicaID:
		return fmt.Errorf("target: has the source's replica id: %w", ErrInvalidArgument)
	}
	return nil
}

// Cancel decides a cancel. A move past its cut-over cannot be undone; one
// rolling back or over already needs nothing.
func (m *Migration) Cancel(reason string, now time.Time) ([]Event, error) {
	switch {
	case m.Step == StepUnspecified:
		return nil, fmt.Errorf("migration %q %w", m.ID, ErrNotFound)
	case m.Step == StepRollingBack || m.Step == StepRolledBack:
		return nil, nil
	case m.Step >= StepCuttingOver:
		return nil, fmt.Errorf("migration %s is %s: at its cut-over, the replica lives on %s and cannot be moved back by a cancel: %w",
			m.ID, m.Step, m.Target.NodeID, ErrFailedPrecondition)
	}
	if reason == "" {
		reason = "by an operator"
	}
	return []Event{CancelRequested{Reason: reason, At: now}}, nil
}
