package readmodel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"ballast.dev/platform/snapshot"
	snapshotv1 "ballast.dev/proto/ballast/snapshot/v1"
	ballastv1 "ballast.dev/proto/ballast/v1"
)

// Snapshotter is a projection that can be saved and restored whole, so that
// a restart replays only the log after its snapshot.
type Snapshotter interface {
	Projection
	snapshot.Model
	// Restore replaces the projection's state with a snapshot's. It is
	// called before the projection is fed.
	Restore(snap snapshot.Snapshot) error
	// Format names the snapshot encoding the projection reads.
	Format() string
}

// RestoreLatest restores p from its latest snapshot under name, if there is
// one it can use; otherwise p stays empty and is rebuilt from the log. Only
// a failure to reach the log is an error.
func RestoreLatest(ctx context.Context, store *snapshot.Store, log LastSequencer, p Snapshotter, name string, logger *slog.Logger) error {
	snap, err := store.Latest(ctx, name, p.Format(), log)
	if errors.Is(err, snapshot.ErrNone) {
		return nil
	}
	if err == nil {
		err = p.Restore(snap)
	}
	if err != nil {
		logger.Warn("snapshot not used; rebuilding from the log", "model", name, "err", err)
		return nil
	}
	logger.Debug("read model restored from its snapshot", "model", name, "covers", snap.Sequences)
	return nil
}

var (
	formatVolumes = string(proto.MessageName(&snapshotv1.Volumes{}))
	formatNodes   = string(proto.MessageName(&snapshotv1.Nodes{}))
)

// Format implements Snapshotter.
func (s *MemoryVolumes) Format() string { return formatVolumes }

// Take implements snapshot.Model. A row is a Volume's encoding, so the
// snapshot (a Volumes message) is written from the rows as they are: the
// live ones as field 1, the tombstones as field 2. Rows are never changed
// in place (a change stores a new row), so collecting them under the lock is
// enough.
func (s *MemoryVolumes) Take() (snapshot.Snapshot, error) {
	s.mu.RLock()
	live := make([]row, 0, len(s.byName))
	for _, r := range s.byName {
		live = append(live, r)
	}
	dead := make([]row, 0, len(s.order))
	for _, id := range s.order {
		dead = append(dead, s.tombstones[id])
	}
	seqs := s.sequences()
	s.mu.RUnlock()
	size := 0
	for _, rs := range [][]row{live, dead} {
		for _, r := range rs {
			size += protowire.SizeTag(1) + protowire.SizeBytes(len(r))
		}
	}
	data := make([]byte, 0, size)
	for field, rs := range [][]row{live, dead} {
		for _, r := range rs {
			data = protowire.AppendTag(data, protowire.Number(field+1), protowire.BytesType)
			data = protowire.AppendBytes(data, r)
		}
	}
	return snapshot.Snapshot{Format: formatVolumes, Sequences: seqs, Data: data}, nil
}

// Restore implements Snapshotter.
func (s *MemoryVolumes) Restore(snap snapshot.Snapshot) error {
	m := &snapshotv1.Volumes{}
	if err := proto.Unmarshal(snap.Data, m); err != nil {
		return fmt.Errorf("volumes snapshot: %w", err)
	}
	fresh := NewMemoryVolumes()
	for _, v := range m.GetLive() {
		r, err := rowOf(v)
		if err != nil {
			return fmt.Errorf("volumes snapshot: %w", err)
		}
		fresh.byName[v.GetName()] = r
		fresh.nameOf[v.GetId()] = v.GetName()
		fresh.names.insert(v.GetName())
	}
	for _, v := range m.GetTombstones() {
		r, err := rowOf(v)
		if err != nil {
			return fmt.Errorf("volumes snapshot: %w", err)
		}
		fresh.bury(v.GetId(), r)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byName, s.names, s.nameOf, s.tombstones, s.order = fresh.byName, fresh.names, fresh.nameOf, fresh.tombstones, fresh.order
	s.restore(snap.Sequences)
	return nil
}

// Format implements Snapshotter.
func (s *MemoryNodes) Format() string { return formatNodes }

// Take implements snapshot.Model.
func (s *MemoryNodes) Take() (snapshot.Snapshot, error) {
	s.mu.RLock()
	m := &snapshotv1.Nodes{
		Nodes:    make([]*ballastv1.Node, 0, len(s.nodes)),
		Replicas: make([]*snapshotv1.ReplicaLocation, 0, len(s.replicas)),
	}
	for _, n := range s.nodes {
		m.Nodes = append(m.Nodes, n)
	}
	m.States = maps.Clone(s.states)
	for id, at := range s.replicas {
		m.Replicas = append(m.Replicas, &snapshotv1.ReplicaLocation{ReplicaId: id, NodeId: at.node, DiskId: at.disk})
	}
	for vol, held := range s.reservations {
		for _, r := range held {
			m.Reservations = append(m.Reservations, &snapshotv1.Reservation{VolumeId: vol, ReplicaId: r.replica, NodeId: r.at.node, DiskId: r.at.disk, SizeBytes: r.bytes})
		}
	}
	seqs := s.sequences()
	s.mu.RUnlock()
	data, err := proto.Marshal(m)
	if err != nil {
		return snapshot.Snapshot{}, fmt.Errorf("nodes snapshot: %w", err)
	}
	return snapshot.Snapshot{Format: formatNodes, Sequences: seqs, Data: data}, nil
}

// Restore implements Snapshotter. Loads are not in the snapshot: they come
// from the load bucket.
func (s *MemoryNodes) Restore(snap snapshot.Snapshot) error {
	m := &snapshotv1.Nodes{}
	if err := proto.Unmarshal(snap.Data, m); err != nil {
		return fmt.Errorf("nodes snapshot: %w", err)
	}
	fresh := NewMemoryNodes()
	for _, n := range m.GetNodes() {
		fresh.nodes[n.GetId()] = n
		fresh.ids.insert(n.GetId())
	}
	for _, r := range m.GetReplicas() {
		at := diskOf(r.GetNodeId(), r.GetDiskId())
		fresh.replicas[r.GetReplicaId()] = at
		fresh.diskReplicas[at]++
		fresh.nodeReplicas[at.node]++
	}
	maps.Copy(fresh.states, m.GetStates())
	for _, r := range m.GetReservations() {
		fresh.hold(r.GetVolumeId(), reservation{replica: r.GetReplicaId(), at: diskOf(r.GetNodeId(), r.GetDiskId()), bytes: r.GetSizeBytes()})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nodes, s.ids, s.replicas, s.diskReplicas, s.nodeReplicas = fresh.nodes, fresh.ids, fresh.replicas, fresh.diskReplicas, fresh.nodeReplicas
	s.reservations, s.reserved, s.states = fresh.reservations, fresh.reserved, fresh.states
	s.restore(snap.Sequences)
	return nil
}
