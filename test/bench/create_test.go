// Package bench measures Ballast end to end, in one process.
package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"ballast.dev/ballast/internal/server"
	pb "ballast.dev/proto/ballast/v1"
)

// BenchmarkCreateToReady measures how long a volume takes from the
// CreateVolume call to the moment the gateway reports it READY, with every
// service and 1,000 simulated nodes in one process. Creates run one after
// another, so each latency is the whole pipeline: command, placement over
// 1,000 nodes, provisioning by three agents, and the read model.
//
//	go test -run '^$' -bench CreateToReady -benchtime 10000x ./test/bench
func BenchmarkCreateToReady(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := server.Up(ctx, server.UpConfig{
		DataDir: b.TempDir(), GRPCAddr: "127.0.0.1:0", NATSAddr: "127.0.0.1:0",
		Nodes: 1000, Zones: 3, Seed: 1, Overcommit: 1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	conn, err := grpc.NewClient(r.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	client := pb.NewVolumeServiceClient(conn)

	latencies := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		began := time.Now()
		if err := createAndWait(ctx, client, fmt.Sprintf("bench-%06d", i)); err != nil {
			b.Fatal(err)
		}
		latencies = append(latencies, time.Since(began))
	}
	b.StopTimer()
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(latencies[len(latencies)-1].Microseconds())/1000, "max-ms")
}

func createAndWait(ctx context.Context, c pb.VolumeServiceClient, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := c.CreateVolume(ctx, &pb.CreateVolumeRequest{Name: name, Spec: &pb.VolumeSpec{
		Capacity: &pb.CapacityRange{RequiredBytes: 1 << 30}, Replicas: 3, Tier: pb.Tier_TIER_SSD, Spread: pb.Spread_SPREAD_ZONE,
	}})
	if err != nil {
		return err
	}
	if resp.GetVolume().GetState() == pb.VolumeState_VOLUME_STATE_READY {
		return nil
	}
	w, err := c.WatchVolume(ctx, &pb.WatchVolumeRequest{Name: resp.GetVolume().GetId()})
	if err != nil {
		return err
	}
	for {
		m, err := w.Recv()
		if err != nil {
			return fmt.Errorf("watch %s: %w", name, err)
		}
		switch m.GetVolume().GetState() {
		case pb.VolumeState_VOLUME_STATE_READY:
			return nil
		case pb.VolumeState_VOLUME_STATE_FAILED:
			return fmt.Errorf("%s failed: %s", name, m.GetVolume().GetFailureReason())
		}
	}
}
