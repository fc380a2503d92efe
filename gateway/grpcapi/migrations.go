package grpcapi

import (
	"context"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"ballast.dev/platform/command"
	"ballast.dev/platform/eventstore"
	ballastv1 "ballast.dev/proto/ballast/v1"
)

// MigrationService serves ballast.v1.MigrationService.
type MigrationService struct {
	ballastv1.UnimplementedMigrationServiceServer
	cfg Config
}

// watchEvery is how often WatchMigration looks at a move for a change.
const watchEvery = 250 * time.Millisecond

// MoveReplica resolves the volume and its replica on from_node through the
// read model and asks placement to move it.
func (s *MigrationService) MoveReplica(ctx context.Context, req *ballastv1.MoveReplicaRequest) (*ballastv1.MoveReplicaResponse, error) {
	if err := required("volume", req.GetVolume()); err != nil {
		return nil, s.status(err)
	}
	if err := required("from_node", req.GetFromNode()); err != nil {
		return nil, s.status(err)
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	v, err := lookup(ctx, s.cfg, req.GetVolume())
	if err != nil {
		return nil, s.status(err)
	}
	var src *ballastv1.Replica
	for _, r := range v.GetReplicas() {
		if r.GetNodeId() == req.GetFromNode() && r.GetRole() != ballastv1.ReplicaRole_REPLICA_ROLE_LEAVING {
			src = r
		}
	}
	if src == nil {
		return nil, s.status(badField("from_node", "volume "+v.GetName()+" has no replica on node "+req.GetFromNode()))
	}
	requestID := req.GetRequestId()
	if requestID == "" {
		requestID = uuid.NewString()
	}
	if err := command.CheckRequestID(requestID); err != nil {
		return nil, s.status(badField("request_id", err.Error()))
	}
	ctx = eventstore.WithCorrelationID(ctx, requestID)
	cmd := &ballastv1.MoveReplicaCommand{RequestId: requestID, VolumeId: v.GetId(), VolumeName: v.GetName(),
		Source: &ballastv1.ReplicaRef{ReplicaId: src.GetId(), NodeId: src.GetNodeId(), DiskId: src.GetDiskId(), Zone: src.GetZone()},
		ToNode: req.GetToNode(), Tier: v.GetSpec().GetTier(), Spread: v.GetSpec().GetSpread(), Generation: v.GetGeneration(),
		Reason: "moved by an operator"}
	reply := &ballastv1.MigrationReply{}
	if err := command.Request(ctx, s.cfg.NC, command.PlacementMove, cmd, reply); err != nil {
		return nil, s.status(err)
	}
	if reply.GetError() != nil {
		return nil, s.status(newCommandError(reply.GetError()))
	}
	return &ballastv1.MoveReplicaResponse{Migration: reply.GetMigration()}, nil
}

// ListMigrations lists moves, oldest first.
func (s *MigrationService) ListMigrations(ctx context.Context, req *ballastv1.ListMigrationsRequest) (*ballastv1.ListMigrationsResponse, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	reply := &ballastv1.ListMigrationsResponse{}
	if err := command.Request(ctx, s.cfg.NC, command.MigrationAll, req, reply); err != nil {
		return nil, s.status(err)
	}
	return reply, nil
}

// GetMigration returns one move.
func (s *MigrationService) GetMigration(ctx context.Context, req *ballastv1.GetMigrationRequest) (*ballastv1.GetMigrationResponse, error) {
	if err := required("id", req.GetId()); err != nil {
		return nil, s.status(err)
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	m, err := s.get(ctx, req.GetId())
	if err != nil {
		return nil, s.status(err)
	}
	return &ballastv1.GetMigrationResponse{Migration: m}, nil
}

func (s *MigrationService) get(ctx context.Context, id string) (*ballastv1.Migration, error) {
	reply := &ballastv1.MigrationReply{}
	if err := command.Request(ctx, s.cfg.NC, command.MigrationGet, &ballastv1.GetMigrationRequest{Id: id}, reply); err != nil {
		return nil, err
	}
	if reply.GetError() != nil {
		return nil, newCommandError(reply.GetError())
	}
	return reply.GetMigration(), nil
}

// CancelMigration rolls a move back, if it has not cut over.
func (s *MigrationService) CancelMigration(ctx context.Context, req *ballastv1.CancelMigrationRequest) (*ballastv1.CancelMigrationResponse, error) {
	if err := required("id", req.GetId()); err != nil {
		return nil, s.status(err)
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	req = proto.CloneOf(req)
	if req.RequestId == "" {
		req.RequestId = uuid.NewString()
	}
	if err := command.CheckRequestID(req.GetRequestId()); err != nil {
		return nil, s.status(badField("request_id", err.Error()))
	}
	reply := &ballastv1.MigrationReply{}
	if err := command.Request(ctx, s.cfg.NC, command.MigrationCancel, req, reply); err != nil {
		return nil, s.status(err)
	}
	if reply.GetError() != nil {
		return nil, s.status(newCommandError(reply.GetError()))
	}
	return &ballastv1.CancelMigrationResponse{Migration: reply.GetMigration()}, nil
}

// WatchMigration streams a move each time it changes (its step, or its
// copy's progress) until it is over.
func (s *MigrationService) WatchMigration(req *ballastv1.WatchMigrationRequest, stream ballastv1.MigrationService_WatchMigrationServer) error {
	if err := required("id", req.GetId()); err != nil {
		return s.status(err)
	}
	ctx := stream.Context()
	t := time.NewTicker(watchEvery)
	defer t.Stop()
	var last *ballastv1.Migration
	for {
		cctx, cancel := withDefaultTimeout(ctx)
		m, err := s.get(cctx, req.GetId())
		cancel()
		if err != nil {
			return s.status(err)
		}
		if last == nil || m.GetVersion() != last.GetVersion() || m.GetCopiedBytes() != last.GetCopiedBytes() {
			if err := stream.Send(&ballastv1.WatchMigrationResponse{Migration: m}); err != nil {
				return err
			}
			last = m
		}
		if migrationOver(m) {
			return nil
		}
		select {
		case <-ctx.Done():
			return s.status(ctx.Err())
		case <-s.cfg.Done:
			return s.status(errShuttingDown)
		case <-t.C:
		}
	}
}

func (s *MigrationService) status(err error) error { return toStatus(s.cfg.Logger, err) }

// WatchMigrations streams every move as it changes, until the caller ends
// the stream.
func (s *MigrationService) WatchMigrations(req *ballastv1.WatchMigrationsRequest, stream ballastv1.MigrationService_WatchMigrationsServer) error {
	ctx := stream.Context()
	t := time.NewTicker(watchEvery)
	defer t.Stop()
	sent := map[string]*ballastv1.Migration{}
	for {
		cctx, cancel := withDefaultTimeout(ctx)
		reply := &ballastv1.ListMigrationsResponse{}
		err := command.Request(cctx, s.cfg.NC, command.MigrationAll, &ballastv1.ListMigrationsRequest{}, reply)
		cancel()
		if err != nil {
			return s.status(err)
		}
		for _, m := range reply.GetMigrations() {
			last, seen := sent[m.GetId()]
			over := migrationOver(m)
			switch {
			case seen && last.GetVersion() == m.GetVersion() && last.GetCopiedBytes() == m.GetCopiedBytes():
				continue
			case !seen && over && req.GetActiveOnly():
				continue
			}
			if err := stream.Send(&ballastv1.WatchMigrationsResponse{Migration: m}); err != nil {
				return err
			}
			sent[m.GetId()] = m
		}
		select {
		case <-ctx.Done():
			return s.status(ctx.Err())
		case <-s.cfg.Done:
			return s.status(errShuttingDown)
		case <-t.C:
		}
	}
}

func migrationOver(m *ballastv1.Migration) bool {
	st := m.GetStep()
	return st == ballastv1.MigrationStep_MIGRATION_STEP_COMPLETED || st == ballastv1.MigrationStep_MIGRATION_STEP_ROLLED_BACK
}
