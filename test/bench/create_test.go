// Package bench measures Ballast end to end, in one process.
package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
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
	ctx, client, _ := up(b, 1000)
	names := volumeNames(b.N)
	latencies := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		began := time.Now()
		if err := createAndWait(ctx, client, names[i]); err != nil {
			b.Fatal(err)
		}
		latencies = append(latencies, time.Since(began))
	}
	b.StopTimer()
	report(b, latencies)
}

// BenchmarkConcurrentCreates is BenchmarkCreateToReady with 64 clients
// creating at once, each create timed from its call to READY; it reports the
// creates per second the whole system sustains. Goal: 1,000/s, p99 under
// 100 ms. BALLAST_BENCH_STAGES=1 also logs where the time goes, stage by
// stage, from the log.
//
//	go test -run '^$' -bench ConcurrentCreates -benchtime 10000x ./test/bench
func BenchmarkConcurrentCreates(b *testing.B) {
	const clients = 64
	ctx, client, natsURL := up(b, benchNodes())
	names := volumeNames(b.N)
	latencies := make([]time.Duration, b.N)
	calls := make([]time.Duration, b.N) // the CreateVolume call alone
	next := make(chan int, b.N)
	for i := range b.N {
		next <- i
	}
	close(next)
	errs := make(chan error, clients)
	b.ResetTimer()
	began := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for i := range next {
				t := time.Now()
				accepted, err := createAndWaitTimed(ctx, client, names[i])
				if err != nil {
					errs <- err
					return
				}
				latencies[i], calls[i] = time.Since(t), accepted.Sub(t)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(began)
	b.StopTimer()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	report(b, latencies)
	if stagesWanted() {
		logStages(b, natsURL)
	}
	slices.Sort(calls)
	b.ReportMetric(float64(calls[len(calls)*99/100].Microseconds())/1000, "call-p99-ms")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "creates/s")
}

// up runs Ballast in this process with a fleet of nodes simulated nodes and
// returns a client of its gateway and the address of its NATS.
func up(b *testing.B, nodes int) (context.Context, pb.VolumeServiceClient, string) {
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	r, err := server.Up(ctx, server.UpConfig{
		DataDir: b.TempDir(), GRPCAddr: "127.0.0.1:0", NATSAddr: "127.0.0.1:0",
		Nodes: nodes, Zones: 3, Seed: 1, Overcommit: 1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = r.Close() })
	conn, err := grpc.NewClient(r.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return ctx, pb.NewVolumeServiceClient(conn), r.NATSURL
}

// volumeNames are n distinct names as a CSI driver makes them, in random
// order: pvc-<uuid>.
func volumeNames(n int) []string {
	r := rand.New(rand.NewPCG(1, 2))
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("pvc-%08x-%04x-%04x-%04x", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xffff, i&0xffff)
	}
	return out
}

func report(b *testing.B, latencies []time.Duration) {
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(latencies[len(latencies)-1].Microseconds())/1000, "max-ms")
}

func createAndWait(ctx context.Context, c pb.VolumeServiceClient, name string) error {
	_, err := createAndWaitTimed(ctx, c, name)
	return err
}

// createAndWaitTimed creates the volume and watches it until READY; it
// returns when the CreateVolume call returned.
func createAndWaitTimed(ctx context.Context, c pb.VolumeServiceClient, name string) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := c.CreateVolume(ctx, &pb.CreateVolumeRequest{Name: name, Spec: &pb.VolumeSpec{
		Capacity: &pb.CapacityRange{RequiredBytes: 1 << 30}, Replicas: 3, Tier: pb.Tier_TIER_SSD, Spread: pb.Spread_SPREAD_ZONE,
	}})
	accepted := time.Now()
	if err != nil {
		return accepted, err
	}
	if resp.GetVolume().GetState() == pb.VolumeState_VOLUME_STATE_READY {
		return accepted, nil
	}
	w, err := c.WatchVolume(ctx, &pb.WatchVolumeRequest{Name: resp.GetVolume().GetId()})
	if err != nil {
		return accepted, err
	}
	for {
		m, err := w.Recv()
		if err != nil {
			return accepted, fmt.Errorf("watch %s: %w", name, err)
		}
		switch m.GetVolume().GetState() {
		case pb.VolumeState_VOLUME_STATE_READY:
			return accepted, nil
		case pb.VolumeState_VOLUME_STATE_FAILED:
			return accepted, fmt.Errorf("%s failed: %s", name, m.GetVolume().GetFailureReason())
		}
	}
}

// createAll creates every name with 64 clients at once, each waiting until
// its volume is ready and then calling then (if not nil), and returns the
// first error.
func createAll(ctx context.Context, c pb.VolumeServiceClient, names []string, then func(name string) error) error {
	next := make(chan string, len(names))
	for _, n := range names {
		next <- n
	}
	close(next)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Go(func() {
			for name := range next {
				err := createAndWait(ctx, c, name)
				if err == nil && then != nil {
					err = then(name)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// benchNodes is the fleet size, 1,000 unless BALLAST_BENCH_NODES says.
func benchNodes() int {
	if n, err := strconv.Atoi(os.Getenv("BALLAST_BENCH_NODES")); err == nil && n > 0 {
		return n
	}
	return 1000
}
