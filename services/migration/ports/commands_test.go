package ports_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"ballast.dev/platform/command"
	"ballast.dev/platform/natsserver/natstest"
	"ballast.dev/services/migration/app"
	"ballast.dev/services/migration/ports"
)

type brokenLog struct{}

func (brokenLog) Heads(context.Context) ([]app.Head, error) {
	return nil, errors.New("stream unreachable")
}

// A failed read must reach the caller as an error, never as a count of 0.
func TestListFailureIsAnError(t *testing.T) {
	nc := natstest.Connect(t, natstest.Start(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := command.NewServer(ctx, nc, "ballast-migration-test", "0.0.0", "test", log)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Stop() }()
	if err := ports.ServeCommands(srv, app.ListMigrationsHandler{Log: brokenLog{}}, log); err != nil {
		t.Fatal(err)
	}
	err = command.Request(context.Background(), nc, ports.SubjectList, &emptypb.Empty{}, &wrapperspb.UInt64Value{})
	if err == nil || !strings.Contains(err.Error(), "500") || !strings.Contains(err.Error(), "stream unreachable") {
		t.Fatalf("got %v, want a 500 naming the cause", err)
	}
}
