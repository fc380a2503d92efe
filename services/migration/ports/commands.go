// Package ports is how the world reaches the migration service: its
// commands and queries on NATS.
package ports

import (
	"context"
	"log/slog"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"ballast.dev/platform/command"
	"ballast.dev/services/migration/app"
)

// SubjectList lists migrations: an empty request, the number of migrations
// in the log as a UInt64Value. The contract has no migration messages yet;
// the reply grows into a list when it does.
const SubjectList = command.MigrationList

// ServeCommands registers the migration endpoints on srv.
func ServeCommands(srv *command.Server, list app.ListMigrationsHandler, log *slog.Logger) error {
	return command.Handle(srv, "list", SubjectList, func() *emptypb.Empty { return &emptypb.Empty{} },
		func(ctx context.Context, _ *emptypb.Empty) (proto.Message, error) {
			heads, err := list.Handle(ctx, app.ListMigrations{})
			if err != nil {
				log.Error("list migrations", "err", err)
				return nil, err
			}
			return wrapperspb.UInt64(uint64(len(heads))), nil
		})
}
