package adapters

import (
	"context"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"ballast.dev/platform/command"
	"ballast.dev/platform/events"
	pb "ballast.dev/proto/ballast/v1"
	"ballast.dev/services/placement/app"
	"ballast.dev/services/placement/domain"
)

var _ app.MoveJournal = Journal{}

func replicaPlacement(r app.Replica) *pb.ReplicaPlacement {
	return &pb.ReplicaPlacement{ReplicaId: r.ID, NodeId: r.NodeID, DiskId: r.DiskID, Zone: r.Zone}
}

func placementsToProto(ps []domain.Placement) []*pb.ReplicaPlacement {
	out := make([]*pb.ReplicaPlacement, len(ps))
	for i, p := range ps {
		out[i] = &pb.ReplicaPlacement{NodeId: p.NodeID, DiskId: p.DiskID, Zone: p.Zone}
	}
	return out
}

func replicaFromProto(p *pb.ReplicaPlacement) app.Replica {
	return app.Replica{ID: p.GetReplicaId(), Placement: domain.Placement{NodeID: p.GetNodeId(), DiskID: p.GetDiskId(), Zone: p.GetZone()}}
}

// Admission implements app.MoveJournal: a volume's placement history is
// its decision and its moves, a few events.
func (j Journal) Admission(ctx context.Context, volumeID, migrationID string) (app.Move, bool, error) {
	recs, _, err := j.Store.Load(ctx, events.Placement.Stream, events.Placement.Subject(volumeID))
	if err != nil {
		return app.Move{}, false, err
	}
	for _, rec := range recs {
		if rec.Type != events.TypeOf(&pb.MoveAdmitted{}) {
			continue
		}
		m, err := events.Read(rec.Subject, rec.Type, rec.Data)
		if err != nil {
			continue
		}
		if a := m.(*pb.MoveAdmitted); a.GetMigrationId() == migrationID {
			return moveFromProto(a).Move, true, nil
		}
	}
	return app.Move{}, false, nil
}

// Admitted implements app.MoveJournal.
func (j Journal) Admitted(ctx context.Context, cause string, expected uint64, m app.Move) (uint64, error) {
	return j.append(ctx, cause, m.VolumeID, expected, admittedEvent(m, now()))
}

// admittedEvent is the record of a move: the move, and what its target was
// chosen on with how the alternatives fared, a few KB at any fleet size.
func admittedEvent(m app.Move, at *timestamppb.Timestamp) *pb.MoveAdmitted {
	return &pb.MoveAdmitted{VolumeId: m.VolumeID, VolumeName: m.VolumeName, MigrationId: m.MigrationID,
		Source: replicaPlacement(m.Source), Target: replicaPlacement(m.Target), SizeBytes: m.SizeBytes, Placements: placementsToProto(m.Placements),
		Reason: m.Reason, OccurTime: at, Summary: SummaryToProto(m.Basis, m.Summary), ToNode: m.ToNode, Kind: MoveKindToProto(m.Kind), Gain: m.Gain}
}

// moveFromProto reads a move's record, of either generation: with what its
// target was chosen on, or without (the kind then read from its reason).
func moveFromProto(a *pb.MoveAdmitted) app.RecordedMove {
	m := app.RecordedMove{Move: app.Move{MigrationID: a.GetMigrationId(), VolumeID: a.GetVolumeId(), VolumeName: a.GetVolumeName(),
		Source: replicaFromProto(a.GetSource()), Target: replicaFromProto(a.GetTarget()), SizeBytes: a.GetSizeBytes(),
		Placements: placementsFromProto(a.GetPlacements()), Reason: a.GetReason(), Kind: MoveKindFromProto(a.GetKind()),
		Gain: a.GetGain(), ToNode: a.GetToNode()}, Time: occurred(a.GetOccurTime())}
	if m.Kind == app.MoveUnspecified {
		m.Kind = kindOfReason(a.GetReason())
	}
	if s := a.GetSummary(); s != nil {
		m.Summarized = true
		m.Basis, m.Summary = summaryFromProto(m.VolumeID, s)
		m.Summary.Placements = []domain.Placement{m.Target.Placement}
	}
	return m
}

// kindOfReason reads the kind of a move admitted before kinds were
// recorded from the words its admitters used then.
func kindOfReason(reason string) app.MoveKind {
	switch {
	case reason == "rebalance (balance)":
		return app.MoveBalance
	case reason == "rebalance (capacity)":
		return app.MoveCapacity
	case strings.HasPrefix(reason, "drain of "):
		return app.MoveDrain
	case strings.HasPrefix(reason, "re-created: node "):
		return app.MoveNodeDown
	case reason == "moved by an operator":
		return app.MoveOperator
	}
	return app.MoveUnspecified
}

// moveKinds pairs the kinds of moves with the contract's.
var moveKinds = map[app.MoveKind]pb.MoveReason{
	app.MoveBalance:  pb.MoveReason_MOVE_REASON_BALANCE,
	app.MoveHotspot:  pb.MoveReason_MOVE_REASON_HOTSPOT,
	app.MoveCapacity: pb.MoveReason_MOVE_REASON_CAPACITY,
	app.MoveDrain:    pb.MoveReason_MOVE_REASON_DRAIN,
	app.MoveNodeDown: pb.MoveReason_MOVE_REASON_NODE_DOWN,
	app.MoveOperator: pb.MoveReason_MOVE_REASON_OPERATOR,
}

// MoveKindToProto maps a kind of move.
func MoveKindToProto(k app.MoveKind) pb.MoveReason { return moveKinds[k] }

// MoveKindFromProto is the inverse of MoveKindToProto.
func MoveKindFromProto(r pb.MoveReason) app.MoveKind {
	for k, v := range moveKinds {
		if v == r {
			return k
		}
	}
	return app.MoveUnspecified
}

// Settled implements app.MoveJournal.
func (j Journal) Settled(ctx context.Context, cause string, expected uint64, m app.Move, completed bool, released app.Replica, after []domain.Placement) (uint64, error) {
	return j.append(ctx, cause, m.VolumeID, expected, &pb.MoveSettled{VolumeId: m.VolumeID, VolumeName: m.VolumeName, MigrationId: m.MigrationID,
		Completed: completed, Released: replicaPlacement(released), SizeBytes: m.SizeBytes, Placements: placementsToProto(after), OccurTime: now()})
}

// Migrations asks the migration service to carry moves out. It implements
// app.Migrations; what it returns is the service's reply.
type Migrations struct{ NC *nats.Conn }

var _ app.Migrations = Migrations{}

// Request implements app.Migrations.
func (ms Migrations) Request(ctx context.Context, m app.Move) (any, error) {
	ref := func(r app.Replica) *pb.ReplicaRef {
		return &pb.ReplicaRef{ReplicaId: r.ID, NodeId: r.NodeID, DiskId: r.DiskID, Zone: r.Zone}
	}
	req := &pb.RequestMigrationRequest{RequestId: "placement:" + m.MigrationID, MigrationId: m.MigrationID, VolumeId: m.VolumeID, VolumeName: m.VolumeName,
		Source: ref(m.Source), Target: ref(m.Target), Bytes: m.SizeBytes, Reason: m.Reason, Generation: m.Generation, SourceLost: m.SourceLost,
		Kind: MoveKindToProto(m.Kind)}
	if m.CopyFrom.NodeID != "" {
		req.CopyFrom = ref(m.CopyFrom)
	}
	reply := &pb.MigrationReply{}
	if err := command.Request(ctx, ms.NC, command.MigrationRequest, req, reply); err != nil {
		return nil, fmt.Errorf("ask the migration service for move %s: %w", m.MigrationID, err)
	}
	if e := reply.GetError(); e != nil {
		return nil, fmt.Errorf("the migration service refused move %s: %s: %s: %w", m.MigrationID, codes.Code(e.GetCode()), e.GetMessage(), app.ErrMoveRefused)
	}
	return reply, nil
}

// Requested finds a move as the migration service recorded its request:
// the first event of its history.
func (j Journal) Requested(ctx context.Context, migrationID string) (app.Move, bool, error) {
	recs, _, err := j.Store.Load(ctx, events.Migration.Stream, events.Migration.Subject(migrationID))
	if err != nil || len(recs) == 0 {
		return app.Move{}, false, err
	}
	m, err := events.Read(recs[0].Subject, recs[0].Type, recs[0].Data)
	if err != nil {
		return app.Move{}, false, nil
	}
	r, ok := m.(*pb.MigrationRequested)
	if !ok {
		return app.Move{}, false, nil
	}
	ref := func(p *pb.ReplicaRef) app.Replica {
		return app.Replica{ID: p.GetReplicaId(), Placement: domain.Placement{NodeID: p.GetNodeId(), DiskID: p.GetDiskId(), Zone: p.GetZone()}}
	}
	return app.Move{MigrationID: migrationID, VolumeID: r.GetVolumeId(), VolumeName: r.GetVolumeName(), Source: ref(r.GetSource()),
		Target: ref(r.GetTarget()), SizeBytes: r.GetBytes(), Reason: r.GetReason()}, true, nil
}

// Volumes tells the volume service what placement found of replicas. It
// implements app.Volumes.
type Volumes struct{ NC *nats.Conn }

var _ app.Volumes = Volumes{}

// Lose implements app.Volumes: the replica can no longer serve.
func (v Volumes) Lose(ctx context.Context, volumeID, volumeName, replicaID, reason string) error {
	req := &pb.ChangeReplicaSetRequest{RequestId: "lose:" + replicaID, VolumeName: volumeName, VolumeId: volumeID,
		Change: &pb.ChangeReplicaSetRequest_Lose{Lose: &pb.LoseReplica{ReplicaId: replicaID, Reason: reason}}}
	reply := &pb.CommandReply{}
	if err := command.Request(ctx, v.NC, command.VolumeReplicas, req, reply); err != nil {
		return err
	}
	if e := reply.GetError(); e != nil {
		return fmt.Errorf("volume %s: replica %s not recorded lost: %s: %s", volumeName, replicaID, codes.Code(e.GetCode()), e.GetMessage())
	}
	return nil
}
