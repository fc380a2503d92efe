package adapters

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"google.golang.org/grpc/codes"

	"ballast.dev/platform/command"
	pb "ballast.dev/proto/ballast/v1"
	"ballast.dev/services/migration/app"
	"ballast.dev/services/migration/domain"
)

// Volumes sends a move's replica-set changes to the volume service. It
// implements app.Volumes. Request ids are the move's and the step's, so a
// change sent again (by a restarted engine) is applied once.
type Volumes struct{ NC *nats.Conn }

var _ app.Volumes = Volumes{}

func (v Volumes) send(ctx context.Context, m domain.Migration, step string, expected uint64, req *pb.ChangeReplicaSetRequest) error {
	req.RequestId = "migration:" + m.ID + ":" + step
	req.VolumeName, req.VolumeId, req.ExpectedGeneration, req.MigrationId = m.VolumeName, m.VolumeID, expected, m.ID
	reply := &pb.CommandReply{}
	if err := command.Request(ctx, v.NC, command.VolumeReplicas, req, reply); err != nil {
		return err
	}
	return refusal(reply.GetError())
}

// refusal makes a typed refusal an error: those no retry can change wrap
// app.ErrRefused.
func refusal(e *pb.CommandError) error {
	if e == nil {
		return nil
	}
	err := fmt.Errorf("%s: %s", codes.Code(e.GetCode()), e.GetMessage())
	switch codes.Code(e.GetCode()) {
	case codes.InvalidArgument, codes.NotFound, codes.AlreadyExists, codes.FailedPrecondition, codes.ResourceExhausted:
		return fmt.Errorf("%w: %w", app.ErrRefused, err)
	}
	return err
}

// Add implements app.Volumes.
func (v Volumes) Add(ctx context.Context, m domain.Migration) error {
	t := m.Target
	return v.send(ctx, m, "add", m.Generation, &pb.ChangeReplicaSetRequest{Change: &pb.ChangeReplicaSetRequest_Add{
		Add: &pb.AddReplica{ReplicaId: t.ReplicaID, NodeId: t.NodeID, DiskId: t.DiskID, Zone: t.Zone}}})
}

// Promote implements app.Volumes.
func (v Volumes) Promote(ctx context.Context, m domain.Migration) error {
	return v.send(ctx, m, "promote", m.Generation, &pb.ChangeReplicaSetRequest{Change: &pb.ChangeReplicaSetRequest_Promote{
		Promote: &pb.PromoteReplica{ReplicaId: m.Target.ReplicaID, RetiredReplicaId: m.Source.ReplicaID}}})
}

// Retire implements app.Volumes: whatever the set's generation, as a
// rollback must happen.
func (v Volumes) Retire(ctx context.Context, m domain.Migration, reason string) error {
	return v.send(ctx, m, "retire", 0, &pb.ChangeReplicaSetRequest{Change: &pb.ChangeReplicaSetRequest_Retire{
		Retire: &pb.RetireReplica{ReplicaId: m.Target.ReplicaID, Reason: "move " + m.ID + " rolled back: " + reason}}})
}

// Copier asks the target's agent to fill the target. It implements
// app.Copier.
type Copier struct{ NC *nats.Conn }

var _ app.Copier = Copier{}

// Copy implements app.Copier.
func (c Copier) Copy(ctx context.Context, m domain.Migration, rate uint64) error {
	req := &pb.CopyReplicaRequest{RequestId: "migration:" + m.ID + ":copy", MigrationId: m.ID, VolumeId: m.VolumeID, VolumeName: m.VolumeName,
		Target: refToProto(m.Target), From: refToProto(m.Source), Bytes: m.Bytes, BytesPerSecond: rate}
	if m.CopyFrom.NodeID != "" {
		req.From = refToProto(m.CopyFrom)
	}
	reply := &pb.CommandReply{}
	if err := command.Request(ctx, c.NC, command.AgentCopy(m.Target.NodeID), req, reply); err != nil {
		return err
	}
	return refusal(reply.GetError())
}
