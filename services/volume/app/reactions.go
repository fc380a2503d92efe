package app

import (
	"context"

	"ballast.dev/services/volume/domain"
)

// Reactions record in the Volume aggregate what placement and the agents
// report. Every report names the volume's incarnation (its id): a report
// about an earlier incarnation under the same name is stale and ignored.
type Reactions struct {
	Repo Repository
	Now  Clock
}

// Report is what another service reported about a volume.
type Report struct {
	// Cause identifies the reported event, e.g. "BALLAST_NODE/42".
	Cause    string
	VolumeID string
	Name     string
}

func (r Reactions) apply(ctx context.Context, rep Report, decide func(v *domain.Volume) []domain.Event) error {
	if err := domain.ValidateName(rep.Name); err != nil {
		return err
	}
	_, err := r.Repo.Update(ctx, rep.Name, rep.Cause, func(v *domain.Volume) ([]domain.Event, error) {
		// A damaged history cannot tell whether the report is stale:
		// it waits for the repair, as a dead letter to replay.
		if err := v.Damaged(); err != nil {
			return nil, err
		}
		if v.ID() != rep.VolumeID {
			return nil, nil
		}
		return decide(v), nil
	})
	return err
}

// Placed records placement's choice of disks.
func (r Reactions) Placed(ctx context.Context, rep Report, size uint64, replicas []domain.Replica) error {
	return r.apply(ctx, rep, func(v *domain.Volume) []domain.Event { return v.AssignReplicas(size, replicas, r.Now()) })
}

// PlacementFailed records that the volume cannot be placed.
func (r Reactions) PlacementFailed(ctx context.Context, rep Report, reason string) error {
	return r.apply(ctx, rep, func(v *domain.Volume) []domain.Event { return v.FailPlacement(reason, r.Now()) })
}

// ResizeApproved records that every disk has room for the new size; the
// agents grow the replicas next.
func (r Reactions) ResizeApproved(ctx context.Context, rep Report, size uint64) error {
	return r.apply(ctx, rep, func(v *domain.Volume) []domain.Event { return v.ApproveResize(size, r.Now()) })
}

// ReplicaExpanded records that an agent grew a replica; the last one to grow
// completes the resize.
func (r Reactions) ReplicaExpanded(ctx context.Context, rep Report, replicaID, nodeID string, size uint64) error {
	return r.apply(ctx, rep, func(v *domain.Volume) []domain.Event { return v.GrowReplica(replicaID, nodeID, size, r.Now()) })
}

// ResizeRejected records that some disk lacks room for the new size.
func (r Reactions) ResizeRejected(ctx context.Context, rep Report, size uint64, reason string) error {
	return r.apply(ctx, rep, func(v *domain.Volume) []domain.Event { return v.RejectResize(size, reason, r.Now()) })
}

// ReplicaProvisioned records an agent's confirmation of a replica.
func (r Reactions) ReplicaProvisioned(ctx context.Context, rep Report, replicaID, nodeID string) error {
	return r.apply(ctx, rep, func(v *domain.Volume) []domain.Event { return v.ConfirmReplica(replicaID, nodeID, r.Now()) })
}

// ReplicaProvisionFailed records that an agent could not create a replica.
func (r Reactions) ReplicaProvisionFailed(ctx context.Context, rep Report, replicaID, nodeID, reason string) error {
	return r.apply(ctx, rep, func(v *domain.Volume) []domain.Event {
		return v.FailReplica(replicaID, nodeID, reason, r.Now())
	})
}

// ReplicaDeleted records that an agent removed a replica.
func (r Reactions) ReplicaDeleted(ctx context.Context, rep Report, replicaID, nodeID string) error {
	return r.apply(ctx, rep, func(v *domain.Volume) []domain.Event { return v.ConfirmRemoved(replicaID, nodeID, r.Now()) })
}
