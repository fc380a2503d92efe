package agent

import (
	"context"
	"errors"
	"fmt"

	"ballast.dev/agent/sim"
	"ballast.dev/platform/bus"
	"ballast.dev/platform/events"
	ballastv1 "ballast.dev/proto/ballast/v1"
)

// The handlers below react to volume events for replicas on our nodes.
// They decide from what the node's history records, not from the sim, so a
// redelivered event (or one replayed from the start of the volume stream by
// a new consumer) appends only what the log lacks. Event ids come from the
// triggering event, so an append retried after a lost acknowledgement is
// deduplicated by the server.

// eventID is the id of the event a volume event causes for one replica.
func eventID(ev bus.Event, replicaID string) func() string {
	id := fmt.Sprintf("agent/%s/%d/%s", events.Volume.Stream, ev.Sequence, replicaID)
	return func() string { return id }
}

// onReplicasAssigned creates the replicas placed on our nodes.
func (a *Agent) onReplicasAssigned(ctx context.Context, ev bus.Event, m *ballastv1.ReplicasAssigned) error {
	var errs []error
	for _, r := range m.GetReplicas() {
		if n, ok := a.node(r.GetNodeId()); ok {
			errs = append(errs, a.provision(ctx, ev, n, volumeRef{m.GetVolumeId(), m.GetVolumeName()}, m.GetSizeBytes(), r))
		}
	}
	return combine(errs)
}

// onReplicaAdded creates a replica added to a ready volume's set, when it
// is on our node: a move fills it next.
func (a *Agent) onReplicaAdded(ctx context.Context, ev bus.Event, m *ballastv1.ReplicaAdded) error {
	r := m.GetReplica()
	n, ok := a.node(r.GetNodeId())
	if !ok {
		return nil
	}
	return a.provision(ctx, ev, n, volumeRef{m.GetVolumeId(), m.GetVolumeName()}, r.GetSizeBytes(), r)
}

// onReplicaPromoted removes the replica a cut-over retired, when it is
// ours.
func (a *Agent) onReplicaPromoted(ctx context.Context, ev bus.Event, m *ballastv1.ReplicaPromoted) error {
	return a.removeRetired(ctx, ev, volumeRef{m.GetVolumeId(), m.GetVolumeName()}, m.GetRetiredReplicaId(), m.GetRetiredNodeId())
}

// onReplicaRetired removes a replica that left its set, when it is ours.
func (a *Agent) onReplicaRetired(ctx context.Context, ev bus.Event, m *ballastv1.ReplicaRetired) error {
	return a.removeRetired(ctx, ev, volumeRef{m.GetVolumeId(), m.GetVolumeName()}, m.GetReplicaId(), m.GetNodeId())
}

func (a *Agent) removeRetired(ctx context.Context, ev bus.Event, vol volumeRef, replicaID, nodeID string) error {
	n, ok := a.node(nodeID)
	if replicaID == "" || !ok {
		return nil
	}
	// The replica may not be here yet (its ReplicaAdded is in flight):
	// the removal is remembered, and the addition then ignored.
	return a.remove(ctx, ev, n, replicaID, vol)
}

// volumeRef names the volume a replica belongs to.
type volumeRef struct{ id, name string }

func (a *Agent) provision(ctx context.Context, ev bus.Event, n *node, vol volumeRef, size uint64, r *ballastv1.Replica) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.deferred(func(ctx context.Context) error { return a.provision(ctx, ev, n, vol, size, r) }) {
		return nil
	}
	id := r.GetId()
	log := a.log.With("node", n.sim.ID(), "replica", id, "volume", vol.id, "disk", r.GetDiskId())
	if _, gone := n.deleted[id]; gone {
		// The volume was deleted before we got here (or this is an old
		// assignment replayed): creating it now would leak its bytes.
		log.Debug("assignment of a deleted replica ignored")
		return nil
	}
	if have, ok := n.replicas[id]; ok && have.volumeID == vol.id {
		return nil // provisioned already; it may have grown since
	}
	if err := n.sim.CreateReplica(id, vol.id, r.GetDiskId(), size); err != nil {
		reason := provisionFailure(n, id, err)
		log.Warn("replica not provisioned", "reason", reason)
		return a.appendNode(ctx, n, eventID(ev, id), &ballastv1.ReplicaProvisionFailed{
			NodeId:     n.sim.ID(),
			ReplicaId:  id,
			VolumeId:   vol.id,
			VolumeName: vol.name,
			DiskId:     r.GetDiskId(),
			Reason:     reason,
			OccurTime:  now(),
		})
	}
	a.simulate(n, id, vol.id, vol.name)
	err := a.appendNode(ctx, n, eventID(ev, id), &ballastv1.ReplicaProvisioned{
		NodeId:     n.sim.ID(),
		ReplicaId:  id,
		VolumeId:   vol.id,
		VolumeName: vol.name,
		DiskId:     r.GetDiskId(),
		SizeBytes:  size,
		OccurTime:  now(),
	})
	if err != nil {
		// Keep the sim in step with the log: bytes nobody recorded would
		// never be freed. A retry creates the replica again.
		_ = n.sim.DeleteReplica(id)
		return err
	}
	a.recordProvisioned(n, id, loggedReplica{volumeID: vol.id, volumeName: vol.name, disk: r.GetDiskId(), size: size})
	log.Debug("replica provisioned", "size_bytes", size)
	return nil
}

// provisionFailure says why a replica could not be created, in words an
// operator can act on: which disk, and by how much it fell short.
func provisionFailure(n *node, replicaID string, err error) string {
	var capErr *sim.CapacityError
	if errors.As(err, &capErr) {
		return fmt.Sprintf("disk %s on node %s has %d bytes free, replica %s needs %d: %d bytes short",
			capErr.DiskID, n.sim.ID(), capErr.FreeBytes, replicaID, capErr.NeedBytes, capErr.NeedBytes-capErr.FreeBytes)
	}
	return err.Error()
}

// onVolumeResizeApproved grows our replicas of the volume; the volume
// service records the resize done once every replica's ReplicaExpanded is in.
func (a *Agent) onVolumeResizeApproved(ctx context.Context, ev bus.Event, m *ballastv1.VolumeResizeApproved) error {
	return a.grow(ctx, ev, m.GetVolumeId(), m.GetVolumeName(), m.GetSizeBytes())
}

// onVolumeResized grows our replicas of the volume too: logs written before
// VolumeResizeApproved have only this. In newer ones it follows our
// ReplicaExpanded, and finds every replica grown already.
func (a *Agent) onVolumeResized(ctx context.Context, ev bus.Event, m *ballastv1.VolumeResized) error {
	return a.grow(ctx, ev, m.GetVolumeId(), m.GetVolumeName(), m.GetSizeBytes())
}

func (a *Agent) grow(ctx context.Context, ev bus.Event, volumeID, volumeName string, size uint64) error {
	var errs []error
	for _, ref := range a.volumeReplicas(volumeID) {
		errs = append(errs, a.expand(ctx, ev, a.mustNode(ref.node), ref.replica, volumeID, volumeName, size))
	}
	return combine(errs)
}

func (a *Agent) expand(ctx context.Context, ev bus.Event, n *node, id, volumeID, volumeName string, size uint64) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.deferred(func(ctx context.Context) error { return a.expand(ctx, ev, n, id, volumeID, volumeName, size) }) {
		return nil
	}
	r, ok := n.replicas[id]
	if !ok || r.size >= size {
		return nil // deleted meanwhile, or already this large
	}
	log := a.log.With("node", n.sim.ID(), "replica", id, "volume", volumeID, "size_bytes", size)
	if err := n.sim.ResizeReplica(id, size); err != nil {
		// Placement checks every disk's room before it approves, and the
		// contract has no failed expansion: this is a disagreement
		// between the cluster model and the node, for an operator to see
		// in the dead letters rather than for retries to hide.
		log.Error("replica not expanded", "err", err)
		return bus.Permanent(fmt.Errorf("expand replica %s on node %s: %w", id, n.sim.ID(), err))
	}
	err := a.appendNode(ctx, n, eventID(ev, id), &ballastv1.ReplicaExpanded{
		NodeId:     n.sim.ID(),
		ReplicaId:  id,
		VolumeId:   volumeID,
		VolumeName: volumeName,
		SizeBytes:  size,
		OccurTime:  now(),
	})
	if err != nil {
		// Replicas cannot shrink, so the sim stays ahead of the log; the
		// retry finds the size there and appends what is missing.
		return err
	}
	r.size = size
	n.replicas[id] = r
	log.Debug("replica expanded")
	return nil
}

// onVolumeDeleteRequested deletes our replicas of the volume: those the
// event lists and any others we hold, so that nothing is leaked.
func (a *Agent) onVolumeDeleteRequested(ctx context.Context, ev bus.Event, m *ballastv1.VolumeDeleteRequested) error {
	targets := map[replicaRef]struct{}{}
	for _, r := range m.GetReplicas() {
		if _, ok := a.node(r.GetNodeId()); ok {
			targets[replicaRef{node: r.GetNodeId(), replica: r.GetId()}] = struct{}{}
		}
	}
	for _, ref := range a.volumeReplicas(m.GetVolumeId()) {
		targets[ref] = struct{}{}
	}
	var errs []error
	for ref := range targets {
		errs = append(errs, a.remove(ctx, ev, a.mustNode(ref.node), ref.replica, volumeRef{m.GetVolumeId(), m.GetVolumeName()}))
	}
	return combine(errs)
}

func (a *Agent) remove(ctx context.Context, ev bus.Event, n *node, id string, vol volumeRef) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.deferred(func(ctx context.Context) error { return a.remove(ctx, ev, n, id, vol) }) {
		return nil
	}
	if _, gone := n.deleted[id]; gone {
		return nil
	}
	// Deleting a replica the sim does not hold succeeds: the volume service
	// waits for a ReplicaDeleted from every replica, provisioned or not.
	if err := n.sim.DeleteReplica(id); err != nil {
		return err
	}
	err := a.appendNode(ctx, n, eventID(ev, id), &ballastv1.ReplicaDeleted{
		NodeId:     n.sim.ID(),
		ReplicaId:  id,
		VolumeId:   vol.id,
		VolumeName: vol.name,
		OccurTime:  now(),
	})
	if err != nil {
		return err
	}
	a.recordDeleted(n, id)
	a.log.Debug("replica deleted", "node", n.sim.ID(), "replica", id, "volume", vol.id)
	return nil
}

// combine joins the errors of one event's replicas. If any is transient the
// transient ones are returned, so the event is retried (the replicas done
// already are skipped by state); only when all are permanent does the event
// go to the dead letters.
func combine(errs []error) error {
	var transient, permanent []error
	for _, err := range errs {
		switch {
		case err == nil:
		case bus.IsPermanent(err):
			permanent = append(permanent, err)
		default:
			transient = append(transient, err)
		}
	}
	if len(transient) > 0 {
		return errors.Join(transient...)
	}
	if len(permanent) > 0 {
		return bus.Permanent(errors.Join(permanent...))
	}
	return nil
}
