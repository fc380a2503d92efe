package placement_test

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"

	"ballast.dev/platform/command"
	"ballast.dev/platform/events"
	pb "ballast.dev/proto/ballast/v1"
)

func (e *env) setState(node string, s pb.NodeState, requestID string) *pb.SetNodeStateReply {
	e.t.Helper()
	reply := &pb.SetNodeStateReply{}
	req := &pb.SetNodeStateRequest{RequestId: requestID, NodeId: node, State: s, Reason: "test"}
	if err := command.Request(context.Background(), e.conn.NC, command.NodeState, req, reply); err != nil {
		e.t.Fatal(err)
	}
	return reply
}

// A cordoned node takes no new replica, and stays cordoned when its agent
// registers it again; uncordoned, it takes replicas again.
func TestACordonedNodeTakesNoReplicaAndRegisteringDoesNotUncordonIt(t *testing.T) {
	// Four zones: a three-replica volume fits with one node cordoned.
	var nodes []*pb.NodeRegistered
	for i, zone := range []string{"zone-a", "zone-b", "zone-c", "zone-d"} {
		id := []string{"node-1", "node-2", "node-3", "node-4"}[i]
		nodes = append(nodes, &pb.NodeRegistered{NodeId: id, Zone: zone, Region: "r1",
			Disks: []*pb.Disk{{Id: id + "-d0", Tier: pb.Tier_TIER_SSD, CapacityBytes: 100 * gib}}})
	}
	e := startWith(t, nodes...)
	r := e.setState("node-1", pb.NodeState_NODE_STATE_CORDONED, "c1")
	if r.GetError() != nil || r.GetState() != pb.NodeState_NODE_STATE_CORDONED || r.GetSequence() == 0 {
		t.Fatalf("cordon: %v", r)
	}
	if again := e.setState("node-1", pb.NodeState_NODE_STATE_CORDONED, "c2"); again.GetError() != nil || again.GetSequence() != r.GetSequence() {
		t.Fatalf("cordon again: %v, want nothing appended (sequence %d)", again, r.GetSequence())
	}
	// The agent restarts and registers the node again.
	e.append(events.Node.Subject("node-1"), 1, nodes[0])
	for i := range 3 {
		id := e.request("v"+string(rune('a'+i)), gib)
		d, ok := e.decision(id, 1).(*pb.PlacementDecided)
		if !ok {
			t.Fatalf("volume %s not placed", id)
		}
		for _, p := range d.GetPlacements() {
			if p.GetNodeId() == "node-1" {
				t.Fatalf("a replica of %s was placed on the cordoned node", id)
			}
		}
	}
	// After a restart from the log the node is cordoned still.
	e.restart()
	if after := e.setState("node-1", pb.NodeState_NODE_STATE_CORDONED, "c3"); after.GetError() != nil || after.GetSequence() != r.GetSequence() {
		t.Fatalf("cordon after a restart: %v, want nothing appended (sequence %d)", after, r.GetSequence())
	}
	if r := e.setState("node-1", pb.NodeState_NODE_STATE_UP, "u1"); r.GetError() != nil || r.GetState() != pb.NodeState_NODE_STATE_UP {
		t.Fatalf("uncordon: %v", r)
	}
}

func TestNodeStateRefusals(t *testing.T) {
	e := start(t)
	cases := []struct {
		name  string
		node  string
		state pb.NodeState
		want  codes.Code
	}{
		{"an unknown node", "node-9", pb.NodeState_NODE_STATE_CORDONED, codes.NotFound},
		{"a state only placement sets", "node-1", pb.NodeState_NODE_STATE_DOWN, codes.InvalidArgument},
		{"no state", "node-1", pb.NodeState_NODE_STATE_UNSPECIFIED, codes.InvalidArgument},
		{"no node", "", pb.NodeState_NODE_STATE_CORDONED, codes.InvalidArgument},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.setState(c.node, c.state, "r"+string(rune('0'+i)))
			if codes.Code(r.GetError().GetCode()) != c.want {
				t.Fatalf("reply %v, want %v", r, c.want)
			}
		})
	}
}
