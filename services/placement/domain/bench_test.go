package domain

import (
	"fmt"
	"testing"
)

// BenchmarkPlace1000Nodes places 3-replica zone-spread volumes on 1,000
// nodes (3 zones, 3 ssd disks each), reserving each decision so that the
// cluster fills the way it does in service. The decision is summarised, as
// the service records it.
func BenchmarkPlace1000Nodes(b *testing.B) { placeAndReserve(b, thousandNodes(b)) }

// BenchmarkPlace1000NodesWithCandidates is the same with the full
// per-candidate table, as explain computes it.
func BenchmarkPlace1000NodesWithCandidates(b *testing.B) {
	placeAndReserve(b, thousandNodes(b), WithCandidates())
}

// thousandNodes is 1,000 nodes in 3 zones, 3 ssd disks of 8 TiB each.
func thousandNodes(b *testing.B) *Cluster {
	c, err := NewCluster()
	if err != nil {
		b.Fatal(err)
	}
	zones := []string{"zone-a", "zone-b", "zone-c"}
	for i := range 1000 {
		n := Node{ID: fmt.Sprintf("node-%04d", i), Zone: zones[i%3], Region: "r1", State: NodeUp}
		for j := range 3 {
			n.Disks = append(n.Disks, Disk{ID: fmt.Sprintf("d%d", j), Tier: TierSSD, CapacityBytes: 8 * tib})
		}
		if err := c.UpsertNode(n); err != nil {
			b.Fatal(err)
		}
	}
	return c
}

// placeAndReserve places 3-replica zone-spread volumes, reserving each
// decision so that the cluster fills the way it does in service.
func placeAndReserve(b *testing.B, c *Cluster, opts ...PlaceOption) {
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := Request{VolumeID: fmt.Sprintf("vol-%d", i), SizeBytes: 10 * gib, Replicas: 3, Tier: TierSSD, Spread: SpreadZone}
		i++
		d, err := Place(c, r, opts...)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Reserve(r.VolumeID, d.Placements, r.SizeBytes); err != nil {
			b.Fatal(err)
		}
	}
}
