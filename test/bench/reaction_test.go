package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dustin/go-humanize"

	"ballast.dev/ballast/internal/server"
	"ballast.dev/platform/waitfor"
	pb "ballast.dev/proto/ballast/v1"
	migrationdomain "ballast.dev/services/migration/domain"
)

// BenchmarkHotspotReaction measures how fast Ballast reacts to a hotspot:
// from a hotspot injected in the simulator to the first move off the hot
// node started, in telemetry intervals, with 1,000 simulated nodes (10
// zones) reporting every second, load windows of a second, and 4,000
// volumes of 3 replicas. The periodic pass is at 10 minutes, so only the
// hotspot can start the pass that moves. Each sample takes a random node
// (seeded; BALLAST_BENCH_SEED repeats them) that holds replicas and is 20%
// to 70% busy, makes its replicas busy enough to saturate it for a minute,
// and waits up to 30 s for a migration off it to start (admitted by the
// throttles, past queued), as WatchMigrations shows them; a sample that
// waits in vain counts as 30 s.
// BALLAST_BENCH_SAMPLES sets the samples (default 60), BALLAST_BENCH_NODES
// the fleet, BALLAST_BENCH_MOVE_BANDWIDTH the moves' shared copy bandwidth
// (default the migration service's, 8 GiB/s; e.g. 1GiB). Use -benchtime 1x.
func BenchmarkHotspotReaction(b *testing.B) {
	nodes, samples := 1000, 60
	if n, err := strconv.Atoi(os.Getenv("BALLAST_BENCH_NODES")); err == nil && n > 0 {
		nodes = n
	}
	if n, err := strconv.Atoi(os.Getenv("BALLAST_BENCH_SAMPLES")); err == nil && n > 0 {
		samples = n
	}
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("BALLAST_BENCH_SEED"), 10, 64); err == nil {
		seed = s
	}
	b.Logf("seed %d (BALLAST_BENCH_SEED)", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	const interval = time.Second

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := server.UpConfig{Nodes: nodes, Zones: 10, Seed: int64(seed % (1 << 31)),
		TelemetryInterval: interval, LoadInterval: interval, RebalanceEvery: 10 * time.Minute}
	if bw := os.Getenv("BALLAST_BENCH_MOVE_BANDWIDTH"); bw != "" {
		n, err := humanize.ParseBytes(bw)
		if err != nil {
			b.Fatalf("BALLAST_BENCH_MOVE_BANDWIDTH=%q: %v", bw, err)
		}
		cfg.Moves = migrationdomain.DefaultLimits
		cfg.Moves.BandwidthBps = n
		b.Logf("moves share %s/s", humanize.IBytes(n))
	}
	_, conn, stop := serve(ctx, b, cfg)
	defer stop()
	vols, sim, migs := pb.NewVolumeServiceClient(conn), pb.NewSimServiceClient(conn), pb.NewMigrationServiceClient(conn)

	var names []string
	for range 4000 {
		names = append(names, fmt.Sprintf("vol-%016x", rng.Uint64()))
	}
	if err := createAll(ctx, vols, names, nil); err != nil {
		b.Fatal(err)
	}
	held := map[string]bool{}
	for _, n := range names {
		v, err := vols.GetVolume(ctx, &pb.GetVolumeRequest{Name: n})
		if err != nil {
			b.Fatal(err)
		}
		for _, rep := range v.GetVolume().GetReplicas() {
			held[rep.GetNodeId()] = true
		}
	}

	// When each move was first seen started (admitted by the throttles,
	// past queued), by source node; and when first seen at all.
	var (
		mu        sync.Mutex
		moved     = map[string][]time.Time{}
		requested = map[string][]time.Time{}
		seen      = map[string]bool{}
		started   = map[string]bool{}
		steps     = map[string]map[string]pb.MigrationStep{} // source node → move → its last step
		change    = make(chan struct{})                      // closed and replaced at each move started
	)
	watch, err := migs.WatchMigrations(ctx, &pb.WatchMigrationsRequest{})
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		for {
			resp, err := watch.Recv()
			if err != nil {
				return
			}
			m := resp.GetMigration()
			src := m.GetSource().GetNodeId()
			mu.Lock()
			if steps[src] == nil {
				steps[src] = map[string]pb.MigrationStep{}
			}
			steps[src][m.GetId()] = m.GetStep()
			if !seen[m.GetId()] {
				seen[m.GetId()] = true
				requested[src] = append(requested[src], time.Now())
			}
			if !started[m.GetId()] && m.GetStep() != pb.MigrationStep_MIGRATION_STEP_QUEUED {
				started[m.GetId()] = true
				moved[src] = append(moved[src], time.Now())
				close(change)
				change = make(chan struct{})
			}
			mu.Unlock()
		}
	}()
	// movedOff waits until a move off node shows after since, or until
	// deadline.
	movedOff := func(node string, since, deadline time.Time) (time.Time, bool) {
		timeout := time.NewTimer(time.Until(deadline))
		defer timeout.Stop()
		for {
			mu.Lock()
			for _, at := range moved[node] {
				if at.After(since) {
					mu.Unlock()
					return at, true
				}
			}
			next := change
			mu.Unlock()
			select {
			case <-next:
			case <-timeout.C:
				return time.Time{}, false
			}
		}
	}
	// Telemetry flowing: every node's load summarized at least once.
	nodesClient := pb.NewNodeServiceClient(conn)
	util := map[string]float64{}
	waitfor.Condition(b, time.Minute, "a load summary of every node", func() bool {
		loaded, total := 0, 0
		for token := ""; ; {
			resp, err := nodesClient.ListNodes(ctx, &pb.ListNodesRequest{PageSize: 1000, PageToken: token})
			if err != nil {
				b.Fatal(err)
			}
			for _, n := range resp.GetNodes() {
				total++
				if n.GetLoad() != nil {
					loaded++
					util[n.GetId()] = n.GetLoad().GetUtilization()
				}
			}
			if token = resp.GetNextPageToken(); token == "" {
				break
			}
		}
		return total >= nodes && loaded == total
	})
	// Nodes busy enough that a few times their load crosses the bar (85%
	// for two windows): a replica made fifty times as busy has no disk to
	// go to within the band, and a hotspot of one is not what this asks.
	var candidates []string
	for n := range held {
		if u := util[n]; u >= 0.2 && u < 0.7 {
			candidates = append(candidates, n)
		}
	}
	slices.Sort(candidates)
	b.Logf("%d nodes hold replicas and are 20%% to 70%% busy", len(candidates))

	// relievable tells, from a dry run as the rebalancer plans, whether a
	// move can bring node under the bar a hotspot clears at: one replica
	// busier than any disk could take is a hotspot no move relieves.
	placement := pb.NewPlacementServiceClient(conn)
	relievable := func(node string) bool {
		plan, err := placement.PlanRebalance(ctx, &pb.PlanRebalanceRequest{MaxMoves: 1 << 30})
		if err != nil {
			b.Fatal(err)
		}
		for _, mv := range plan.GetMoves() {
			if mv.GetFromNode() == node && mv.GetFromDiskUtilizationAfter() < 0.70 {
				return true
			}
		}
		return false
	}

	// Each sample's story goes to stderr as it happens: the benchmark's own
	// log keeps only so much, and the figures come last.
	note := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "reaction: "+format+"\n", args...) }
	b.ResetTimer()
	var reactions, asked, relieved []time.Duration
	misses, hopeless := 0, 0
	for i := 0; i < samples && len(candidates) > 0; i++ {
		k := rng.IntN(len(candidates))
		node := candidates[k]
		candidates = slices.Delete(candidates, k, k+1)
		injected := time.Now()
		factor := min(1.2/util[node], 6) // to 120% of what it can bear: saturated
		if _, err := sim.InjectHotspot(ctx, &pb.InjectHotspotRequest{Node: node, Factor: factor, Seconds: 60}); err != nil {
			b.Fatal(err)
		}
		// Whether a move can relieve it, judged once the hotspot is in
		// (detection takes two to three intervals) and before moves off it
		// change the answer.
		canRelieve := make(chan bool, 1)
		go func() {
			// A fixed point after the injection, not a wait on a condition:
			// the answer is what the planner finds then.
			select {
			case <-time.After(time.Until(injected.Add(4 * interval))):
			case <-ctx.Done():
				canRelieve <- false
				return
			}
			mu.Lock()
			asked := slices.ContainsFunc(requested[node], func(at time.Time) bool { return at.After(injected) })
			mu.Unlock()
			// A move asked for already is one the planner found.
			canRelieve <- asked || relievable(node)
		}()
		took := 30 * time.Second
		if at, ok := movedOff(node, injected, injected.Add(took)); ok {
			took = at.Sub(injected)
		} else {
			misses++
			mu.Lock()
			byStep := map[string]int{}
			for _, st := range steps[node] {
				byStep[strings.TrimPrefix(st.String(), "MIGRATION_STEP_")]++
			}
			note("no move off %s (%.0f%% busy, made %.1f times as busy) started in %s; moves off it before, by step: %v", node, 100*util[node], factor, took, byStep)
			mu.Unlock()
		}
		reactions = append(reactions, took)
		switch {
		case !<-canRelieve:
			hopeless++
			note("%s: no move in a plan 4 s after the hotspot leaves it under 70%% busy (it %s)", node, map[bool]string{true: "moved in " + took.Round(10*time.Millisecond).String(), false: "did not move"}[took < 30*time.Second])
		case took > 3*interval:
			note("%s: relievable, first move started after %s", node, took.Round(10*time.Millisecond))
			fallthrough
		default:
			relieved = append(relieved, took)
		}
		mu.Lock()
		ask := 30 * time.Second
		for _, at := range requested[node] {
			if at.After(injected) {
				ask = min(ask, at.Sub(injected))
			}
		}
		mu.Unlock()
		asked = append(asked, ask)
	}
	b.StopTimer()
	slices.Sort(reactions)
	slices.Sort(asked)
	slices.Sort(relieved)
	quantile := func(d []time.Duration, p int) time.Duration { return d[(len(d)*p+99)/100-1] }
	q := func(p int) time.Duration { return quantile(reactions, p) }
	b.Logf("hotspot to first move asked for (queued or started): p50 %s, p99 %s", quantile(asked, 50).Round(10*time.Millisecond), quantile(asked, 99).Round(10*time.Millisecond))
	b.ReportMetric(q(50).Seconds()/interval.Seconds(), "p50-intervals")
	b.ReportMetric(q(99).Seconds()/interval.Seconds(), "p99-intervals")
	b.ReportMetric(float64(misses), "no-move")
	b.ReportMetric(float64(hopeless), "no-relief")
	if len(relieved) > 0 {
		b.ReportMetric(quantile(relieved, 50).Seconds()/interval.Seconds(), "relievable-p50-intervals")
		b.ReportMetric(quantile(relieved, 99).Seconds()/interval.Seconds(), "relievable-p99-intervals")
		b.Logf("%d samples a move could relieve: p50 %s, p90 %s, p99 %s", len(relieved), quantile(relieved, 50).Round(10*time.Millisecond),
			quantile(relieved, 90).Round(10*time.Millisecond), quantile(relieved, 99).Round(10*time.Millisecond))
	}
	b.Logf("%d samples: p50 %s, p90 %s, p99 %s, max %s; %d without a move in 30 s", len(reactions),
		q(50).Round(10*time.Millisecond), q(90).Round(10*time.Millisecond), q(99).Round(10*time.Millisecond), reactions[len(reactions)-1].Round(10*time.Millisecond), misses)
}
