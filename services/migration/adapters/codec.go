package adapters

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "ballast.dev/proto/ballast/v1"
	"ballast.dev/services/migration/domain"
)

// Queue is the one admission queue.
const Queue = "default"

func refToProto(r domain.Ref) *pb.ReplicaRef {
	return &pb.ReplicaRef{ReplicaId: r.ReplicaID, NodeId: r.NodeID, DiskId: r.DiskID, Zone: r.Zone}
}

// RefFromProto reads a replica reference.
func RefFromProto(r *pb.ReplicaRef) domain.Ref {
	return domain.Ref{ReplicaID: r.GetReplicaId(), NodeID: r.GetNodeId(), DiskID: r.GetDiskId(), Zone: r.GetZone()}
}

func ts(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

// EventToProto encodes an event of move id.
func EventToProto(id string, e domain.Event) proto.Message {
	switch e := e.(type) {
	case domain.Requested:
		m := e.Migration
		return &pb.MigrationRequested{MigrationId: m.ID, VolumeId: m.VolumeID, VolumeName: m.VolumeName, Source: refToProto(m.Source),
			Target: refToProto(m.Target), Bytes: m.Bytes, Reason: m.Reason, Generation: m.Generation, SourceLost: m.SourceLost, CopyFrom: refToProto(m.CopyFrom), Kind: pb.MoveReason(m.Kind), OccurTime: ts(e.At)}
	case domain.Progressed:
		return &pb.MigrationProgressed{MigrationId: id, Step: pb.MigrationStep(e.Step), Generation: e.Generation, CopiedBytes: e.Copied, OccurTime: ts(e.At)}
	case domain.CutOver:
		return &pb.MigrationCutOver{MigrationId: id, Generation: e.Generation, OccurTime: ts(e.At)}
	case domain.Completed:
		return &pb.MigrationCompleted{MigrationId: id, OccurTime: ts(e.At)}
	case domain.Failed:
		return &pb.MigrationFailed{MigrationId: id, Step: pb.MigrationStep(e.Step), Reason: e.Reason, OccurTime: ts(e.At)}
	case domain.CancelRequested:
		return &pb.MigrationCancelRequested{MigrationId: id, Reason: e.Reason, OccurTime: ts(e.At)}
	case domain.RolledBack:
		return &pb.MigrationRolledBack{MigrationId: id, Reason: e.Reason, OccurTime: ts(e.At)}
	}
	panic(fmt.Sprintf("migration codec: no encoding for %T", e))
}

// errNotMigrationEvent: a message of the contract that is not a move's.
var errNotMigrationEvent = errors.New("not a migration event")

// EventFromProto decodes a stored event: the move it is of and the event.
func EventFromProto(m proto.Message) (string, domain.Event, error) {
	at := func(t *timestamppb.Timestamp) time.Time { return t.AsTime() }
	switch m := m.(type) {
	case *pb.MigrationRequested:
		return m.GetMigrationId(), domain.Requested{Migration: domain.Migration{
			ID: m.GetMigrationId(), VolumeID: m.GetVolumeId(), VolumeName: m.GetVolumeName(), Source: RefFromProto(m.GetSource()),
			Target: RefFromProto(m.GetTarget()), Bytes: m.GetBytes(), Reason: m.GetReason(), Generation: m.GetGeneration(), SourceLost: m.GetSourceLost(),
			CopyFrom: RefFromProto(m.GetCopyFrom()), Kind: domain.Kind(m.GetKind()),
		}, At: at(m.GetOccurTime())}, nil
	case *pb.MigrationStarted:
		return m.GetMigrationId(), domain.Started{At: at(m.GetOccurTime())}, nil
	case *pb.MigrationProgressed:
		return m.GetMigrationId(), domain.Progressed{Step: domain.Step(m.GetStep()), Generation: m.GetGeneration(), Copied: m.GetCopiedBytes(), At: at(m.GetOccurTime())}, nil
	case *pb.MigrationCutOver:
		return m.GetMigrationId(), domain.CutOver{Generation: m.GetGeneration(), At: at(m.GetOccurTime())}, nil
	case *pb.MigrationCompleted:
		return m.GetMigrationId(), domain.Completed{At: at(m.GetOccurTime())}, nil
	case *pb.MigrationFailed:
		return m.GetMigrationId(), domain.Failed{Step: domain.Step(m.GetStep()), Reason: m.GetReason(), At: at(m.GetOccurTime())}, nil
	case *pb.MigrationCancelRequested:
		return m.GetMigrationId(), domain.CancelRequested{Reason: m.GetReason(), At: at(m.GetOccurTime())}, nil
	case *pb.MigrationRolledBack:
		return m.GetMigrationId(), domain.RolledBack{Reason: m.GetReason(), At: at(m.GetOccurTime())}, nil
	}
	return "", nil, fmt.Errorf("%w: %T", errNotMigrationEvent, m)
}

// MigrationToProto renders a move for the API, with its copy's progress.
func MigrationToProto(m domain.Migration, version uint64, copied, rate uint64) *pb.Migration {
	out := &pb.Migration{
		Id: m.ID, VolumeId: m.VolumeID, VolumeName: m.VolumeName, Source: refToProto(m.Source), Target: refToProto(m.Target),
		Bytes: m.Bytes, Step: pb.MigrationStep(m.Step), CopiedBytes: max(m.Copied, copied), Reason: m.Reason, FailureReason: m.Failure,
		Generation: m.Generation, CreateTime: ts(m.Created), UpdateTime: ts(m.Updated), Version: version, CopyBytesPerSecond: rate,
		Kind: pb.MoveReason(m.Kind),
	}
	if m.Step == domain.StepCompleted {
		out.CopiedBytes = m.Bytes
	}
	return out
}
