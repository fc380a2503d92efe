package adapters

import (
	"google.golang.org/protobuf/proto"

	"ballast.dev/platform/events"
	pb "ballast.dev/proto/ballast/v1"
	"ballast.dev/services/placement/domain"
)

// applies names the types applyEvent uses: the node stream carries far more
// (a few per replica), which the model passes over without decoding.
var applies = map[string]bool{
	events.TypeOf(&pb.NodeRegistered{}):   true,
	events.TypeOf(&pb.PlacementDecided{}): true,
	events.TypeOf(&pb.PlacementFailed{}):  true,
	events.TypeOf(&pb.ResizeApproved{}):   true,
	events.TypeOf(&pb.ResizeRejected{}):   true,
	events.TypeOf(&pb.CapacityReleased{}): true,
	events.TypeOf(&pb.NodeStateChanged{}): true,
	events.TypeOf(&pb.MoveAdmitted{}):     true,
	events.TypeOf(&pb.MoveSettled{}):      true,
}

// applyEvent applies one event of the node or placement stream to c, and
// names the volume when the event is part of its placement history. It is
// the one place where the log becomes the cluster: the live model and the
// models explain rebuilds both apply events through it.
func applyEvent(c *domain.Cluster, msg proto.Message) (volumeID string, err error) {
	switch e := msg.(type) {
	case *pb.NodeRegistered:
		return "", c.UpsertNode(NodeFromProto(e))
	case *pb.PlacementDecided:
		return e.GetVolumeId(), c.Reserve(e.GetVolumeId(), placementsFromProto(e.GetPlacements()), e.GetSizeBytes())
	case *pb.PlacementFailed:
		return e.GetVolumeId(), nil
	case *pb.ResizeApproved:
		return e.GetVolumeId(), c.Resize(e.GetVolumeId(), e.GetSizeBytes())
	case *pb.ResizeRejected:
		return e.GetVolumeId(), nil
	case *pb.CapacityReleased:
		c.Release(e.GetVolumeId())
		return e.GetVolumeId(), nil
	case *pb.MoveAdmitted:
		return e.GetVolumeId(), c.Reserve(e.GetVolumeId(), placementsFromProto(e.GetPlacements()), e.GetSizeBytes())
	case *pb.MoveSettled:
		if len(e.GetPlacements()) == 0 {
			c.Release(e.GetVolumeId())
			return e.GetVolumeId(), nil
		}
		return e.GetVolumeId(), c.Reserve(e.GetVolumeId(), placementsFromProto(e.GetPlacements()), e.GetSizeBytes())
	case *pb.NodeStateChanged:
		return "", c.SetNodeState(e.GetNodeId(), domain.NodeState(e.GetState()))
	}
	return "", nil
}
