package domain

import "testing"

const (
	gib = uint64(1) << 30
	tib = uint64(1) << 40
)

// ssd, nvme and hdd build a disk of that tier with capacity in GiB.
func ssd(id string, capGiB uint64) Disk {
	return Disk{ID: id, Tier: TierSSD, CapacityBytes: capGiB * gib}
}
func nvme(id string, capGiB uint64) Disk {
	return Disk{ID: id, Tier: TierNVMe, CapacityBytes: capGiB * gib}
}
func hdd(id string, capGiB uint64) Disk {
	return Disk{ID: id, Tier: TierHDD, CapacityBytes: capGiB * gib}
}

// up builds an up node in region r1.
func up(id, zone string, disks ...Disk) Node {
	return Node{ID: id, Zone: zone, Region: "r1", State: NodeUp, Disks: disks}
}

// inState returns n with state s.
func inState(n Node, s NodeState) Node { n.State = s; return n }

// withLabels returns n with labels kv (key, value, key, value, ...).
func withLabels(n Node, kv ...string) Node {
	n.Labels = map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		n.Labels[kv[i]] = kv[i+1]
	}
	return n
}

func newCluster(t testing.TB, opts []ClusterOption, nodes ...Node) *Cluster {
	t.Helper()
	c, err := NewCluster(opts...)
	if err != nil {
		t.Fatalf("NewCluster: %v", err)
	}
	for _, n := range nodes {
		if err := c.UpsertNode(n); err != nil {
			t.Fatalf("UpsertNode(%s): %v", n.ID, err)
		}
	}
	return c
}

// used returns the bytes reserved on a disk.
func used(t testing.TB, c *Cluster, nodeID, diskID string) uint64 {
	t.Helper()
	n, ok := c.Node(nodeID)
	if !ok {
		t.Fatalf("no node %s", nodeID)
	}
	for _, d := range n.Disks {
		if d.ID == diskID {
			return d.UsedBytes
		}
	}
	t.Fatalf("no disk %s on %s", diskID, nodeID)
	return 0
}

func placementNodes(ps []Placement) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.NodeID
	}
	return out
}
