package snapshot_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"ballast.dev/platform/natsserver/natstest"
	"ballast.dev/platform/snapshot"
)

// lastSeqs is a log whose streams end where the map says.
type lastSeqs map[string]uint64

func (l lastSeqs) LastSequence(_ context.Context, stream string) (uint64, error) {
	return l[stream], nil
}

func TestLatestOnlyReturnsASnapshotTheReaderCanUse(t *testing.T) {
	nc := natstest.Connect(t, natstest.Start(t))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.CreateObjectStore(ctx, snapshot.BucketConfig(1)); err != nil {
		t.Fatal(err)
	}
	s := snapshot.NewStore(js)
	log := lastSeqs{"A": 10}
	if _, err := s.Latest(ctx, "m", "f1", log); !errors.Is(err, snapshot.ErrNone) {
		t.Fatalf("no snapshot yet: %v", err)
	}
	big := make([]byte, 3<<20) // more than one chunk of the bucket
	big[len(big)-1] = 7
	if err := s.Save(ctx, "m", snapshot.Snapshot{Format: "f1", Sequences: map[string]uint64{"A": 10}, Data: big}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Latest(ctx, "m", "f1", log)
	if err != nil || got.Sequences["A"] != 10 || len(got.Data) != len(big) || got.Data[len(big)-1] != 7 {
		t.Fatalf("latest: %v, %d bytes, covers %v", err, len(got.Data), got.Sequences)
	}
	if _, err := s.Latest(ctx, "m", "f2", log); err == nil || !strings.Contains(err.Error(), "format") {
		t.Fatalf("another format: %v", err)
	}
	// The log was recreated: the snapshot covers more than the stream holds.
	if _, err := s.Latest(ctx, "m", "f1", lastSeqs{"A": 3}); err == nil || !strings.Contains(err.Error(), "stream ends at 3") {
		t.Fatalf("snapshot ahead of its stream: %v", err)
	}
}
