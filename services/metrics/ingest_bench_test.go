package metrics_test

import (
	"context"
	"encoding/base32"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
	"ballast.dev/platform/natsconn"
	"ballast.dev/platform/natsserver/natstest"
	"ballast.dev/platform/waitfor"
	pb "ballast.dev/proto/ballast/v1"
	"ballast.dev/services/metrics"
	"ballast.dev/services/metrics/domain"
)

// The fleet of the ingest benchmark.
const (
	ingestNodes          = 1000
	ingestReplicas       = 100 // per report
	ingestReportInterval = 5 * time.Second
	// ingestFetchBatch is the raw baseline's pull batch: the bus's own.
	ingestFetchBatch = 64
	// ingestDeadline bounds each consuming pass.
	ingestDeadline = 10 * time.Minute
)

// BenchmarkTelemetryIngest measures the metrics service consuming node
// telemetry (b.N reports, each of a node with 100 replicas) against raw
// JetStream durable consumption of the same messages in the same run.
//
// The reports are published first, as the agent publishes them, into the
// telemetry stream declared as every process declares it. Then three passes
// read all of them, each timed from the creation of its consumer until it
// is through the last report: a raw durable pull consumer that fetches and
// acks each, doing nothing else (through when the server has every ack);
// the metrics service (metrics.Start: its feed, decoding, the liveness
// watcher, the windows, the summaries in the load bucket, the hotspot
// watch; through when it has handled every report it got, and it must have
// handled them all); and the raw consumer again. The feed acknowledges
// nothing (telemetry is read at most once), which the raw consumer does:
// the baseline does what a plain JetStream consumer does. The baseline is the two raw
// passes together, so that neither side alone has the colder or the
// warmer server. ns/op is the service's time per report.
//
// The stream keeps 120 reports per node, so b.N is at most 120,000; use
// -benchtime 100000x. BALLAST_BENCH_SEED fixes the fleet (the seed is
// logged either way); BALLAST_BENCH_CPUPROFILE=FILE writes a CPU profile
// of the service's pass alone.
func BenchmarkTelemetryIngest(b *testing.B) {
	b.StopTimer()
	rounds := (b.N + ingestNodes - 1) / ingestNodes
	if rounds > events.TelemetryMaxPerNode {
		b.Fatalf("%d reports are %d per node; the telemetry stream keeps %d: use -benchtime %dx or less",
			b.N, rounds, events.TelemetryMaxPerNode, ingestNodes*events.TelemetryMaxPerNode)
	}
	seed := benchSeed(b)
	b.Logf("seed %d (BALLAST_BENCH_SEED=%d repeats this fleet)", seed, seed)

	ctx := context.Background()
	conn, err := natsconn.Dial(ctx, natsconn.Options{URL: natstest.Start(b), Name: "bench",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(conn.Close)

	fleet := newIngestFleet(rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)))
	last, size := fleet.publish(b, conn.JS, b.N)
	b.ReportMetric(float64(size)/float64(b.N), "B/report")

	raw1 := rawIngest(b, conn.JS, "bench-raw-before", b.N, last)

	svc, took := serviceIngest(b, conn, last)
	if rounds > 2*int(domain.DefaultInterval/ingestReportInterval) {
		checkSummarized(b, conn.JS, len(fleet.nodes))
	}
	if err := svc.Close(); err != nil {
		b.Fatal(err)
	}

	raw2 := rawIngest(b, conn.JS, "bench-raw-after", b.N, last)

	rawRate := float64(2*b.N) / (raw1 + raw2).Seconds()
	svcRate := float64(b.N) / took.Seconds()
	b.ReportMetric(rawRate, "raw-reports/s")
	b.ReportMetric(svcRate, "metrics-reports/s")
	b.ReportMetric(svcRate/rawRate, "ratio")
	b.Logf("raw %.0f then %.0f reports/s; metrics %.0f reports/s", float64(b.N)/raw1.Seconds(), float64(b.N)/raw2.Seconds(), svcRate)
}

func benchSeed(b *testing.B) uint64 {
	if s := os.Getenv("BALLAST_BENCH_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			b.Fatalf("BALLAST_BENCH_SEED: %v", err)
		}
		return seed
	}
	return uint64(time.Now().UnixNano())
}

// rawIngest reads the reports with a new durable pull consumer that
// fetches and acks, and returns how long it took until the server had every
// ack, up to the last report's sequence.
func rawIngest(b *testing.B, js jetstream.JetStream, name string, reports int, last uint64) time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ingestDeadline)
	defer cancel()
	began := time.Now()
	cons, err := js.CreateOrUpdateConsumer(ctx, events.TelemetryStream, jetstream.ConsumerConfig{
		Durable:       name,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		FilterSubject: events.TelemetryFilter,
	})
	if err != nil {
		b.Fatal(err)
	}
	for seen := 0; seen < reports; {
		batch, err := cons.Fetch(min(ingestFetchBatch, reports-seen), jetstream.FetchContext(ctx))
		if err != nil {
			b.Fatal(err)
		}
		for m := range batch.Messages() {
			if err := m.Ack(); err != nil {
				b.Fatal(err)
			}
			seen++
		}
		if err := batch.Error(); err != nil {
			b.Fatal(err)
		}
	}
	waitAcked(b, cons, last)
	return time.Since(began)
}

// serviceIngest starts the metrics service and returns it, with how long it
// took from its start until its consumer had acked every report.
func serviceIngest(b *testing.B, conn *natsconn.Conn, last uint64) (*metrics.Service, time.Duration) {
	b.Helper()
	if path := os.Getenv("BALLAST_BENCH_CPUPROFILE"); path != "" {
		// The service's pass alone: -test.cpuprofile would mix in the
		// publishing and the raw passes.
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
	}
	b.StartTimer()
	began := time.Now()
	svc, err := metrics.Start(context.Background(), metrics.Config{
		Conn: conn,
		// The reports are stamped in the past (they were published
		// before); a bar this long makes every one fresh to the liveness
		// watcher, as live telemetry is.
		Liveness: domain.Liveness{SuspectAfter: 24 * time.Hour, DownAfter: 48 * time.Hour},
	})
	if err != nil {
		b.Fatal(err)
	}
	// The feed acknowledges nothing: done is when the service has had the
	// last report and handled every one it had.
	waitfor.Condition(b, ingestDeadline, "every report handled", func() bool {
		s := svc.Telemetry()
		return s.Last >= last && s.InHand == 0
	})
	took := time.Since(began)
	if s := svc.Telemetry(); s.Handled != uint64(b.N) {
		b.Fatalf("the service handled %d reports of %d (%d dropped, %d dead-lettered)", s.Handled, b.N, s.Dropped, s.DeadLettered)
	}
	b.StopTimer()
	return svc, took
}

// waitAcked waits until cons has acknowledged every message up to last.
func waitAcked(b *testing.B, cons jetstream.Consumer, last uint64) {
	b.Helper()
	waitfor.Condition(b, ingestDeadline, "every report acknowledged", func() bool {
		info, err := cons.Info(context.Background())
		return err == nil && info.AckFloor.Stream >= last && info.NumAckPending == 0
	})
}

// checkSummarized fails unless every node has a summary in the load bucket:
// the service did the work, not only the acks.
func checkSummarized(b *testing.B, js jetstream.JetStream, nodes int) {
	b.Helper()
	kv, err := js.KeyValue(context.Background(), events.LoadBucket)
	if err != nil {
		b.Fatal(err)
	}
	waitfor.Condition(b, time.Minute, "a summary of every node", func() bool {
		st, err := kv.Status(context.Background())
		return err == nil && st.Values() >= uint64(nodes)
	})
}

// ingestFleet is a fleet of nodes with skewed loads: a few hot nodes, and on
// every node a few replicas carrying most of its I/O.
type ingestFleet struct {
	rng   *rand.Rand
	nodes []*ingestNode
}

type ingestNode struct {
	msg   *pb.NodeTelemetry
	disks []ingestDisk
	// replicas' mean loads, parallel to msg.Replicas; disk is the index of
	// the replica's disk.
	replicas []ingestReplica
}

type ingestDisk struct {
	maxIOPS, maxBps float64
	baseLatency     time.Duration
	capacity        uint64
}

type ingestReplica struct {
	disk                  int
	readIOPS, writeIOPS   float64
	readBytes, writeBytes float64 // per operation
	usedBytes             uint64
}

var ingestTiers = []ingestDisk{
	{maxIOPS: 500_000, maxBps: 3e9, baseLatency: 80 * time.Microsecond, capacity: 4 << 40},   // nvme
	{maxIOPS: 80_000, maxBps: 550e6, baseLatency: 250 * time.Microsecond, capacity: 8 << 40}, // ssd
	{maxIOPS: 400, maxBps: 200e6, baseLatency: 6 * time.Millisecond, capacity: 16 << 40},     // hdd
}

var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// randomID is n lowercase base32 characters.
func randomID(rng *rand.Rand, n int) string {
	buf := make([]byte, (n*5+7)/8)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	return lowerBase32.EncodeToString(buf)[:n]
}

func randomUUID(rng *rand.Rand) string {
	var u [16]byte
	for i := range u {
		u[i] = byte(rng.Uint32())
	}
	u[6], u[8] = u[6]&0x0f|0x40, u[8]&0x3f|0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// pareto is a Pareto(1, alpha) draw: alpha 1.16 is the 80/20 rule.
func pareto(rng *rand.Rand, alpha float64) float64 {
	return math.Pow(1-rng.Float64(), -1/alpha)
}

func newIngestFleet(rng *rand.Rand) *ingestFleet {
	f := &ingestFleet{rng: rng}
	for range ingestNodes {
		id := "stor-" + randomID(rng, 10)
		n := &ingestNode{msg: &pb.NodeTelemetry{NodeId: id}}
		for d := range 1 + rng.IntN(3) {
			t := ingestTiers[rng.IntN(len(ingestTiers))]
			n.disks = append(n.disks, t)
			n.msg.Disks = append(n.msg.Disks, &pb.DiskTelemetry{DiskId: id + "-d" + strconv.Itoa(d), CapacityBytes: t.capacity})
		}
		// A node's heat is lognormal: most run well under their disks'
		// limits, a few near or over them.
		heat := math.Exp(rng.NormFloat64()*0.7) * 0.35
		weights := make([]float64, ingestReplicas)
		var total float64
		for i := range weights {
			weights[i] = pareto(rng, 1.16)
			total += weights[i]
		}
		capacity := make([]float64, len(n.disks))
		for i := range weights {
			d := rng.IntN(len(n.disks))
			capacity[d] += weights[i]
			n.replicas = append(n.replicas, ingestReplica{disk: d})
		}
		for i := range n.replicas {
			r := &n.replicas[i]
			// The replica's share of its disk's IOPS at the node's heat.
			iops := heat * n.disks[r.disk].maxIOPS * weights[i] / capacity[r.disk]
			read := 0.5 + 0.4*rng.Float64()
			r.readIOPS, r.writeIOPS = iops*read, iops*(1-read)
			r.readBytes = float64(int(4096) << rng.IntN(5))
			r.writeBytes = float64(int(4096) << rng.IntN(4))
			r.usedBytes = uint64(1+rng.IntN(512)) << 30
			n.msg.Replicas = append(n.msg.Replicas, &pb.ReplicaTelemetry{
				ReplicaId: "r-" + randomID(rng, 20),
				VolumeId:  randomUUID(rng),
				DiskId:    n.msg.Disks[r.disk].DiskId,
			})
		}
		f.nodes = append(f.nodes, n)
	}
	return f
}

// sample fills n's message with its load at at: each replica's mean load
// with lognormal noise, and the disks' sums of it.
func (f *ingestFleet) sample(n *ingestNode, at time.Time) {
	m := n.msg
	m.SampleTime = timestamppb.New(at)
	for _, d := range m.Disks {
		d.ReadIops, d.WriteIops, d.ReadBytesPerSecond, d.WriteBytesPerSecond, d.UsedBytes = 0, 0, 0, 0, 0
	}
	for i, r := range n.replicas {
		noise := math.Exp(f.rng.NormFloat64() * 0.3)
		pr := m.Replicas[i]
		pr.ReadIops, pr.WriteIops = r.readIOPS*noise, r.writeIOPS*noise
		pr.ReadBytesPerSecond, pr.WriteBytesPerSecond = pr.ReadIops*r.readBytes, pr.WriteIops*r.writeBytes
		d := m.Disks[r.disk]
		d.ReadIops += pr.ReadIops
		d.WriteIops += pr.WriteIops
		d.ReadBytesPerSecond += pr.ReadBytesPerSecond
		d.WriteBytesPerSecond += pr.WriteBytesPerSecond
		d.UsedBytes += r.usedBytes
	}
	for i, d := range m.Disks {
		spec := n.disks[i]
		util := min(1, max((d.ReadIops+d.WriteIops)/spec.maxIOPS, (d.ReadBytesPerSecond+d.WriteBytesPerSecond)/spec.maxBps))
		d.Utilization = util
		// Latency grows as the disk fills its queue.
		d.LatencyMicros = uint64(float64(spec.baseLatency/time.Microsecond) / max(1-util, 0.02))
	}
}

// publish publishes reports of every node in turn, one round every report
// interval of sample time, ending now, as the agent does (async, windowed,
// the agent's header). It returns the stream sequence of the last report and
// the bytes of all of them.
func (f *ingestFleet) publish(b *testing.B, js jetstream.JetStream, reports int) (last uint64, size int) {
	b.Helper()
	const window = 1000
	typ := events.TypeOf(&pb.NodeTelemetry{})
	rounds := (reports + len(f.nodes) - 1) / len(f.nodes)
	start := time.Now().Add(-time.Duration(rounds) * ingestReportInterval)
	futures := make([]jetstream.PubAckFuture, 0, window)
	wait := func() {
		for _, fu := range futures {
			select {
			case ack := <-fu.Ok():
				last = max(last, ack.Sequence)
			case err := <-fu.Err():
				b.Fatal(err)
			case <-time.After(time.Minute):
				b.Fatal("no ack for a report within a minute")
			}
		}
		futures = futures[:0]
	}
	for i := range reports {
		n := f.nodes[i%len(f.nodes)]
		f.sample(n, start.Add(time.Duration(i/len(f.nodes))*ingestReportInterval))
		data, err := proto.Marshal(n.msg)
		if err != nil {
			b.Fatal(err)
		}
		size += len(data)
		fu, err := js.PublishMsgAsync(&nats.Msg{
			Subject: events.TelemetrySubject(n.msg.NodeId),
			Data:    data,
			Header:  nats.Header{eventstore.HeaderEventType: {typ}},
		}, jetstream.WithExpectStream(events.TelemetryStream))
		if err != nil {
			b.Fatal(err)
		}
		if futures = append(futures, fu); len(futures) == window {
			wait()
		}
	}
	wait()
	return last, size
}
