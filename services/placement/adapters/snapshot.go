package adapters

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync/atomic"

	"google.golang.org/protobuf/proto"

	"ballast.dev/platform/events"
	"ballast.dev/platform/snapshot"
	snapshotv1 "ballast.dev/proto/ballast/snapshot/v1"
	"ballast.dev/services/placement/domain"
)

// SnapshotName names the cluster model's snapshot.
const SnapshotName = "placement-model"

var formatCluster = string(proto.MessageName(&snapshotv1.Cluster{}))

// modelEvents counts the events a Model applied, for snapshot.Model.
type modelEvents struct{ n atomic.Uint64 }

// Events implements snapshot.Model.
func (m *Model) Events() uint64 { return m.events.n.Load() }

// Take implements snapshot.Model: the cluster, the sequences it covers and
// each volume's last placement event, copied under the model's lock.
func (m *Model) Take() (snapshot.Snapshot, error) {
	m.mu.Lock()
	out := clusterToProto(m.cluster)
	m.held.toProto(out)
	out.Last = maps.Clone(m.last)
	seqs := maps.Clone(m.applied)
	m.mu.Unlock()
	data, err := proto.Marshal(out)
	if err != nil {
		return snapshot.Snapshot{}, fmt.Errorf("cluster snapshot: %w", err)
	}
	return snapshot.Snapshot{Format: formatCluster, Sequences: seqs, Data: data}, nil
}

func clusterToProto(c *domain.Cluster) *snapshotv1.Cluster {
	out := &snapshotv1.Cluster{Overcommit: c.Overcommit()}
	for _, n := range c.Nodes() {
		pn := &snapshotv1.ClusterNode{Id: n.ID, Zone: n.Zone, Region: n.Region, State: int32(n.State), Labels: n.Labels}
		for _, d := range n.Disks {
			pn.Disks = append(pn.Disks, &snapshotv1.ClusterDisk{Id: d.ID, Tier: int32(d.Tier), CapacityBytes: d.CapacityBytes,
				ReadIops: d.ReadIOPS, WriteIops: d.WriteIOPS, ThroughputBytesPerSecond: d.ThroughputBps})
		}
		out.Nodes = append(out.Nodes, pn)
	}
	for _, r := range c.Reservations() {
		pr := &snapshotv1.ClusterReservation{VolumeId: r.VolumeID, SizeBytes: r.SizeBytes}
		for _, p := range r.Placements {
			pr.Placements = append(pr.Placements, &snapshotv1.ClusterPlacement{NodeId: p.NodeID, DiskId: p.DiskID, Zone: p.Zone})
		}
		out.Reservations = append(out.Reservations, pr)
	}
	return out
}

// clusterFromProto rebuilds a cluster; any reservation it cannot make again
// means the snapshot is not one this model wrote.
func clusterFromProto(m *snapshotv1.Cluster, overcommit float64) (*domain.Cluster, error) {
	if m.GetOvercommit() != overcommit {
		return nil, fmt.Errorf("snapshot taken with overcommit %v, the model runs with %v", m.GetOvercommit(), overcommit)
	}
	c, err := domain.NewCluster(domain.WithOvercommit(overcommit))
	if err != nil {
		return nil, err
	}
	for _, pn := range m.GetNodes() {
		n := domain.Node{ID: pn.GetId(), Zone: pn.GetZone(), Region: pn.GetRegion(), State: domain.NodeState(pn.GetState()), Labels: pn.GetLabels()}
		for _, d := range pn.GetDisks() {
			n.Disks = append(n.Disks, domain.Disk{ID: d.GetId(), Tier: domain.Tier(d.GetTier()), CapacityBytes: d.GetCapacityBytes(),
				ReadIOPS: d.GetReadIops(), WriteIOPS: d.GetWriteIops(), ThroughputBps: d.GetThroughputBytesPerSecond()})
		}
		if err := c.UpsertNode(n); err != nil {
			return nil, err
		}
	}
	for _, r := range m.GetReservations() {
		ps := make([]domain.Placement, len(r.GetPlacements()))
		for i, p := range r.GetPlacements() {
			ps[i] = domain.Placement{NodeID: p.GetNodeId(), DiskID: p.GetDiskId(), Zone: p.GetZone()}
		}
		if err := c.Reserve(r.GetVolumeId(), ps, r.GetSizeBytes()); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// restore loads the model's latest snapshot, if it has a usable one: the
// cluster, each stream's applied sequence and the volumes' last events. It
// reports whether it did; without one the model is built from the start of
// the log.
func (m *Model) restore(ctx context.Context, snaps *snapshot.Store, overcommit float64) bool {
	snap, err := snaps.Latest(ctx, SnapshotName, formatCluster, m.store)
	if errors.Is(err, snapshot.ErrNone) {
		return false
	}
	pm := &snapshotv1.Cluster{}
	if err == nil {
		err = proto.Unmarshal(snap.Data, pm)
	}
	var c *domain.Cluster
	if err == nil {
		c, err = clusterFromProto(pm, overcommit)
	}
	if err != nil {
		m.log.Warn("snapshot not used; rebuilding the cluster model from the log", "err", err)
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cluster = c
	m.held = holdingsFromProto(pm)
	m.last = maps.Clone(pm.GetLast())
	if m.last == nil {
		m.last = map[string]uint64{}
	}
	for _, a := range []events.Aggregate{events.Node, events.Placement} {
		m.applied[a.Stream] = snap.Sequences[a.Stream]
	}
	m.log.Debug("cluster model restored from its snapshot", "covers", snap.Sequences)
	return true
}
