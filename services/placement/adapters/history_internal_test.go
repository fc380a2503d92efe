package adapters

import (
	"testing"

	pb "ballast.dev/proto/ballast/v1"
	"ballast.dev/services/placement/app"
)

// The replicas a placement decision assigned are the volume's healthy set,
// though the event names no role: explain shows them healthy, not "-".
func TestAssignedReplicasAreHealthy(t *testing.T) {
	c, ok := setChange(&pb.ReplicasAssigned{Replicas: []*pb.Replica{{Id: "r1", NodeId: "n1"}, {Id: "r2", NodeId: "n2"}}})
	if !ok || c.Kind != app.SetAssigned || len(c.Replicas) != 2 {
		t.Fatalf("change %+v, %v", c, ok)
	}
	for _, r := range c.Replicas {
		if r.Role != app.RoleHealthy {
			t.Errorf("replica %s has role %v, want healthy", r.ID, r.Role)
		}
	}
}
