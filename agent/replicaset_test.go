package agent_test

import (
	"testing"

	"ballast.dev/agent"
	ballastv1 "ballast.dev/proto/ballast/v1"
)

// A move's steps as the agents see them: the target replica is created on
// ReplicaAdded, the source removed at the cut-over that retires it, and a
// rolled-back target removed on ReplicaRetired, even one whose addition is
// handled after its retirement.
func TestAgentsFollowAReplicaSetChange(t *testing.T) {
	e := setup(t)
	a := e.start(t, agent.Config{Nodes: 3})
	d1, _ := disk(t, a, "node-001", 0)
	d2, _ := disk(t, a, "node-002", 0)
	d3, _ := disk(t, a, "node-003", 0)
	e.appendVolume(t, "vol-a", &ballastv1.ReplicasAssigned{VolumeId: "vid-a", VolumeName: "vol-a", SizeBytes: 3 * gib,
		Replicas: []*ballastv1.Replica{replica("r1", "node-001", d1)}})
	waitEvents[*ballastv1.ReplicaProvisioned](t, e, "node-001", 1)

	e.appendVolume(t, "vol-a", &ballastv1.ReplicaAdded{VolumeId: "vid-a", VolumeName: "vol-a", Generation: 2,
		Replica: &ballastv1.Replica{Id: "r2", NodeId: "node-002", DiskId: d2, SizeBytes: 3 * gib}})
	got := waitEvents[*ballastv1.ReplicaProvisioned](t, e, "node-002", 1)[0]
	if got.GetReplicaId() != "r2" || got.GetSizeBytes() != 3*gib || got.GetVolumeId() != "vid-a" {
		t.Fatalf("provisioned %v", got)
	}
	e.appendVolume(t, "vol-a", &ballastv1.ReplicaPromoted{VolumeId: "vid-a", VolumeName: "vol-a", ReplicaId: "r2", NodeId: "node-002",
		RetiredReplicaId: "r1", RetiredNodeId: "node-001", Generation: 3})
	if del := waitEvents[*ballastv1.ReplicaDeleted](t, e, "node-001", 1)[0]; del.GetReplicaId() != "r1" {
		t.Fatalf("deleted %v", del)
	}
	n1, _ := a.SimNode("node-001")
	if len(n1.Replicas()) != 0 {
		t.Fatalf("the source is still on node-001: %+v", n1.Replicas())
	}

	// Retired before its addition reached the node: never created.
	e.appendVolume(t, "vol-a", &ballastv1.ReplicaRetired{VolumeId: "vid-a", VolumeName: "vol-a", ReplicaId: "r3", NodeId: "node-003", Generation: 5})
	waitEvents[*ballastv1.ReplicaDeleted](t, e, "node-003", 1)
	seq := e.appendVolume(t, "vol-a", &ballastv1.ReplicaAdded{VolumeId: "vid-a", VolumeName: "vol-a", Generation: 4,
		Replica: &ballastv1.Replica{Id: "r3", NodeId: "node-003", DiskId: d3, SizeBytes: 3 * gib}})
	e.waitHandled(t, "sim", seq)
	n3, _ := a.SimNode("node-003")
	if len(n3.Replicas()) != 0 || len(ofType[*ballastv1.ReplicaProvisioned](e.nodeEvents(t, "node-003"))) != 0 {
		t.Fatalf("a retired replica was created: %+v", n3.Replicas())
	}
}
