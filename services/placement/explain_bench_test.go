package placement_test

import (
	"context"
	"fmt"
	"hash/fnv"
	"testing"
	"time"

	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
	pb "ballast.dev/proto/ballast/v1"
)

// registerFleet appends n node registrations, pipelined, with ids in no
// particular order (as a fleet registers), over three zones.
func (e *env) registerFleet(n int) {
	e.t.Helper()
	ctx := context.Background()
	var futures []*eventstore.AppendFuture
	for i := range n {
		h := fnv.New32a()
		fmt.Fprint(h, i)
		id := fmt.Sprintf("node-%08x-%d", h.Sum32(), i)
		ev, err := events.Encode("fleet-"+id, &pb.NodeRegistered{NodeId: id, Zone: []string{"zone-a", "zone-b", "zone-c"}[i%3], Region: "r1",
			Disks: []*pb.Disk{{Id: "nvme0n1", Tier: pb.Tier_TIER_SSD, CapacityBytes: uint64(1000+i%3000) * gib}}})
		if err != nil {
			e.t.Fatal(err)
		}
		f, err := e.conn.Store.AppendAsync(ctx, events.Node.Subject(id), 0, ev)
		if err != nil {
			e.t.Fatal(err)
		}
		futures = append(futures, f)
		if len(futures) == 1000 || i == n-1 {
			for _, f := range futures {
				if _, err := f.Wait(ctx); err != nil {
					e.t.Fatal(err)
				}
			}
			futures = futures[:0]
		}
	}
}

// BenchmarkExplain measures explain through NATS at 10,000 and 50,000
// nodes: the first time a decision is explained (the model rebuilt from the
// log, the planner run with every candidate, every page fetched) and again
// (every page from the cache).
//
//	cd services/placement && go test -run '^$' -bench Explain -benchtime 3x .
func BenchmarkExplain(b *testing.B) {
	for _, n := range []int{10_000, 50_000} {
		b.Run(fmt.Sprintf("%dNodes", n), func(b *testing.B) {
			e := startWith(b)
			e.registerFleet(n)
			b.ResetTimer()
			var cold, warm time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				id := e.request(fmt.Sprintf("v%d", i), 100*gib)
				if _, ok := e.decision(id, 1).(*pb.PlacementDecided); !ok {
					b.Fatal("not placed")
				}
				b.StartTimer()
				start := time.Now()
				_, rows, _ := e.explainAll(id, 1000)
				cold += time.Since(start)
				if len(rows) != n {
					b.Fatalf("%d rows for %d nodes", len(rows), n)
				}
				start = time.Now()
				e.explainAll(id, 1000)
				warm += time.Since(start)
			}
			b.ReportMetric(cold.Seconds()/float64(b.N), "s-first/op")
			b.ReportMetric(warm.Seconds()/float64(b.N), "s-cached/op")
		})
	}
}
