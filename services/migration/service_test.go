package migration_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"ballast.dev/platform/command"
	"ballast.dev/platform/events"
	"ballast.dev/platform/natsconn"
	"ballast.dev/platform/natsserver/natstest"
	"ballast.dev/services/migration"
	"ballast.dev/services/migration/ports"
)

func dial(t *testing.T) *natsconn.Conn {
	t.Helper()
	conn, err := natsconn.Dial(context.Background(), natsconn.Options{URL: natstest.Start(t), Name: "test",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	return conn
}

func count(t *testing.T, conn *natsconn.Conn) uint64 {
	t.Helper()
	reply := &wrapperspb.UInt64Value{}
	if err := command.Request(context.Background(), conn.NC, ports.SubjectList, &emptypb.Empty{}, reply); err != nil {
		t.Fatal(err)
	}
	return reply.GetValue()
}

// appendPlaceholder appends an event the service does not know: the list
// reads histories generically, whatever their types.
func appendPlaceholder(t *testing.T, conn *natsconn.Conn, id string, expected uint64, n int) uint64 {
	t.Helper()
	ev, err := events.Encode(fmt.Sprintf("test/%s/%d", id, n), wrapperspb.String("placeholder"))
	if err != nil {
		t.Fatal(err)
	}
	seq, err := conn.Store.Append(context.Background(), events.Migration.Subject(id), expected, ev)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

func TestListCountsMigrationsInTheLog(t *testing.T) {
	conn := dial(t)
	svc, err := migration.Start(context.Background(), migration.Config{Conn: conn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })

	if n := count(t, conn); n != 0 {
		t.Fatalf("%d migrations in an empty log", n)
	}
	seq := appendPlaceholder(t, conn, "m1", 0, 1)
	if n := count(t, conn); n != 1 {
		t.Fatalf("%d migrations, want 1", n)
	}
	// A second event of the same migration is not a second migration.
	appendPlaceholder(t, conn, "m1", seq, 2)
	if n := count(t, conn); n != 1 {
		t.Fatalf("%d migrations after a second event of m1, want 1", n)
	}
	appendPlaceholder(t, conn, "m2", 0, 1)
	if n := count(t, conn); n != 2 {
		t.Fatalf("%d migrations, want 2", n)
	}

	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err = command.Request(ctx, conn.NC, ports.SubjectList, &emptypb.Empty{}, &wrapperspb.UInt64Value{})
	if !errors.Is(err, command.ErrUnavailable) {
		t.Fatalf("after Close: %v, want ErrUnavailable", err)
	}
}
