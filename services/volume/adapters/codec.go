// Package adapters connects the Volume aggregate to the world: its history
// on the event store, and the contract's protobuf messages.
package adapters

import (
	"errors"
	"fmt"
	"time"
	"unique"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "ballast.dev/proto/ballast/v1"
	"ballast.dev/services/volume/domain"
)

// SpecFromProto reads a spec from the API. An unspecified tier is ssd and an
// unspecified spread is zone; anything out of range stays invalid so that
// validation names the field.
func SpecFromProto(s *pb.VolumeSpec) domain.Spec {
	spec := domain.Spec{
		Capacity: CapacityFromProto(s.GetCapacity()),
		Replicas: int(s.GetReplicas()),
		Tier:     domain.TierSSD,
		Spread:   domain.SpreadZone,
		Labels:   s.GetLabels(),
	}
	switch t := s.GetTier(); t {
	case pb.Tier_TIER_UNSPECIFIED:
	case pb.Tier_TIER_NVME:
		spec.Tier = domain.TierNVMe
	case pb.Tier_TIER_SSD:
		spec.Tier = domain.TierSSD
	case pb.Tier_TIER_HDD:
		spec.Tier = domain.TierHDD
	default:
		spec.Tier = domain.Tier(-1)
	}
	switch sp := s.GetSpread(); sp {
	case pb.Spread_SPREAD_UNSPECIFIED:
	case pb.Spread_SPREAD_NODE:
		spec.Spread = domain.SpreadNode
	case pb.Spread_SPREAD_ZONE:
		spec.Spread = domain.SpreadZone
	default:
		spec.Spread = domain.Spread(-1)
	}
	if len(spec.Labels) == 0 {
		spec.Labels = nil
	}
	return spec
}

// CapacityFromProto reads a capacity range.
func CapacityFromProto(c *pb.CapacityRange) domain.CapacityRange {
	return domain.CapacityRange{RequiredBytes: c.GetRequiredBytes(), LimitBytes: c.GetLimitBytes()}
}

// capacityToProto writes a capacity range; an empty one is left out.
func capacityToProto(c domain.CapacityRange) *pb.CapacityRange {
	if c == (domain.CapacityRange{}) {
		return nil
	}
	return &pb.CapacityRange{RequiredBytes: c.RequiredBytes, LimitBytes: c.LimitBytes}
}

// SpecToProto writes a spec for the contract.
func SpecToProto(s domain.Spec) *pb.VolumeSpec {
	return &pb.VolumeSpec{
		Capacity: &pb.CapacityRange{RequiredBytes: s.Capacity.RequiredBytes, LimitBytes: s.Capacity.LimitBytes},
		Replicas: uint32(s.Replicas),
		Tier:     TierToProto(s.Tier),
		Spread:   SpreadToProto(s.Spread),
		Labels:   s.Labels,
	}
}

// TierToProto maps a tier.
func TierToProto(t domain.Tier) pb.Tier {
	switch t {
	case domain.TierNVMe:
		return pb.Tier_TIER_NVME
	case domain.TierSSD:
		return pb.Tier_TIER_SSD
	case domain.TierHDD:
		return pb.Tier_TIER_HDD
	}
	return pb.Tier_TIER_UNSPECIFIED
}

// SpreadToProto maps a spread level.
func SpreadToProto(s domain.Spread) pb.Spread {
	switch s {
	case domain.SpreadNode:
		return pb.Spread_SPREAD_NODE
	case domain.SpreadZone:
		return pb.Spread_SPREAD_ZONE
	}
	return pb.Spread_SPREAD_UNSPECIFIED
}

// FailureCode is the API status code of a failed volume.
func FailureCode(k domain.FailureKind) codes.Code {
	switch k {
	case domain.FailureNoCapacity:
		return codes.ResourceExhausted
	case domain.FailureProvisioning:
		return codes.Internal
	}
	return codes.Unknown
}

func failureKind(code int32) domain.FailureKind {
	if codes.Code(code) == codes.ResourceExhausted {
		return domain.FailureNoCapacity
	}
	return domain.FailureProvisioning
}

var replicaStates = map[domain.ReplicaState]pb.ReplicaState{
	domain.ReplicaStatePending:  pb.ReplicaState_REPLICA_STATE_PENDING,
	domain.ReplicaStateReady:    pb.ReplicaState_REPLICA_STATE_READY,
	domain.ReplicaStateFailed:   pb.ReplicaState_REPLICA_STATE_FAILED,
	domain.ReplicaStateRemoving: pb.ReplicaState_REPLICA_STATE_REMOVING,
	domain.ReplicaStateRemoved:  pb.ReplicaState_REPLICA_STATE_REMOVED,
}

var volumeStates = map[domain.State]pb.VolumeState{
	domain.StateCreating: pb.VolumeState_VOLUME_STATE_CREATING,
	domain.StateReady:    pb.VolumeState_VOLUME_STATE_READY,
	domain.StateFailed:   pb.VolumeState_VOLUME_STATE_FAILED,
	domain.StateDeleting: pb.VolumeState_VOLUME_STATE_DELETING,
	domain.StateDeleted:  pb.VolumeState_VOLUME_STATE_DELETED,
	domain.StateDegraded: pb.VolumeState_VOLUME_STATE_DEGRADED,
}

var replicaRoles = map[domain.Role]pb.ReplicaRole{
	domain.RoleHealthy:    pb.ReplicaRole_REPLICA_ROLE_HEALTHY,
	domain.RoleRebuilding: pb.ReplicaRole_REPLICA_ROLE_REBUILDING,
	domain.RoleLeaving:    pb.ReplicaRole_REPLICA_ROLE_LEAVING,
	domain.RoleLost:       pb.ReplicaRole_REPLICA_ROLE_LOST,
}

func roleFromProto(r pb.ReplicaRole) domain.Role {
	for d, p := range replicaRoles {
		if p == r {
			return d
		}
	}
	return domain.RoleUnspecified
}

func replicasToProto(rs []domain.Replica) []*pb.Replica {
	out := make([]*pb.Replica, len(rs))
	for i, r := range rs {
		out[i] = replicaToProto(r)
	}
	return out
}

func replicaToProto(r domain.Replica) *pb.Replica {
	return &pb.Replica{Id: r.ID, NodeId: r.NodeID, DiskId: r.DiskID, Zone: r.Zone, State: replicaStates[r.State], FailureReason: r.FailureReason,
		SizeBytes: r.SizeBytes, Role: replicaRoles[r.Role]}
}

func replicasFromProto(rs []*pb.Replica) []domain.Replica {
	out := make([]domain.Replica, len(rs))
	for i, r := range rs {
		out[i] = replicaFromProto(r)
	}
	return out
}

func replicaFromProto(r *pb.Replica) domain.Replica {
	// Node, disk and zone names are few and every replica names them: one
	// copy of each is kept, however many volumes are cached.
	return domain.Replica{ID: r.GetId(), NodeID: unique.Make(r.GetNodeId()).Value(), DiskID: unique.Make(r.GetDiskId()).Value(),
		Zone: unique.Make(r.GetZone()).Value(), FailureReason: r.GetFailureReason(), SizeBytes: r.GetSizeBytes(), Role: roleFromProto(r.GetRole())}
}

// VolumeToProto renders a volume for the API; version is the stream
// sequence of its last event.
func VolumeToProto(v *domain.Volume, version uint64) *pb.Volume {
	out := &pb.Volume{
		Id:                  v.ID(),
		Name:                v.Name(),
		Spec:                SpecToProto(v.Spec()),
		SizeBytes:           v.SizeBytes(),
		State:               volumeStates[v.State()],
		Replicas:            replicasToProto(v.Replicas()),
		Generation:          v.Generation(),
		ResizingToBytes:     v.ResizingTo(),
		ResizeFailureReason: v.ResizeFailure(),
		CreateTime:          timestamppb.New(v.CreatedAt()),
		UpdateTime:          timestamppb.New(v.UpdatedAt()),
		Version:             version,
	}
	if kind, reason := v.Failure(); v.State() == domain.StateFailed {
		out.FailureCode, out.FailureReason = int32(FailureCode(kind)), reason
	}
	return out
}

// FieldsToProto renders a volume's recorded state, as a repair stores it.
func FieldsToProto(f domain.Fields) *pb.Volume {
	return VolumeToProto(domain.Restore(f), 0)
}

// FieldsFromProto reads a volume's recorded state; it is VolumeToProto's
// inverse.
func FieldsFromProto(v *pb.Volume) domain.Fields {
	f := domain.Fields{
		ID: v.GetId(), Name: v.GetName(), Spec: SpecFromProto(v.GetSpec()), SizeBytes: v.GetSizeBytes(), Generation: v.GetGeneration(),
		ResizingTo: v.GetResizingToBytes(), ResizeFailure: v.GetResizeFailureReason(),
		Created: v.GetCreateTime().AsTime(), Updated: v.GetUpdateTime().AsTime(),
	}
	for s, ps := range volumeStates {
		if ps == v.GetState() {
			f.State = s
		}
	}
	if f.State == domain.StateFailed {
		f.Failure, f.FailureReason = failureKind(v.GetFailureCode()), v.GetFailureReason()
	}
	f.Replicas = replicasFromProto(v.GetReplicas())
	for i, r := range v.GetReplicas() {
		for s, ps := range replicaStates {
			if ps == r.GetState() {
				f.Replicas[i].State = s
			}
		}
	}
	return f
}

// EventToProto encodes a domain event of volume v (the volume as it was
// before the event, or after: only its id and name are used).
func EventToProto(id, name string, e domain.Event) proto.Message {
	switch e := e.(type) {
	case domain.Requested:
		return &pb.VolumeRequested{VolumeId: e.ID, VolumeName: e.Name, Spec: SpecToProto(e.Spec), SizeBytes: e.SizeBytes, OccurTime: ts(e.At)}
	case domain.ReplicasAssigned:
		return &pb.ReplicasAssigned{VolumeId: id, VolumeName: name, SizeBytes: e.SizeBytes, Replicas: replicasToProto(e.Replicas), OccurTime: ts(e.At)}
	case domain.ReplicaConfirmed:
		return &pb.ReplicaConfirmed{VolumeId: id, VolumeName: name, ReplicaId: e.ReplicaID, NodeId: e.NodeID, OccurTime: ts(e.At)}
	case domain.ReplicaFailed:
		return &pb.ReplicaFailed{VolumeId: id, VolumeName: name, ReplicaId: e.ReplicaID, NodeId: e.NodeID, Reason: e.Reason, OccurTime: ts(e.At)}
	case domain.Ready:
		return &pb.VolumeReady{VolumeId: id, VolumeName: name, ReplicaId: e.ReplicaID, NodeId: e.NodeID, OccurTime: ts(e.At)}
	case domain.Failed:
		return &pb.VolumeFailed{VolumeId: id, VolumeName: name, Code: int32(FailureCode(e.Kind)), Reason: e.Reason, OccurTime: ts(e.At)}
	case domain.ResizeRequested:
		return &pb.VolumeResizeRequested{VolumeId: id, VolumeName: name, SizeBytes: e.SizeBytes, Capacity: capacityToProto(e.Capacity), OccurTime: ts(e.At)}
	case domain.ResizeApproved:
		return &pb.VolumeResizeApproved{VolumeId: id, VolumeName: name, SizeBytes: e.SizeBytes, OccurTime: ts(e.At)}
	case domain.ReplicaGrown:
		return &pb.ReplicaGrown{VolumeId: id, VolumeName: name, ReplicaId: e.ReplicaID, NodeId: e.NodeID, SizeBytes: e.SizeBytes, OccurTime: ts(e.At)}
	case domain.Resized:
		return &pb.VolumeResized{VolumeId: id, VolumeName: name, SizeBytes: e.SizeBytes, Capacity: capacityToProto(e.Capacity), ReplicaId: e.ReplicaID, NodeId: e.NodeID, OccurTime: ts(e.At)}
	case domain.ResizeFailed:
		return &pb.VolumeResizeFailed{VolumeId: id, VolumeName: name, SizeBytes: e.SizeBytes, Reason: e.Reason, OccurTime: ts(e.At)}
	case domain.DeleteRequested:
		return &pb.VolumeDeleteRequested{VolumeId: id, VolumeName: name, Replicas: replicasToProto(e.Replicas), OccurTime: ts(e.At)}
	case domain.ReplicaRemoved:
		return &pb.ReplicaRemoved{VolumeId: id, VolumeName: name, ReplicaId: e.ReplicaID, NodeId: e.NodeID, OccurTime: ts(e.At)}
	case domain.Deleted:
		return &pb.VolumeDeleted{VolumeId: id, VolumeName: name, ReplicaId: e.ReplicaID, NodeId: e.NodeID, OccurTime: ts(e.At)}
	case domain.ReplicaAdded:
		return &pb.ReplicaAdded{VolumeId: id, VolumeName: name, Replica: replicaToProto(e.Replica), Generation: e.Generation, MigrationId: e.MigrationID, OccurTime: ts(e.At)}
	case domain.ReplicaPromoted:
		return &pb.ReplicaPromoted{VolumeId: id, VolumeName: name, ReplicaId: e.ReplicaID, NodeId: e.NodeID, RetiredReplicaId: e.RetiredID, RetiredNodeId: e.RetiredNodeID,
			Generation: e.Generation, MigrationId: e.MigrationID, OccurTime: ts(e.At)}
	case domain.ReplicaRetired:
		return &pb.ReplicaRetired{VolumeId: id, VolumeName: name, ReplicaId: e.ReplicaID, NodeId: e.NodeID, Reason: e.Reason,
			Generation: e.Generation, MigrationId: e.MigrationID, OccurTime: ts(e.At)}
	case domain.ReplicaLost:
		return &pb.ReplicaLost{VolumeId: id, VolumeName: name, ReplicaId: e.ReplicaID, NodeId: e.NodeID, Reason: e.Reason, Generation: e.Generation, OccurTime: ts(e.At)}
	case domain.Repaired:
		return &pb.VolumeRepaired{VolumeId: e.Volume.ID, VolumeName: name, Volume: FieldsToProto(e.Volume), SkippedSequences: e.Skipped, OccurTime: ts(e.At)}
	}
	panic(fmt.Sprintf("volume codec: no encoding for %T", e))
}

// EventFromProto decodes a stored volume event.
func EventFromProto(m proto.Message) (domain.Event, error) {
	switch m := m.(type) {
	case *pb.VolumeRequested:
		return domain.Requested{ID: m.GetVolumeId(), Name: m.GetVolumeName(), Spec: SpecFromProto(m.GetSpec()), SizeBytes: m.GetSizeBytes(), At: at(m.GetOccurTime())}, nil
	case *pb.ReplicasAssigned:
		return domain.ReplicasAssigned{SizeBytes: m.GetSizeBytes(), Replicas: replicasFromProto(m.GetReplicas()), At: at(m.GetOccurTime())}, nil
	case *pb.ReplicaConfirmed:
		return domain.ReplicaConfirmed{ReplicaID: m.GetReplicaId(), NodeID: m.GetNodeId(), At: at(m.GetOccurTime())}, nil
	case *pb.ReplicaFailed:
		return domain.ReplicaFailed{ReplicaID: m.GetReplicaId(), NodeID: m.GetNodeId(), Reason: m.GetReason(), At: at(m.GetOccurTime())}, nil
	case *pb.VolumeReady:
		return domain.Ready{ReplicaID: m.GetReplicaId(), NodeID: m.GetNodeId(), At: at(m.GetOccurTime())}, nil
	case *pb.VolumeFailed:
		return domain.Failed{Kind: failureKind(m.GetCode()), Reason: m.GetReason(), At: at(m.GetOccurTime())}, nil
	case *pb.VolumeResizeRequested:
		return domain.ResizeRequested{SizeBytes: m.GetSizeBytes(), Capacity: CapacityFromProto(m.GetCapacity()), At: at(m.GetOccurTime())}, nil
	case *pb.VolumeResizeApproved:
		return domain.ResizeApproved{SizeBytes: m.GetSizeBytes(), At: at(m.GetOccurTime())}, nil
	case *pb.ReplicaGrown:
		return domain.ReplicaGrown{ReplicaID: m.GetReplicaId(), NodeID: m.GetNodeId(), SizeBytes: m.GetSizeBytes(), At: at(m.GetOccurTime())}, nil
	case *pb.VolumeResized:
		return domain.Resized{SizeBytes: m.GetSizeBytes(), Capacity: CapacityFromProto(m.GetCapacity()), ReplicaID: m.GetReplicaId(), NodeID: m.GetNodeId(), At: at(m.GetOccurTime())}, nil
	case *pb.VolumeResizeFailed:
		return domain.ResizeFailed{SizeBytes: m.GetSizeBytes(), Reason: m.GetReason(), At: at(m.GetOccurTime())}, nil
	case *pb.VolumeDeleteRequested:
		return domain.DeleteRequested{Replicas: replicasFromProto(m.GetReplicas()), At: at(m.GetOccurTime())}, nil
	case *pb.ReplicaRemoved:
		return domain.ReplicaRemoved{ReplicaID: m.GetReplicaId(), NodeID: m.GetNodeId(), At: at(m.GetOccurTime())}, nil
	case *pb.VolumeDeleted:
		return domain.Deleted{ReplicaID: m.GetReplicaId(), NodeID: m.GetNodeId(), At: at(m.GetOccurTime())}, nil
	case *pb.ReplicaAdded:
		return domain.ReplicaAdded{Replica: replicaFromProto(m.GetReplica()), Generation: m.GetGeneration(), MigrationID: m.GetMigrationId(), At: at(m.GetOccurTime())}, nil
	case *pb.ReplicaPromoted:
		return domain.ReplicaPromoted{ReplicaID: m.GetReplicaId(), NodeID: m.GetNodeId(), RetiredID: m.GetRetiredReplicaId(), RetiredNodeID: m.GetRetiredNodeId(), Generation: m.GetGeneration(),
			MigrationID: m.GetMigrationId(), At: at(m.GetOccurTime())}, nil
	case *pb.ReplicaRetired:
		return domain.ReplicaRetired{ReplicaID: m.GetReplicaId(), NodeID: m.GetNodeId(), Reason: m.GetReason(), Generation: m.GetGeneration(),
			MigrationID: m.GetMigrationId(), At: at(m.GetOccurTime())}, nil
	case *pb.ReplicaLost:
		return domain.ReplicaLost{ReplicaID: m.GetReplicaId(), NodeID: m.GetNodeId(), Reason: m.GetReason(), Generation: m.GetGeneration(), At: at(m.GetOccurTime())}, nil
	case *pb.VolumeRepaired:
		return domain.Repaired{Volume: FieldsFromProto(m.GetVolume()), Skipped: m.GetSkippedSequences(), At: at(m.GetOccurTime())}, nil
	}
	return nil, fmt.Errorf("%w: %T", errNotVolumeEvent, m)
}

// errNotVolumeEvent: a message of the contract that is not a volume event,
// as when another service's event lands on a volume's subject.
var errNotVolumeEvent = errors.New("not a volume event")

func ts(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

func at(t *timestamppb.Timestamp) time.Time { return t.AsTime() }
