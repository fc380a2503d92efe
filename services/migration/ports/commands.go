// Package ports is how the world reaches the migration service: its
// commands on NATS, and the volume's and the agents' events that confirm a
// move's steps.
package ports

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"ballast.dev/platform/command"
	pb "ballast.dev/proto/ballast/v1"
	"ballast.dev/services/migration/adapters"
	"ballast.dev/services/migration/app"
	"ballast.dev/services/migration/domain"
)

// ServeCommands registers the migration endpoints on srv.
func ServeCommands(srv *command.Server, cmds app.Commands, state *app.State, log *slog.Logger) error {
	view := func(m domain.Migration) *pb.Migration {
		_, seq, _ := state.Get(m.ID)
		p, _ := state.Progress(m.ID)
		return adapters.MigrationToProto(m, seq, p.Copied, p.Rate)
	}
	reply := func(ctx context.Context, m domain.Migration, err error) (proto.Message, error) {
		if err != nil {
			return &pb.MigrationReply{Error: commandError(ctx, log, err)}, nil
		}
		return &pb.MigrationReply{Migration: view(m)}, nil
	}
	if err := command.Handle(srv, "request", command.MigrationRequest, func() *pb.RequestMigrationRequest { return &pb.RequestMigrationRequest{} },
		func(ctx context.Context, req *pb.RequestMigrationRequest) (proto.Message, error) {
			if err := command.CheckRequestID(req.GetRequestId()); err != nil {
				return &pb.MigrationReply{Error: &pb.CommandError{Code: int32(codes.InvalidArgument), Message: "request_id: " + err.Error(), Field: "request_id"}}, nil
			}
			m, err := cmds.Request(ctx, req.GetRequestId(), domain.Migration{
				ID: req.GetMigrationId(), VolumeID: req.GetVolumeId(), VolumeName: req.GetVolumeName(),
				Source: adapters.RefFromProto(req.GetSource()), Target: adapters.RefFromProto(req.GetTarget()),
				Bytes: req.GetBytes(), Reason: req.GetReason(), Generation: req.GetGeneration(), SourceLost: req.GetSourceLost(),
				CopyFrom: adapters.RefFromProto(req.GetCopyFrom()), Kind: domain.Kind(req.GetKind()),
			})
			return reply(ctx, m, err)
		}); err != nil {
		return err
	}
	if err := command.Handle(srv, "cancel", command.MigrationCancel, func() *pb.CancelMigrationRequest { return &pb.CancelMigrationRequest{} },
		func(ctx context.Context, req *pb.CancelMigrationRequest) (proto.Message, error) {
			if err := command.CheckRequestID(req.GetRequestId()); err != nil {
				return &pb.MigrationReply{Error: &pb.CommandError{Code: int32(codes.InvalidArgument), Message: "request_id: " + err.Error(), Field: "request_id"}}, nil
			}
			m, err := cmds.Cancel(ctx, req.GetRequestId(), req.GetId(), req.GetReason())
			return reply(ctx, m, err)
		}); err != nil {
		return err
	}
	if err := command.Handle(srv, "get", command.MigrationGet, func() *pb.GetMigrationRequest { return &pb.GetMigrationRequest{} },
		func(ctx context.Context, req *pb.GetMigrationRequest) (proto.Message, error) {
			m, _, ok := state.Get(req.GetId())
			if !ok {
				return reply(ctx, m, fmt.Errorf("migration %q %w", req.GetId(), domain.ErrNotFound))
			}
			return reply(ctx, m, nil)
		}); err != nil {
		return err
	}
	return command.Handle(srv, "all", command.MigrationAll, func() *pb.ListMigrationsRequest { return &pb.ListMigrationsRequest{} },
		func(ctx context.Context, req *pb.ListMigrationsRequest) (proto.Message, error) {
			out := &pb.ListMigrationsResponse{}
			for _, m := range state.All() {
				if req.GetActiveOnly() && m.Step.Terminal() {
					continue
				}
				out.Migrations = append(out.Migrations, view(m))
			}
			return out, nil
		})
}

// commandError maps a refusal to its API code: the one place where the
// migration service's errors become codes.
func commandError(ctx context.Context, log *slog.Logger, err error) *pb.CommandError {
	code := codes.Internal
	switch {
	case errors.Is(err, domain.ErrInvalidArgument):
		code = codes.InvalidArgument
	case errors.Is(err, domain.ErrNotFound):
		code = codes.NotFound
	case errors.Is(err, domain.ErrFailedPrecondition):
		code = codes.FailedPrecondition
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	default:
		log.ErrorContext(ctx, "migration command failed", "err", err)
	}
	return &pb.CommandError{Code: int32(code), Message: err.Error()}
}
