package adapters

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "ballast.dev/proto/ballast/v1"
	"ballast.dev/services/placement/app"
	"ballast.dev/services/placement/domain"
)

const (
	gib = uint64(1) << 30
	tb  = uint64(1_000_000_000_000)
)

// maxDecisionBytes is what a decision's event may weigh at any fleet size.
const maxDecisionBytes = 4 << 10

// fleet builds a cluster of n nodes as a real fleet has them: host names
// rather than counters, 3 regions of 3 zones, 1 to 4 data-centre ssds of
// the usual sizes (some nodes with an nvme or hdd as well), 2% cordoned, 1%
// draining, 0.5% down, a tenth of the nodes with their ssds full and the
// rest partly used. It is deterministic for a given n.
func fleet(t testing.TB, n int) *domain.Cluster {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(n), 42))
	c, err := domain.NewCluster()
	if err != nil {
		t.Fatal(err)
	}
	regions := []string{"eu-west-1", "us-east-1", "ap-south-1"}
	sizes := []uint64{1920 * tb / 1000, 3840 * tb / 1000, 7680 * tb / 1000}
	seen := map[string]bool{}
	var nodes []domain.Node
	for len(nodes) < n {
		region := regions[rng.IntN(len(regions))]
		id := fmt.Sprintf("ip-10-%d-%d-%d.%s.compute.internal", rng.IntN(256), rng.IntN(256), rng.IntN(256), region)
		if seen[id] {
			continue
		}
		seen[id] = true
		node := domain.Node{ID: id, Zone: region + string(rune('a'+rng.IntN(3))), Region: region, State: domain.NodeUp,
			Labels: map[string]string{"rack": fmt.Sprintf("r%02d", rng.IntN(40))}}
		for j := range 1 + rng.IntN(4) {
			node.Disks = append(node.Disks, domain.Disk{ID: fmt.Sprintf("nvme%dn1", j), Tier: domain.TierSSD, CapacityBytes: sizes[rng.IntN(len(sizes))]})
		}
		switch rng.IntN(10) {
		case 0:
			node.Disks = append(node.Disks, domain.Disk{ID: "sda", Tier: domain.TierHDD, CapacityBytes: 16 * tb})
		case 1:
			node.Disks = append(node.Disks, domain.Disk{ID: "nvme9n1", Tier: domain.TierNVMe, CapacityBytes: 3840 * tb / 1000})
		}
		nodes = append(nodes, node)
	}
	// In id order: the cluster keeps its nodes sorted, and inserting 50,000
	// in random order would be most of this test's time.
	slices.SortFunc(nodes, func(a, b domain.Node) int { return strings.Compare(a.ID, b.ID) })
	fill := 0
	for _, node := range nodes {
		id := node.ID
		if err := c.UpsertNode(node); err != nil {
			t.Fatal(err)
		}
		var err error
		switch p := rng.IntN(1000); {
		case p < 20:
			err = c.SetNodeState(id, domain.NodeCordoned)
		case p < 30:
			err = c.SetNodeState(id, domain.NodeDraining)
		case p < 35:
			err = c.SetNodeState(id, domain.NodeDown)
		}
		if err != nil {
			t.Fatal(err)
		}
		full := rng.IntN(10) == 0
		for _, d := range node.Disks {
			if d.Tier != domain.TierSSD {
				continue
			}
			used := d.CapacityBytes - gib // full: 1 GiB left
			if !full {
				used = uint64(rng.Float64() * 0.8 * float64(d.CapacityBytes))
			}
			if used == 0 {
				continue
			}
			fill++
			if err := c.Reserve(fmt.Sprintf("fill-%d", fill), []domain.Placement{{NodeID: id, DiskID: d.ID}}, used); err != nil {
				t.Fatal(err)
			}
		}
	}
	return c
}

// fleetDecision places a 3-replica, zone-spread, 100 GiB ssd volume on a
// fleet of n nodes and returns its event as recorded now and as it was
// recorded before summaries, with every candidate.
func fleetDecision(t testing.TB, n int) (now, before *pb.PlacementDecided) {
	t.Helper()
	c := fleet(t, n)
	r := domain.Request{VolumeID: "0b7d5c4e-8f0e-4a51-9d36-3f0b2a9c7e11", SizeBytes: 100 * gib, Replicas: 3, Tier: domain.TierSSD, Spread: domain.SpreadZone}
	d, err := domain.Place(c, r, domain.WithCandidates())
	if err != nil {
		t.Fatal(err)
	}
	at := timestamppb.Now()
	now = decidedEvent("pg-orders-primary", app.Basis{Request: r, At: app.Position{Node: uint64(3 * n), Placement: uint64(5 * n)}, Overcommit: 1}, d, at)

	// The record before summaries: every candidate, with the fields rows
	// had then.
	before = &pb.PlacementDecided{VolumeId: r.VolumeID, VolumeName: "pg-orders-primary", SizeBytes: r.SizeBytes,
		Placements: now.GetPlacements(), OccurTime: at}
	for _, w := range d.Weights {
		before.ScoreNames = append(before.ScoreNames, w.Name)
	}
	for _, cand := range d.Candidates {
		row := CandidateToProto(cand)
		row.Zone, row.Rejection = "", pb.RejectionReason_REJECTION_REASON_UNSPECIFIED
		before.Candidates = append(before.Candidates, row)
	}
	return now, before
}

// TestDecisionSizeAtFleetScale measures what a decision weighs at 1,000,
// 10,000 and 50,000 nodes, now and as recorded before summaries:
//
//	cd services/placement && go test -run DecisionSizeAtFleetScale -v ./adapters
func TestDecisionSizeAtFleetScale(t *testing.T) {
	for _, n := range []int{1000, 10_000, 50_000} {
		now, before := fleetDecision(t, n)
		s := now.GetSummary()
		t.Logf("%6d nodes: PlacementDecided %5d bytes (%d best candidates, %d rejection kinds, %d of %d feasible); before summaries %9d bytes",
			n, proto.Size(now), len(s.GetBestCandidates()), len(s.GetRejections()), s.GetNodesFeasible(), s.GetNodesConsidered(), proto.Size(before))
		if size := proto.Size(now); size > maxDecisionBytes {
			t.Errorf("at %d nodes a decision weighs %d bytes, more than %d", n, size, maxDecisionBytes)
		}
		if len(s.GetRejections()) < 4 || s.GetNodesConsidered() != uint32(n) {
			t.Errorf("the fleet of %d is not as varied as meant: %v", n, s.GetRejections())
		}
	}
}
