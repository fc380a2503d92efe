// Package ports is how the world reaches the migration service: its
// commands and queries on NATS.
package ports

import (
	"context"
	"log/slog"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/runtime/protoiface"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"ballast.dev/platform/command"
	"ballast.dev/services/migration/app"
)

// SubjectList lists migrations: an empty request, the number of migrations
// in the log as a UInt64Value. The contract has no migration messages yet;
// the reply grows into a list when it does.
const SubjectList = "ballast.cmd.migration.list"

// ServeCommands registers the migration endpoints on srv.
func ServeCommands(srv *command.Server, list app.ListMigrationsHandler, log *slog.Logger) error {
	return command.Handle(srv, "list", SubjectList, func() *emptypb.Empty { return &emptypb.Empty{} },
		func(ctx context.Context, _ *emptypb.Empty) proto.Message {
			heads, err := list.Handle(ctx, app.ListMigrations{})
			if err != nil {
				log.Error("list migrations", "err", err)
				return errorReply{err}
			}
			return wrapperspb.UInt64(uint64(len(heads)))
		})
}

// errorReply is a reply that refuses to be encoded with err. A count cannot
// carry an error, and command.Handle has no error return: it answers a reply
// that fails to encode with a micro error (code 500) carrying the encoding
// error, so the caller gets err instead of a count of 0 that is false.
type errorReply struct{ err error }

// ProtoReflect implements proto.Message.
func (e errorReply) ProtoReflect() protoreflect.Message {
	return failingMessage{Message: (&emptypb.Empty{}).ProtoReflect(), err: e.err}
}

type failingMessage struct {
	protoreflect.Message
	err error
}

func (f failingMessage) ProtoMethods() *protoiface.Methods {
	return &protoiface.Methods{
		Marshal: func(protoiface.MarshalInput) (protoiface.MarshalOutput, error) {
			return protoiface.MarshalOutput{}, f.err
		},
	}
}
