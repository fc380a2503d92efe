package agent

import (
	"context"
	"fmt"

	"ballast.dev/platform/events"
	ballastv1 "ballast.dev/proto/ballast/v1"
)

// DeleteLosingAck deletes a replica as a handler would, except that its
// ReplicaDeleted lands on the log while the agent never learns it did: the
// wait for the acknowledgement is cancelled, as Close cancels a handler in
// flight.
func DeleteLosingAck(a *Agent, nodeID, replicaID, volumeID string) error {
	n := a.nodes[nodeID]
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.sim.DeleteReplica(replicaID); err != nil {
		return err
	}
	msg := &ballastv1.ReplicaDeleted{NodeId: nodeID, ReplicaId: replicaID, VolumeId: volumeID, OccurTime: now()}
	id := fmt.Sprintf("test/lost-ack/%s", replicaID)
	ev, err := events.Encode(id, msg)
	if err != nil {
		return err
	}
	if _, err := a.store.Append(context.Background(), n.subject, n.last, ev); err != nil {
		return err
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := a.appendNode(cancelled, n, func() string { return id }, msg); err == nil {
		return fmt.Errorf("append with a cancelled context succeeded")
	}
	return nil
}
