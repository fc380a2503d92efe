package gateway_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"ballast.dev/platform/events"
	"ballast.dev/platform/waitfor"
	ballastv1 "ballast.dev/proto/ballast/v1"
)

const gib = 1 << 30

// seedNodes registers n1 (disks d1, d2) and n2 (disk d1).
func seedNodes(e *env) {
	e.log.append(events.Node, "n2", &ballastv1.NodeRegistered{
		NodeId: "n2", Zone: "z2", Region: "r", OccurTime: at(0),
		Disks: []*ballastv1.Disk{{Id: "d1", Tier: ballastv1.Tier_TIER_SSD, CapacityBytes: 100 * gib}},
	})
	e.log.append(events.Node, "n1", &ballastv1.NodeRegistered{
		NodeId: "n1", Zone: "z1", Region: "r", Labels: map[string]string{"rack": "a"}, OccurTime: at(0),
		Disks: []*ballastv1.Disk{
			{Id: "d1", Tier: ballastv1.Tier_TIER_NVME, CapacityBytes: 100 * gib},
			{Id: "d2", Tier: ballastv1.Tier_TIER_HDD, CapacityBytes: 1000 * gib},
		},
	})
}

func (e *env) node(id string) *ballastv1.Node {
	e.t.Helper()
	resp, err := e.nodes.GetNode(testCtx(e.t), &ballastv1.GetNodeRequest{Id: id})
	if err != nil {
		e.t.Fatalf("get node %s: %v", id, err)
	}
	return resp.GetNode()
}

// reserved is what a node's disks hold, by disk id.
func reserved(n *ballastv1.Node) map[string]uint64 {
	m := map[string]uint64{}
	for _, d := range n.GetDisks() {
		m[d.GetId()] = d.GetReservedBytes()
	}
	return m
}

func TestNodesProjection(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// A decision that arrives before its nodes register still counts:
	// the streams are consumed independently.
	e.log.append(events.Placement, "va", &ballastv1.PlacementDecided{VolumeId: "va", SizeBytes: 10 * gib, Placements: []*ballastv1.ReplicaPlacement{
		{ReplicaId: "a0", NodeId: "n1", DiskId: "d1"}, {ReplicaId: "a1", NodeId: "n2", DiskId: "d1"},
	}})
	seedNodes(e)
	e.log.append(events.Placement, "vb", &ballastv1.PlacementDecided{VolumeId: "vb", SizeBytes: 20 * gib, Placements: []*ballastv1.ReplicaPlacement{
		{ReplicaId: "b0", NodeId: "n1", DiskId: "d1"}, {ReplicaId: "b1", NodeId: "n1", DiskId: "d2"},
	}})
	if got := reserved(e.node("n1")); got["d1"] != 30*gib || got["d2"] != 20*gib {
		t.Fatalf("n1 reserved %v", got)
	}
	if got := reserved(e.node("n2")); got["d1"] != 10*gib {
		t.Fatalf("n2 reserved %v", got)
	}

	e.log.append(events.Placement, "va", &ballastv1.ResizeApproved{VolumeId: "va", SizeBytes: 15 * gib})
	if got := reserved(e.node("n1")); got["d1"] != 35*gib {
		t.Fatalf("after resize n1 reserved %v", got)
	}
	e.log.append(events.Placement, "va", &ballastv1.CapacityReleased{VolumeId: "va"})
	if got := reserved(e.node("n1")); got["d1"] != 20*gib || got["d2"] != 20*gib {
		t.Fatalf("after release n1 reserved %v", got)
	}
	if got := reserved(e.node("n2")); got["d1"] != 0 {
		t.Fatalf("after release n2 reserved %v", got)
	}
	e.log.append(events.Placement, "vb", &ballastv1.CapacityReleased{VolumeId: "vb"})
	e.log.append(events.Placement, "vb", &ballastv1.CapacityReleased{VolumeId: "vb"}) // twice: nothing more to return
	if got := reserved(e.node("n1")); got["d1"] != 0 || got["d2"] != 0 {
		t.Fatalf("after all released n1 reserved %v", got)
	}

	for _, r := range []string{"x0", "x1", "x2"} {
		e.log.append(events.Node, "n1", &ballastv1.ReplicaProvisioned{NodeId: "n1", ReplicaId: r, DiskId: "d2", SizeBytes: gib})
	}
	e.log.append(events.Node, "n1", &ballastv1.ReplicaProvisioned{NodeId: "n1", ReplicaId: "x0", DiskId: "d2", SizeBytes: gib}) // again
	e.log.append(events.Node, "n1", &ballastv1.ReplicaDeleted{NodeId: "n1", ReplicaId: "x1"})
	n1 := e.node("n1")
	if n1.GetReplicaCount() != 2 || n1.GetDisks()[1].GetReplicaCount() != 2 || n1.GetDisks()[0].GetReplicaCount() != 0 {
		t.Fatalf("replica counts: %v", n1)
	}

	// Loads come from the load bucket, the latest per node.
	kv, err := e.conn.JS.KeyValue(testCtx(t), events.LoadBucket)
	if err != nil {
		t.Fatal(err)
	}
	load, _ := proto.Marshal(&ballastv1.NodeLoadSummarized{NodeId: "n1", ReadIops: 1200, Utilization: 0.5, LatencyMicros: 800, WindowEndTime: at(9)})
	if _, err := kv.Put(testCtx(t), "n1", load); err != nil {
		t.Fatal(err)
	}
	waitfor.Condition(t, 10*time.Second, "n1's load", func() bool { return e.node("n1").GetLoad().GetReadIops() == 1200 })
	n1 = e.node("n1")
	if n1.GetLoad().GetReadIops() != 1200 || n1.GetLoad().GetUtilization() != 0.5 || n1.GetState() != ballastv1.NodeState_NODE_STATE_UP ||
		n1.GetZone() != "z1" || n1.GetLabels()["rack"] != "a" || n1.GetDisks()[0].GetTier() != ballastv1.Tier_TIER_NVME {
		t.Fatalf("n1: %v", n1)
	}

	list, err := e.nodes.ListNodes(testCtx(t), &ballastv1.ListNodesRequest{PageSize: 1})
	if err != nil || len(list.GetNodes()) != 1 || list.GetNodes()[0].GetId() != "n1" || list.GetTotalSize() != 2 || list.GetNextPageToken() == "" {
		t.Fatalf("first page: %v %v", list, err)
	}
	list, err = e.nodes.ListNodes(testCtx(t), &ballastv1.ListNodesRequest{PageSize: 1, PageToken: list.GetNextPageToken()})
	if err != nil || len(list.GetNodes()) != 1 || list.GetNodes()[0].GetId() != "n2" || list.GetNextPageToken() != "" {
		t.Fatalf("second page: %v %v", list, err)
	}
	_, err = e.nodes.ListNodes(testCtx(t), &ballastv1.ListNodesRequest{PageToken: "zzz"})
	wantCode(t, err, codes.InvalidArgument, "page_token")
	_, err = e.nodes.GetNode(testCtx(t), &ballastv1.GetNodeRequest{Id: "n9"})
	wantCode(t, err, codes.NotFound, "n9")
	_, err = e.nodes.GetNode(testCtx(t), &ballastv1.GetNodeRequest{})
	wantCode(t, err, codes.InvalidArgument, "id")
}
