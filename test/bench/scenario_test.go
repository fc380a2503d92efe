package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"ballast.dev/ballast/internal/server"
	pb "ballast.dev/proto/ballast/v1"
)

// BenchmarkScenario runs each `ballast up --scenario` in this process, as
// the command does (12 simulated nodes in 3 zones, the scenario's fast
// telemetry and passes), and measures what the issue asks of it:
//
//   - settled: seconds from the start of Ballast until it is balanced, that
//     is, no move is under way, every volume is whole, and a dry run plans
//     no move (it plans as the rebalancer's next pass would), twice in a
//     row a second apart, and not before 20 s after the scenario set
//     itself up (a failed node is down after 15 s, a hotspot shows after
//     two load windows);
//   - the time from the start until the last move was over;
//   - moves, and the bytes they copied;
//   - bound: the largest lower bound of bytes to copy that a dry run showed
//     while the scenario ran, sampled every half second (the bound is per
//     disk the bytes that must leave it: all of a drained or down node's,
//     those over the capacity ceiling, and those whose load takes it over
//     the band), and bytes/bound;
//   - undone: moves that took a replica of a volume back onto a node an
//     earlier move of that volume took one off (goal 0).
//
// Use -benchtime 1x; each run is one pass of every scenario.
// BALLAST_BENCH_SCENARIO runs one.
func BenchmarkScenario(b *testing.B) {
	for _, name := range server.Scenarios() {
		if only := os.Getenv("BALLAST_BENCH_SCENARIO"); only != "" && only != name {
			continue
		}
		b.Run(name, func(b *testing.B) {
			var last scenarioFigures
			for b.Loop() {
				last = runScenario(b, name)
			}
			b.ReportMetric(last.settled.Seconds(), "s-to-settled")
			b.ReportMetric(last.lastMove.Seconds(), "s-to-last-move")
			b.ReportMetric(float64(last.moves), "moves")
			b.ReportMetric(float64(last.bytes)/(1<<30), "GiB-moved")
			b.ReportMetric(float64(last.bound)/(1<<30), "GiB-bound")
			if last.bound > 0 {
				b.ReportMetric(float64(last.bytes)/float64(last.bound), "bytes/bound")
			}
			b.ReportMetric(float64(last.undone), "undone")
		})
	}
}

type scenarioFigures struct {
	settled      time.Duration
	lastMove     time.Duration // from the start until the last move was over
	moves        int
	bytes, bound uint64
	undone       int
}

func runScenario(b *testing.B, name string) scenarioFigures {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	began := time.Now()
	r, conn, stop := serve(ctx, b, server.ScenarioConfig(server.UpConfig{Nodes: 12, Zones: 3, Seed: 1}))
	defer stop()
	placement, migrations, volumes := pb.NewPlacementServiceClient(conn), pb.NewMigrationServiceClient(conn), pb.NewVolumeServiceClient(conn)

	var bound uint64
	sample := func() (*pb.PlanRebalanceResponse, error) {
		p, err := placement.PlanRebalance(ctx, &pb.PlanRebalanceRequest{})
		if err == nil {
			bound = max(bound, p.GetBytesLowerBound())
		}
		return p, err
	}
	// The bound is sampled while the scenario sets itself up too: a
	// drained or failed node's replicas may start to move at once.
	sampling, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for sampling.Err() == nil {
			_, _ = sample()
			select {
			case <-sampling.Done():
			case <-t.C:
			}
		}
	}()
	if err := server.RunScenario(ctx, name, r.GRPCAddr, r.NodeCount, io.Discard); err != nil {
		b.Fatalf("scenario %s: %v", name, err)
	}
	setUp := time.Now()

	var moves []*pb.Migration
	calm := 0
	for calm < 2 {
		select {
		case <-ctx.Done():
			b.Fatalf("scenario %s did not settle: %d moves so far", name, len(moves))
		case <-time.After(time.Second):
		}
		ms, err := migrations.ListMigrations(ctx, &pb.ListMigrationsRequest{})
		if err != nil {
			b.Fatal(err)
		}
		moves = ms.GetMigrations()
		p, err := sample()
		if err != nil {
			b.Fatal(err)
		}
		// Before the failed node is down, or the load windows show the
		// hot ones, there may be nothing to do yet.
		if time.Since(setUp) >= 20*time.Second && allOver(moves) && p.GetMoveCount() == 0 && allWhole(ctx, b, volumes) {
			calm++
		} else {
			calm = 0
		}
	}
	settled := time.Since(began) - time.Second // the second calm look only confirms the first
	stopSampling()
	<-sampled

	f := scenarioFigures{settled: settled, moves: len(moves), bound: bound}
	left := map[string][]string{} // volume: nodes moves took a replica off
	slices.SortFunc(moves, func(a, b *pb.Migration) int { return a.GetCreateTime().AsTime().Compare(b.GetCreateTime().AsTime()) })
	for _, m := range moves {
		if m.GetStep() == pb.MigrationStep_MIGRATION_STEP_COMPLETED {
			f.bytes += m.GetBytes()
		}
		f.lastMove = max(f.lastMove, m.GetUpdateTime().AsTime().Sub(began))
		v := m.GetVolumeName()
		if slices.Contains(left[v], m.GetTarget().GetNodeId()) {
			f.undone++
		}
		left[v] = append(left[v], m.GetSource().GetNodeId())
	}
	b.Logf("%s: settled in %s, the last move over at %s, %d moves, %s moved, bound %s, %d undone", name,
		settled.Round(100*time.Millisecond), f.lastMove.Round(100*time.Millisecond), f.moves,
		gib(f.bytes), gib(f.bound), f.undone)
	return f
}

func allOver(ms []*pb.Migration) bool {
	for _, m := range ms {
		switch m.GetStep() {
		case pb.MigrationStep_MIGRATION_STEP_COMPLETED, pb.MigrationStep_MIGRATION_STEP_ROLLED_BACK:
		default:
			return false
		}
	}
	return true
}

// allWhole tells whether every volume is ready with all its replicas.
func allWhole(ctx context.Context, b *testing.B, c pb.VolumeServiceClient) bool {
	resp, err := c.ListVolumes(ctx, &pb.ListVolumesRequest{PageSize: 1000})
	if err != nil {
		b.Fatal(err)
	}
	for _, v := range resp.GetVolumes() {
		if v.GetState() != pb.VolumeState_VOLUME_STATE_READY {
			return false
		}
	}
	return true
}

func gib(n uint64) string { return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30)) }

// serve runs Ballast in this process as cfg says, on a fresh data dir and
// free ports, logging nothing, and returns it with a connection to its
// gateway; stop closes both.
func serve(ctx context.Context, b *testing.B, cfg server.UpConfig) (_ *server.Running, _ *grpc.ClientConn, stop func()) {
	cfg.DataDir, cfg.GRPCAddr, cfg.NATSAddr = b.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
	cfg.Overcommit = max(cfg.Overcommit, 1)
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if path := os.Getenv("BALLAST_BENCH_LOG_FILE"); path != "" {
		// The cluster's log at info, to see why it did what it did (not
		// BALLAST_BENCH_LOG, which names a level for the restart bench).
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = f.Close() })
		cfg.Logger = slog.New(slog.NewTextHandler(f, nil))
	}
	r, err := server.Up(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	conn, err := grpc.NewClient(r.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		_ = r.Close()
		b.Fatal(err)
	}
	return r, conn, func() { conn.Close(); _ = r.Close() }
}
