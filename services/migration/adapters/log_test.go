package adapters_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"ballast.dev/platform/events"
	"ballast.dev/platform/natsconn"
	"ballast.dev/platform/natsserver/natstest"
	"ballast.dev/services/migration/adapters"
	"ballast.dev/services/migration/app"
)

func TestHeads(t *testing.T) {
	ctx := context.Background()
	conn, err := natsconn.Dial(ctx, natsconn.Options{URL: natstest.Start(t), Name: "test",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	log := adapters.Log{JS: conn.JS}

	heads, err := log.Heads(ctx)
	if err != nil || len(heads) != 0 {
		t.Fatalf("empty log: %v, %v", heads, err)
	}

	appendTo := func(id string, expected uint64, m proto.Message) uint64 {
		ev, err := events.Encode(fmt.Sprintf("%s@%d", id, expected), m)
		if err != nil {
			t.Fatal(err)
		}
		seq, err := conn.Store.Append(ctx, events.Migration.Subject(id), expected, ev)
		if err != nil {
			t.Fatal(err)
		}
		return seq
	}
	// More migrations than one batched get asks for, so batching is
	// exercised; m-000 gets a second event of another type.
	const n = 300
	var want []app.Head
	for i := range n {
		id := fmt.Sprintf("m-%03d", i)
		seq := appendTo(id, 0, wrapperspb.String("started"))
		want = append(want, app.Head{ID: id, Events: 1, LastSequence: seq, LastType: "google.protobuf.StringValue"})
	}
	seq := appendTo("m-000", want[0].LastSequence, wrapperspb.UInt64(1))
	want[0] = app.Head{ID: "m-000", Events: 2, LastSequence: seq, LastType: "google.protobuf.UInt64Value"}

	heads, err = log.Heads(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(heads, want) {
		t.Fatalf("heads differ: got %d, want %d; first %+v, want %+v", len(heads), len(want), heads[:1], want[:1])
	}
}
