package bench

import (
	"context"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"ballast.dev/ballast/internal/server"
	"ballast.dev/platform/natsserver"
	"ballast.dev/platform/snapshot"
	pb "ballast.dev/proto/ballast/v1"
)

// BenchmarkRestartAfterHistory builds a long history (BALLAST_BENCH_VOLUMES
// volumes, default 100,000, each created and deleted by 64 clients on 1,000
// simulated nodes), stops Ballast, and times `ballast up` to serving on the
// same data dir: from its snapshots, and again with the snapshots removed,
// replaying the whole log.
//
//	BALLAST_BENCH_VOLUMES=100000 go test -run '^$' -bench RestartAfterHistory -benchtime 1x -timeout 60m ./test/bench
func BenchmarkRestartAfterHistory(b *testing.B) {
	volumes := 100_000
	if v, err := strconv.Atoi(os.Getenv("BALLAST_BENCH_VOLUMES")); err == nil && v > 0 {
		volumes = v
	}
	dir := b.TempDir()
	cfg := server.UpConfig{
		DataDir: dir, GRPCAddr: "127.0.0.1:0", NATSAddr: "127.0.0.1:0",
		Nodes: 1000, Zones: 3, Seed: 1, Overcommit: 1,
		Logger: benchLogger(),
	}
	ctx := context.Background()
	r, err := server.Up(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	conn, err := grpc.NewClient(r.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	c := pb.NewVolumeServiceClient(conn)
	began := time.Now()
	err = createAll(ctx, c, volumeNames(volumes), func(name string) error {
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		_, err := c.DeleteVolume(dctx, &pb.DeleteVolumeRequest{Name: name})
		return err
	})
	if err != nil {
		dumpConsumers(b, r.NATSURL)
		if os.Getenv("BALLAST_BENCH_LOG") != "" {
			_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 2)
		}
		b.Fatal(err)
	}
	b.Logf("history: %d volumes created and deleted in %s", volumes, time.Since(began).Round(time.Second))
	conn.Close()
	if err := r.Close(); err != nil {
		b.Fatal(err)
	}

	b.ResetTimer()
	for range b.N {
		withSnapshots := restart(b, cfg)
		removeSnapshots(b, cfg)
		fromTheLog := restart(b, cfg)
		b.ReportMetric(withSnapshots.Seconds(), "s-with-snapshots")
		b.ReportMetric(fromTheLog.Seconds(), "s-from-the-log")
	}
}

// restart times Up to serving on the data dir, then stops it.
func restart(b *testing.B, cfg server.UpConfig) time.Duration {
	b.Helper()
	began := time.Now()
	r, err := server.Up(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	took := time.Since(began)
	if err := r.Close(); err != nil {
		b.Fatal(err)
	}
	return took
}

// removeSnapshots deletes every snapshot, so that the next start replays
// the whole log. Only the nats-server runs meanwhile: the models would write
// snapshots again as they stop.
func removeSnapshots(b *testing.B, cfg server.UpConfig) {
	b.Helper()
	ctx := context.Background()
	ns, err := natsserver.Start(ctx, natsserver.Config{Port: natsserver.RandomPort, StoreDir: cfg.DataDir, ServerName: "ballast"})
	if err != nil {
		b.Fatal(err)
	}
	defer ns.Shutdown()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	obs, err := js.ObjectStore(ctx, snapshot.Bucket)
	if err != nil {
		b.Fatal(err)
	}
	list, err := obs.List(ctx)
	if err != nil {
		b.Fatal(err)
	}
	for _, o := range list {
		if err := obs.Delete(ctx, o.Name); err != nil {
			b.Fatal(err)
		}
	}
}

// benchLogger is silent unless BALLAST_BENCH_LOG names a level.
func benchLogger() *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(os.Getenv("BALLAST_BENCH_LOG"))); err != nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// dumpConsumers logs where every durable consumer stands, to see which
// stage of the pipeline stopped.
func dumpConsumers(b *testing.B, url string) {
	nc, err := nats.Connect(url)
	if err != nil {
		b.Log(err)
		return
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	for name := range js.StreamNames(ctx).Name() {
		st, err := js.Stream(ctx, name)
		if err != nil {
			continue
		}
		for ci := range st.ListConsumers(ctx).Info() {
			b.Logf("%s/%s: delivered %d, ack floor %d, pending %d, ack pending %d, redelivered %d, waiting %d, ack wait %s, max ack pending %d",
				name, ci.Name, ci.Delivered.Stream, ci.AckFloor.Stream, ci.NumPending, ci.NumAckPending, ci.NumRedelivered, ci.NumWaiting, ci.Config.AckWait, ci.Config.MaxAckPending)
			if ci.NumAckPending > 0 {
				if m, err := st.GetMsg(ctx, ci.AckFloor.Stream+1); err == nil {
					b.Logf("  held: %d %s %s", m.Sequence, m.Subject, m.Header.Get("Ballast-Event-Type"))
				}
			}
		}
	}
}
