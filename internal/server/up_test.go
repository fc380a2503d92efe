package server

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
	"ballast.dev/platform/natsconn"
	"ballast.dev/platform/tracing"
	pb "ballast.dev/proto/ballast/v1"
)

// TestOneCreateIsOneTraceAndOneCorrelation follows a create through every
// service: each event it causes, whoever appended it, carries the request's
// correlation id and the trace id of the call.
func TestOneCreateIsOneTraceAndOneCorrelation(t *testing.T) {
	shutdown := tracing.Setup()
	t.Cleanup(func() { _ = shutdown(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	r, err := Up(ctx, UpConfig{DataDir: t.TempDir(), GRPCAddr: "127.0.0.1:0", NATSAddr: "127.0.0.1:0", Nodes: 6, Zones: 3, Seed: 7, Overcommit: 1, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	cc, err := grpc.NewClient(r.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := pb.NewVolumeServiceClient(cc)
	created, err := client.CreateVolume(ctx, &pb.CreateVolumeRequest{Name: "traced", RequestId: "req-traced",
		Spec: &pb.VolumeSpec{Capacity: &pb.CapacityRange{RequiredBytes: 1 << 30}, Replicas: 3}})
	if err != nil {
		t.Fatal(err)
	}
	w, err := client.WatchVolume(ctx, &pb.WatchVolumeRequest{Name: "traced"})
	if err != nil {
		t.Fatal(err)
	}
	for {
		m, err := w.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if m.GetVolume().GetState() == pb.VolumeState_VOLUME_STATE_READY {
			break
		}
	}

	conn, err := natsconn.Dial(ctx, natsconn.Options{URL: r.NATSURL, Name: "test", Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var caused []eventstore.Record
	load := func(a events.Aggregate, id string) {
		recs, _, err := conn.Store.Load(ctx, a.Stream, a.Subject(id))
		if err != nil {
			t.Fatal(err)
		}
		caused = append(caused, recs...)
	}
	load(events.Volume, "traced")
	load(events.Placement, created.GetVolume().GetId())
	for _, n := range []string{"node-001", "node-002", "node-003", "node-004", "node-005", "node-006"} {
		recs, _, err := conn.Store.Load(ctx, events.Node.Stream, events.Node.Subject(n))
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			if strings.Contains(string(rec.Data), created.GetVolume().GetId()) {
				caused = append(caused, rec)
			}
		}
	}
	types := map[string]bool{}
	trace := tracing.TraceID(caused[0].Header)
	if trace == "" {
		t.Fatalf("VolumeRequested carries no trace context: %v", caused[0].Header)
	}
	for _, rec := range caused {
		types[strings.TrimPrefix(rec.Type, "ballast.v1.")] = true
		if rec.CorrelationID != "req-traced" {
			t.Errorf("%s on %s: correlation id %q, want the request id", rec.Type, rec.Subject, rec.CorrelationID)
		}
		if got := tracing.TraceID(rec.Header); got != trace {
			t.Errorf("%s on %s: trace %q, want %q", rec.Type, rec.Subject, got, trace)
		}
	}
	for _, want := range []string{"VolumeRequested", "PlacementDecided", "ReplicasAssigned", "ReplicaProvisioned", "ReplicaConfirmed", "VolumeReady"} {
		if !types[want] {
			t.Errorf("no %s among the events the create caused: %v", want, types)
		}
	}
}
