package ports

import (
	"context"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"ballast.dev/platform/command"
	pb "ballast.dev/proto/ballast/v1"
	"ballast.dev/services/volume/adapters"
	"ballast.dev/services/volume/app"
	"ballast.dev/services/volume/domain"
)

// ServeCommands registers the volume commands on srv.
func ServeCommands(srv *command.Server, cmds app.Commands, log *slog.Logger) error {
	// Every outcome is a reply: refusals are typed, in the reply's error.
	reply := func(ctx context.Context, s app.Snapshot, err error) (proto.Message, error) {
		out := &pb.CommandReply{Sequence: s.Sequence, Error: commandError(ctx, log, err)}
		if err == nil && s.Volume != nil {
			out.Volume = adapters.VolumeToProto(s.Volume, s.Sequence)
		}
		return out, nil
	}
	if err := command.Handle(srv, "create", command.VolumeCreate, func() *pb.CreateVolumeRequest { return &pb.CreateVolumeRequest{} },
		func(ctx context.Context, req *pb.CreateVolumeRequest) (proto.Message, error) {
			if bad := checkRequestID(req.GetRequestId()); bad != nil {
				return bad, nil
			}
			s, err := cmds.Create(ctx, app.CreateVolume{RequestID: req.GetRequestId(), Name: req.GetName(), Spec: adapters.SpecFromProto(req.GetSpec())})
			return reply(ctx, s, err)
		}); err != nil {
		return err
	}
	if err := command.Handle(srv, "resize", command.VolumeResize, func() *pb.ResizeVolumeRequest { return &pb.ResizeVolumeRequest{} },
		func(ctx context.Context, req *pb.ResizeVolumeRequest) (proto.Message, error) {
			if bad := checkRequestID(req.GetRequestId()); bad != nil {
				return bad, nil
			}
			c := req.GetCapacity()
			s, err := cmds.Resize(ctx, app.ResizeVolume{RequestID: req.GetRequestId(), Name: req.GetName(),
				Capacity: adapters.CapacityFromProto(c)})
			return reply(ctx, s, err)
		}); err != nil {
		return err
	}
	if err := command.Handle(srv, "delete", command.VolumeDelete, func() *pb.DeleteVolumeRequest { return &pb.DeleteVolumeRequest{} },
		func(ctx context.Context, req *pb.DeleteVolumeRequest) (proto.Message, error) {
			if bad := checkRequestID(req.GetRequestId()); bad != nil {
				return bad, nil
			}
			s, err := cmds.Delete(ctx, app.DeleteVolume{RequestID: req.GetRequestId(), Name: req.GetName()})
			return reply(ctx, s, err)
		}); err != nil {
		return err
	}
	if err := command.Handle(srv, "replicas", command.VolumeReplicas, func() *pb.ChangeReplicaSetRequest { return &pb.ChangeReplicaSetRequest{} },
		func(ctx context.Context, req *pb.ChangeReplicaSetRequest) (proto.Message, error) {
			if bad := checkRequestID(req.GetRequestId()); bad != nil {
				return bad, nil
			}
			s, err := cmds.ChangeReplicas(ctx, changeFromProto(req))
			return reply(ctx, s, err)
		}); err != nil {
		return err
	}
	return command.Handle(srv, "repair", command.VolumeRepair, func() *pb.RepairVolumeRequest { return &pb.RepairVolumeRequest{} },
		func(ctx context.Context, req *pb.RepairVolumeRequest) (proto.Message, error) {
			if bad := checkRequestID(req.GetRequestId()); bad != nil {
				return bad, nil
			}
			s, skipped, err := cmds.Repair(ctx, app.RepairVolume{RequestID: req.GetRequestId(), Name: req.GetName()})
			out, _ := reply(ctx, s, err)
			out.(*pb.CommandReply).SkippedSequences = skipped
			return out, nil
		})
}

// checkRequestID refuses a command whose request id the command protocol
// does not allow: the cause of every change it makes, and so the ids of its
// events and the memory of what was applied, are built from it. An empty one
// would make unrelated commands look like resends of each other.
func checkRequestID(id string) *pb.CommandReply {
	if err := command.CheckRequestID(id); err != nil {
		return &pb.CommandReply{Error: &pb.CommandError{Code: int32(codes.InvalidArgument), Message: "request_id: " + err.Error(), Field: "request_id"}}
	}
	return nil
}

func changeFromProto(req *pb.ChangeReplicaSetRequest) app.ChangeReplicaSet {
	c := app.ChangeReplicaSet{RequestID: req.GetRequestId(), Name: req.GetVolumeName(), VolumeID: req.GetVolumeId(),
		Expected: req.GetExpectedGeneration(), MigrationID: req.GetMigrationId()}
	switch ch := req.GetChange().(type) {
	case *pb.ChangeReplicaSetRequest_Add:
		a := ch.Add
		c.Add = &domain.Replica{ID: a.GetReplicaId(), NodeID: a.GetNodeId(), DiskID: a.GetDiskId(), Zone: a.GetZone()}
	case *pb.ChangeReplicaSetRequest_Promote:
		c.Promote = &app.Promotion{ReplicaID: ch.Promote.GetReplicaId(), RetiredID: ch.Promote.GetRetiredReplicaId()}
	case *pb.ChangeReplicaSetRequest_Retire:
		c.Retire = &app.Removal{ReplicaID: ch.Retire.GetReplicaId(), Reason: ch.Retire.GetReason()}
	case *pb.ChangeReplicaSetRequest_Lose:
		c.Lose = &app.Removal{ReplicaID: ch.Lose.GetReplicaId(), Reason: ch.Lose.GetReason()}
	}
	return c
}
