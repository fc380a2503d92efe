package app

import (
	"context"
	"time"

	"ballast.dev/services/migration/domain"
)

// Reactions record a move's steps as the volume's and the agents' events
// confirm them. Each is idempotent by the move's state: a redelivered event
// finds the step taken and appends nothing.
type Reactions struct {
	State   *State
	Journal Journal
	Volumes Volumes
	Now     func() time.Time
}

func (r Reactions) record(ctx context.Context, cause, id string, decide func(m domain.Migration) []domain.Event) error {
	return Record(ctx, r.State, r.Journal, cause, id, decide)
}

// TargetAdded: the volume added a move's target at generation.
func (r Reactions) TargetAdded(ctx context.Context, cause, migrationID string, generation uint64) error {
	m, _, ok := r.State.Get(migrationID)
	if !ok {
		return nil
	}
	if m.Step == domain.StepRollingBack || m.Step == domain.StepRolledBack {
		// An addition that landed after the move gave up (it was in
		// flight): it must not be left in the set.
		return r.Volumes.Retire(ctx, m, m.Failure)
	}
	return r.record(ctx, cause, migrationID, func(m domain.Migration) []domain.Event {
		if m.Step > domain.StepCopying || m.Generation >= generation && m.Added {
			return nil
		}
		return []domain.Event{domain.Progressed{Step: domain.StepProvisioning, Generation: generation, At: r.Now()}}
	})
}

// ReplicaProvisioned: a replica's agent created it; a move's target is then
// filled.
func (r Reactions) ReplicaProvisioned(ctx context.Context, cause, replicaID string) error {
	m, _, ok := r.State.ByReplica(replicaID)
	if !ok || m.Target.ReplicaID != replicaID {
		return nil
	}
	return r.record(ctx, cause, m.ID, func(m domain.Migration) []domain.Event {
		if m.Step != domain.StepAdding && m.Step != domain.StepProvisioning {
			return nil
		}
		return []domain.Event{domain.Progressed{Step: domain.StepCopying, At: r.Now()}}
	})
}

// ReplicaFailed: a replica could not be created; a move whose target it is
// fails.
func (r Reactions) ReplicaFailed(ctx context.Context, cause, replicaID, reason string) error {
	m, _, ok := r.State.ByReplica(replicaID)
	if !ok || m.Target.ReplicaID != replicaID {
		return nil
	}
	return r.failed(ctx, cause, m.ID, "the target could not be created: "+reason)
}

func (r Reactions) failed(ctx context.Context, cause, id, reason string) error {
	return r.record(ctx, cause, id, func(m domain.Migration) []domain.Event {
		if m.Step.Terminal() || m.Step == domain.StepRollingBack || m.Step >= domain.StepRemovingSource {
			return nil
		}
		return []domain.Event{domain.Failed{Step: m.Step, Reason: reason, At: r.Now()}}
	})
}

// Copied: the target's agent filled it.
func (r Reactions) Copied(ctx context.Context, cause, migrationID string) error {
	return r.record(ctx, cause, migrationID, func(m domain.Migration) []domain.Event {
		if m.Step != domain.StepCopying {
			return nil
		}
		return []domain.Event{domain.Progressed{Step: domain.StepCuttingOver, Copied: m.Bytes, At: r.Now()}}
	})
}

// CopyFailed: the target's agent could not fill it.
func (r Reactions) CopyFailed(ctx context.Context, cause, migrationID, reason string) error {
	if _, _, ok := r.State.Get(migrationID); !ok {
		return nil
	}
	return r.failed(ctx, cause, migrationID, "the copy failed: "+reason)
}

// CopyProgressed: the target's agent reports how far its copy is.
func (r Reactions) CopyProgressed(migrationID string, copied, bytes, rate uint64) {
	r.State.SetProgress(migrationID, Progress{Copied: copied, Bytes: bytes, Rate: rate, At: r.Now()})
}

// Promoted: the volume promoted a move's target and retired its source.
func (r Reactions) Promoted(ctx context.Context, cause, migrationID string, generation uint64) error {
	if _, _, ok := r.State.Get(migrationID); !ok {
		return nil
	}
	return r.record(ctx, cause, migrationID, func(m domain.Migration) []domain.Event {
		if m.Step >= domain.StepRemovingSource && m.Step != domain.StepRollingBack {
			return nil
		}
		out := []domain.Event{domain.CutOver{Generation: generation, At: r.Now()}}
		if m.SourceLost {
			// Its node is down: nobody will report its removal, and the
			// move's work is done.
			out = append(out, domain.Completed{At: r.Now()})
		}
		return out
	})
}

// ReplicaRemoved: a replica's agent removed it; a move whose source it is
// is complete. The volume's events reach the reactions in any order, so the
// removal may come before the promotion that retired the source is
// recorded: a source goes only once retired, so its removal while the move
// cuts over is the move done too.
func (r Reactions) ReplicaRemoved(ctx context.Context, cause, replicaID string) error {
	m, _, ok := r.State.ByReplica(replicaID)
	if !ok || m.Source.ReplicaID != replicaID {
		return nil
	}
	return r.record(ctx, cause, m.ID, func(m domain.Migration) []domain.Event {
		if m.Step != domain.StepRemovingSource && m.Step != domain.StepCuttingOver {
			return nil
		}
		return []domain.Event{domain.Completed{At: r.Now()}}
	})
}

// VolumeDeleted: the volume is going (or gone); its moves that have not
// cut over roll back, and those waiting for their source are done.
func (r Reactions) VolumeDeleted(ctx context.Context, cause, volumeID string) error {
	for _, m := range r.State.All() {
		if m.VolumeID != volumeID || m.Step.Terminal() {
			continue
		}
		err := r.record(ctx, cause, m.ID, func(m domain.Migration) []domain.Event {
			switch {
			case m.Step == domain.StepRemovingSource:
				// Cut over, and the source went with the volume.
				return []domain.Event{domain.Completed{At: r.Now()}}
			case m.Step.Terminal() || m.Step == domain.StepRollingBack:
				return nil
			}
			return []domain.Event{domain.Failed{Step: m.Step, Reason: "the volume is being deleted", At: r.Now()}}
		})
		if err != nil {
			return err
		}
	}
	return nil
}
