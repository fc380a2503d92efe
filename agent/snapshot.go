package agent

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"

	"google.golang.org/protobuf/proto"

	"ballast.dev/platform/events"
	"ballast.dev/platform/snapshot"
	snapshotv1 "ballast.dev/proto/ballast/snapshot/v1"
)

// An agent snapshots what its nodes' histories say (replicas, deletions,
// the last sequence of each) so that a restart replays only the node stream
// after the snapshot, not every replica ever made. It relies on what the
// design says of agents: an agent is the only writer of its nodes'
// histories, and it applies its own appends as it makes them, so its state
// as of the stream's last sequence is its nodes' state, but for a node whose
// last append has an unknown outcome: the snapshot then covers no further
// than that node's last known event.

var formatAgent = string(proto.MessageName(&snapshotv1.AgentNodes{}))

func (a *Agent) snapshotName() string { return "agent-" + a.cfg.Name }

// agentModel is the agent as a snapshot.Model.
type agentModel struct {
	a      *Agent
	events atomic.Uint64
}

// Events implements snapshot.Model: the events the agent applied or
// appended.
func (m *agentModel) Events() uint64 { return m.events.Load() }

// Take implements snapshot.Model.
func (m *agentModel) Take() (snapshot.Snapshot, error) {
	a := m.a
	// The stream's last sequence first: whatever our nodes' histories hold
	// up to it, we have applied by the time we read each node.
	covers, err := a.store.LastSequence(context.Background(), events.Node.Stream)
	if err != nil {
		return snapshot.Snapshot{}, err
	}
	out := &snapshotv1.AgentNodes{}
	for _, id := range a.nodeIDs() {
		n := a.mustNode(id)
		n.mu.Lock()
		if n.unsure {
			// Its last append may have landed unapplied: a restore
			// replays the stream from before it.
			covers = min(covers, n.last)
		}
		sn := &snapshotv1.AgentNode{NodeId: id, LastSequence: n.last, Registered: n.registered}
		for rid, r := range n.replicas {
			sn.Replicas = append(sn.Replicas, &snapshotv1.AgentReplica{ReplicaId: rid, VolumeId: r.volumeID, VolumeName: r.volumeName, DiskId: r.disk, SizeBytes: r.size})
		}
		for rid := range n.deleted {
			sn.Deleted = append(sn.Deleted, rid)
		}
		n.mu.Unlock()
		slices.SortFunc(sn.Replicas, func(x, y *snapshotv1.AgentReplica) int { return strings.Compare(x.GetReplicaId(), y.GetReplicaId()) })
		slices.Sort(sn.Deleted)
		out.Nodes = append(out.Nodes, sn)
	}
	data, err := proto.Marshal(out)
	if err != nil {
		return snapshot.Snapshot{}, err
	}
	return snapshot.Snapshot{Format: formatAgent, Sequences: map[string]uint64{events.Node.Stream: covers}, Data: data}, nil
}

// restore applies the agent's latest snapshot, if it has a usable one, and
// returns the node stream sequence it covers (0 when none): replay goes on
// after it. A node of the snapshot that the configured fleet lacks joins
// it; a replica that no longer fits its simulated node is logged, as in a
// replay.
func (a *Agent) restore(ctx context.Context) (uint64, error) {
	snap, err := a.snaps.Latest(ctx, a.snapshotName(), formatAgent, a.store)
	if errors.Is(err, snapshot.ErrNone) {
		return 0, nil
	}
	m := &snapshotv1.AgentNodes{}
	if err == nil {
		err = proto.Unmarshal(snap.Data, m)
	}
	if err != nil {
		a.log.Warn("snapshot not used; replaying the node stream from the start", "err", err)
		return 0, nil
	}
	var ids []string
	for _, sn := range m.GetNodes() {
		ids = append(ids, sn.GetNodeId())
	}
	// Every node in the snapshot is one this agent registered.
	if err := a.keep(ids); err != nil {
		return 0, err
	}
	for _, sn := range m.GetNodes() {
		n, ok := a.node(sn.GetNodeId())
		if !ok {
			continue
		}
		n.last, n.registered = sn.GetLastSequence(), sn.GetRegistered()
		for _, r := range sn.GetReplicas() {
			if err := n.sim.CreateReplica(r.GetReplicaId(), r.GetVolumeId(), r.GetDiskId(), r.GetSizeBytes()); err != nil {
				a.log.Warn("snapshot replica does not fit the simulated node", "node", n.sim.ID(), "replica", r.GetReplicaId(), "err", err)
			} else {
				a.simulate(n, r.GetReplicaId(), r.GetVolumeId(), r.GetVolumeName())
			}
			a.recordProvisioned(n, r.GetReplicaId(), loggedReplica{volumeID: r.GetVolumeId(), volumeName: r.GetVolumeName(), disk: r.GetDiskId(), size: r.GetSizeBytes()})
		}
		for _, id := range sn.GetDeleted() {
			n.deleted[id] = struct{}{}
		}
	}
	covers := snap.Sequences[events.Node.Stream]
	a.log.Debug("nodes restored from their snapshot", "covers", covers)
	return covers, nil
}
