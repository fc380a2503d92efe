package volume_test

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"

	"ballast.dev/platform/command"
	"ballast.dev/platform/events"
	pb "ballast.dev/proto/ballast/v1"
)

func (e env) change(req *pb.ChangeReplicaSetRequest) *pb.CommandReply {
	e.t.Helper()
	reply := &pb.CommandReply{}
	if err := command.Request(context.Background(), e.conn.NC, command.VolumeReplicas, req, reply); err != nil {
		e.t.Fatal(err)
	}
	return reply
}

func roleOf(v *pb.Volume, id string) pb.ReplicaRole {
	for _, r := range v.GetReplicas() {
		if r.GetId() == id {
			return r.GetRole()
		}
	}
	return -1
}

// A move as the migration service drives it: add a rebuilding replica, its
// agent provisions it, cut over (the target promoted and the source retired
// at once), the agent removes the source. The set never holds fewer than
// three healthy replicas, and every change bumps the generation.
func TestAReplicaMovesThroughTheVolumeService(t *testing.T) {
	e := start(t)
	v, placements := e.ready("data")
	src := placements[0]
	add := e.change(&pb.ChangeReplicaSetRequest{RequestId: "add-1", VolumeName: "data", VolumeId: v.GetId(), ExpectedGeneration: 1, MigrationId: "m1",
		Change: &pb.ChangeReplicaSetRequest_Add{Add: &pb.AddReplica{ReplicaId: "r-new", NodeId: "n4", DiskId: "n4-d0", Zone: "a"}}})
	if add.GetError() != nil || add.GetVolume().GetGeneration() != 2 || roleOf(add.GetVolume(), "r-new") != pb.ReplicaRole_REPLICA_ROLE_REBUILDING {
		t.Fatalf("add: %v", add)
	}
	// The add resent is answered as done; one decided on generation 1 by
	// another actor is fenced.
	if again := e.change(&pb.ChangeReplicaSetRequest{RequestId: "add-1", VolumeName: "data", VolumeId: v.GetId(), ExpectedGeneration: 1, MigrationId: "m1",
		Change: &pb.ChangeReplicaSetRequest_Add{Add: &pb.AddReplica{ReplicaId: "r-new", NodeId: "n4", DiskId: "n4-d0", Zone: "a"}}}); again.GetError() != nil || again.GetVolume().GetGeneration() != 2 {
		t.Fatalf("resent add: %v", again)
	}
	stale := e.change(&pb.ChangeReplicaSetRequest{RequestId: "other", VolumeName: "data", VolumeId: v.GetId(), ExpectedGeneration: 1,
		Change: &pb.ChangeReplicaSetRequest_Retire{Retire: &pb.RetireReplica{ReplicaId: placements[1].GetReplicaId()}}})
	if codes.Code(stale.GetError().GetCode()) != codes.FailedPrecondition {
		t.Fatalf("stale retire: %v", stale)
	}
	// Promoted before its agent provisioned it: refused.
	early := e.change(&pb.ChangeReplicaSetRequest{RequestId: "promote-early", VolumeName: "data", VolumeId: v.GetId(), ExpectedGeneration: 2,
		Change: &pb.ChangeReplicaSetRequest_Promote{Promote: &pb.PromoteReplica{ReplicaId: "r-new", RetiredReplicaId: src.GetReplicaId()}}})
	if codes.Code(early.GetError().GetCode()) != codes.FailedPrecondition {
		t.Fatalf("early promotion: %v", early)
	}
	e.appendEvent(events.Node.Subject("n4"), "provision-r-new", &pb.ReplicaProvisioned{NodeId: "n4", ReplicaId: "r-new", VolumeId: v.GetId(), VolumeName: "data", DiskId: "n4-d0", SizeBytes: v.GetSizeBytes()})
	waitHistory(t, e, "data", "the new replica confirmed", last[*pb.ReplicaConfirmed])
	cut := e.change(&pb.ChangeReplicaSetRequest{RequestId: "promote-1", VolumeName: "data", VolumeId: v.GetId(), ExpectedGeneration: 2, MigrationId: "m1",
		Change: &pb.ChangeReplicaSetRequest_Promote{Promote: &pb.PromoteReplica{ReplicaId: "r-new", RetiredReplicaId: src.GetReplicaId()}}})
	cv := cut.GetVolume()
	if cut.GetError() != nil || cv.GetGeneration() != 3 || roleOf(cv, "r-new") != pb.ReplicaRole_REPLICA_ROLE_HEALTHY ||
		roleOf(cv, src.GetReplicaId()) != pb.ReplicaRole_REPLICA_ROLE_LEAVING || cv.GetState() != pb.VolumeState_VOLUME_STATE_READY {
		t.Fatalf("cut-over: %v", cut)
	}
	e.appendEvent(events.Node.Subject(src.GetNodeId()), "delete-src", &pb.ReplicaDeleted{NodeId: src.GetNodeId(), ReplicaId: src.GetReplicaId(), VolumeId: v.GetId(), VolumeName: "data"})
	h := waitHistory(t, e, "data", "the source removed", last[*pb.ReplicaRemoved])
	var sawPromoted bool
	for _, m := range h {
		if p, ok := m.(*pb.ReplicaPromoted); ok {
			sawPromoted = p.GetMigrationId() == "m1" && p.GetRetiredReplicaId() == src.GetReplicaId() && p.GetGeneration() == 3
		}
	}
	if !sawPromoted {
		t.Fatalf("history has no cut-over naming its migration: %v", h)
	}
	// A change naming an incarnation that is gone is refused.
	gone := e.change(&pb.ChangeReplicaSetRequest{RequestId: "x", VolumeName: "data", VolumeId: "another", ExpectedGeneration: 3,
		Change: &pb.ChangeReplicaSetRequest_Lose{Lose: &pb.LoseReplica{ReplicaId: "r-new"}}})
	if codes.Code(gone.GetError().GetCode()) != codes.NotFound {
		t.Fatalf("change of another incarnation: %v", gone)
	}
}

func TestALostReplicaShowsTheVolumeDegraded(t *testing.T) {
	e := start(t)
	v, placements := e.ready("data")
	r := e.change(&pb.ChangeReplicaSetRequest{RequestId: "lose", VolumeName: "data", VolumeId: v.GetId(),
		Change: &pb.ChangeReplicaSetRequest_Lose{Lose: &pb.LoseReplica{ReplicaId: placements[2].GetReplicaId(), Reason: "node n3 is down"}}})
	if r.GetError() != nil || r.GetVolume().GetState() != pb.VolumeState_VOLUME_STATE_DEGRADED ||
		roleOf(r.GetVolume(), placements[2].GetReplicaId()) != pb.ReplicaRole_REPLICA_ROLE_LOST {
		t.Fatalf("lose: %v", r)
	}
	none := e.change(&pb.ChangeReplicaSetRequest{RequestId: "empty", VolumeName: "data", VolumeId: v.GetId()})
	if codes.Code(none.GetError().GetCode()) != codes.InvalidArgument {
		t.Fatalf("a change that names none: %v", none)
	}
}
