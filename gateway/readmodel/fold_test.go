package readmodel

import (
	"testing"

	"google.golang.org/protobuf/proto"

	ballastv1 "ballast.dev/proto/ballast/v1"
)

func foldAll(t *testing.T, ms ...proto.Message) *ballastv1.Volume {
	t.Helper()
	var v *ballastv1.Volume
	for i, m := range ms {
		var changed bool
		if v, changed = FoldVolume(v, uint64(i+1), m); !changed {
			t.Fatalf("event %d (%T) changed nothing", i+1, m)
		}
	}
	return v
}

func placedAndReady() []proto.Message {
	rs := []*ballastv1.Replica{{Id: "r1", NodeId: "n1"}, {Id: "r2", NodeId: "n2"}}
	return []proto.Message{
		&ballastv1.VolumeRequested{VolumeId: "v", VolumeName: "data", SizeBytes: 10, Spec: &ballastv1.VolumeSpec{Replicas: 2}},
		&ballastv1.ReplicasAssigned{VolumeId: "v", SizeBytes: 10, Replicas: rs},
		&ballastv1.VolumeReady{VolumeId: "v"},
	}
}

func replicaRoles(v *ballastv1.Volume) map[string]ballastv1.ReplicaRole {
	out := map[string]ballastv1.ReplicaRole{}
	for _, r := range v.GetReplicas() {
		out[r.GetId()] = r.GetRole()
	}
	return out
}

// The read model follows a move as the aggregate does: the new replica
// rebuilding, then healthy with the source leaving, then the source gone.
func TestTheReadModelFollowsAMove(t *testing.T) {
	h := append(placedAndReady(),
		&ballastv1.ReplicaAdded{VolumeId: "v", Replica: &ballastv1.Replica{Id: "r3", NodeId: "n3"}, Generation: 2},
		&ballastv1.ReplicaConfirmed{VolumeId: "v", ReplicaId: "r3"},
	)
	v := foldAll(t, h...)
	if v.GetGeneration() != 2 || replicaRoles(v)["r3"] != ballastv1.ReplicaRole_REPLICA_ROLE_REBUILDING || v.GetState() != ballastv1.VolumeState_VOLUME_STATE_READY {
		t.Fatalf("after add: %v", v)
	}
	h = append(h,
		&ballastv1.ReplicaPromoted{VolumeId: "v", ReplicaId: "r3", RetiredReplicaId: "r1", Generation: 3},
		&ballastv1.ReplicaRemoved{VolumeId: "v", ReplicaId: "r1"},
	)
	v = foldAll(t, h...)
	if v.GetGeneration() != 3 || len(v.GetReplicas()) != 2 || replicaRoles(v)["r3"] != ballastv1.ReplicaRole_REPLICA_ROLE_HEALTHY ||
		v.GetState() != ballastv1.VolumeState_VOLUME_STATE_READY {
		t.Fatalf("after the move: %v", v)
	}
}

func TestALostReplicaShowsTheVolumeDegradedUntilReplaced(t *testing.T) {
	h := append(placedAndReady(), &ballastv1.ReplicaLost{VolumeId: "v", ReplicaId: "r2", Reason: "node n2 is down", Generation: 2})
	v := foldAll(t, h...)
	if v.GetState() != ballastv1.VolumeState_VOLUME_STATE_DEGRADED || replicaRoles(v)["r2"] != ballastv1.ReplicaRole_REPLICA_ROLE_LOST {
		t.Fatalf("after the loss: %v", v)
	}
	h = append(h,
		&ballastv1.ReplicaAdded{VolumeId: "v", Replica: &ballastv1.Replica{Id: "r3", NodeId: "n3"}, Generation: 3},
		&ballastv1.ReplicaConfirmed{VolumeId: "v", ReplicaId: "r3"},
		&ballastv1.ReplicaPromoted{VolumeId: "v", ReplicaId: "r3", RetiredReplicaId: "r2", Generation: 4},
	)
	if v = foldAll(t, h...); v.GetState() != ballastv1.VolumeState_VOLUME_STATE_READY {
		t.Fatalf("after the repair: %v", v)
	}
}
