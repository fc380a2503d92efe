package app

import (
	"context"
	"fmt"

	"ballast.dev/services/volume/domain"
)

// Commands are what users ask of volumes.
type Commands struct {
	Repo  Repository
	NewID func() string
	Now   Clock
}

// CreateVolume asks for a volume. Creating a name that holds a live volume
// with the same spec is a retry and returns that volume; a FAILED volume
// under the name is replaced by a new incarnation.
type CreateVolume struct {
	RequestID string
	Name      string
	Spec      domain.Spec
}

// Create handles CreateVolume.
func (c Commands) Create(ctx context.Context, cmd CreateVolume) (Snapshot, error) {
	if err := domain.ValidateName(cmd.Name); err != nil {
		return Snapshot{}, err
	}
	id := c.NewID()
	return c.Repo.Create(ctx, cmd.Name, "create/"+cmd.RequestID, func(v *domain.Volume) ([]domain.Event, error) {
		return v.Create(id, cmd.Name, cmd.Spec, c.Now())
	})
}

// ResizeVolume asks for a larger volume.
type ResizeVolume struct {
	RequestID string
	Name      string
	Capacity  domain.CapacityRange
}

// Resize handles ResizeVolume.
func (c Commands) Resize(ctx context.Context, cmd ResizeVolume) (Snapshot, error) {
	if err := domain.ValidateName(cmd.Name); err != nil {
		return Snapshot{}, err
	}
	return c.Repo.Update(ctx, cmd.Name, "resize/"+cmd.RequestID, func(v *domain.Volume) ([]domain.Event, error) {
		return v.RequestResize(cmd.Capacity, c.Now())
	})
}

// DeleteVolume asks for a volume to go.
type DeleteVolume struct {
	RequestID string
	Name      string
}

// Delete handles DeleteVolume.
func (c Commands) Delete(ctx context.Context, cmd DeleteVolume) (Snapshot, error) {
	if err := domain.ValidateName(cmd.Name); err != nil {
		return Snapshot{}, err
	}
	return c.Repo.Update(ctx, cmd.Name, "delete/"+cmd.RequestID, func(v *domain.Volume) ([]domain.Event, error) {
		return v.RequestDelete(c.Now())
	})
}

// RepairVolume asks for a damaged volume's history to be repaired.
type RepairVolume struct {
	RequestID string
	Name      string
}

// Repair handles RepairVolume: the volume as its readable events make it is
// recorded, and the events that cannot be read are left out from then on.
// It returns the sequences left out, none when there was nothing to repair.
func (c Commands) Repair(ctx context.Context, cmd RepairVolume) (Snapshot, []uint64, error) {
	if err := domain.ValidateName(cmd.Name); err != nil {
		return Snapshot{}, nil, err
	}
	var skipped []uint64
	s, err := c.Repo.Update(ctx, cmd.Name, "repair/"+cmd.RequestID, func(v *domain.Volume) ([]domain.Event, error) {
		evs := v.Repair(cmd.Name, c.Now())
		skipped = nil
		for _, e := range evs {
			skipped = append(skipped, e.(domain.Repaired).Skipped...)
		}
		return evs, nil
	})
	return s, skipped, err
}

// ChangeReplicaSet asks for one change of a ready volume's replica set,
// decided on generation Expected of incarnation VolumeID. Exactly one of
// Add, Promote, Retire and Lose is set.
type ChangeReplicaSet struct {
	RequestID   string
	Name        string
	VolumeID    string
	Expected    uint64
	MigrationID string
	Add         *domain.Replica
	Promote     *Promotion
	Retire      *Removal
	Lose        *Removal
}

// Promotion promotes ReplicaID, retiring RetiredID (if set) in the same
// change.
type Promotion struct{ ReplicaID, RetiredID string }

// Removal names a replica and why it goes.
type Removal struct{ ReplicaID, Reason string }

// ChangeReplicas handles ChangeReplicaSet.
func (c Commands) ChangeReplicas(ctx context.Context, cmd ChangeReplicaSet) (Snapshot, error) {
	if err := domain.ValidateName(cmd.Name); err != nil {
		return Snapshot{}, err
	}
	return c.Repo.Update(ctx, cmd.Name, "replicas/"+cmd.RequestID, func(v *domain.Volume) ([]domain.Event, error) {
		if cmd.VolumeID != "" && v.ID() != cmd.VolumeID {
			return nil, fmt.Errorf("volume %q: incarnation %s is gone: %w", cmd.Name, cmd.VolumeID, domain.ErrNotFound)
		}
		now := c.Now()
		switch {
		case cmd.Add != nil:
			return v.AddReplica(*cmd.Add, cmd.Expected, cmd.MigrationID, now)
		case cmd.Promote != nil:
			return v.PromoteReplica(cmd.Promote.ReplicaID, cmd.Promote.RetiredID, cmd.Expected, cmd.MigrationID, now)
		case cmd.Retire != nil:
			return v.RetireReplica(cmd.Retire.ReplicaID, cmd.Retire.Reason, cmd.Expected, cmd.MigrationID, now)
		case cmd.Lose != nil:
			return v.LoseReplica(cmd.Lose.ReplicaID, cmd.Lose.Reason, cmd.Expected, now)
		}
		return nil, fmt.Errorf("change: names no change (add, promote, retire or lose): %w", domain.ErrInvalidArgument)
	})
}
