package metrics_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
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
)

const interval = 200 * time.Millisecond

type env struct {
	t    *testing.T
	conn *natsconn.Conn
	svc  *metrics.Service

	mu   sync.Mutex
	seen map[string][]*pb.NodeLoadSummarized // every update of the load bucket, by node
}

func start(t *testing.T) *env {
	t.Helper()
	conn, err := natsconn.Dial(context.Background(), natsconn.Options{URL: natstest.Start(t), Name: "test",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	e := &env{t: t, conn: conn, seen: map[string][]*pb.NodeLoadSummarized{}}
	e.watchLoads()
	e.restart()
	return e
}

// watchLoads records every summary the service writes: the bucket keeps
// only each node's latest, a watcher sees them all.
func (e *env) watchLoads() {
	kv, err := e.conn.JS.KeyValue(context.Background(), events.LoadBucket)
	if err != nil {
		e.t.Fatal(err)
	}
	w, err := kv.WatchAll(context.Background(), jetstream.UpdatesOnly())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = w.Stop() })
	go func() {
		for u := range w.Updates() {
			if u == nil {
				continue
			}
			m := &pb.NodeLoadSummarized{}
			if err := proto.Unmarshal(u.Value(), m); err != nil {
				continue
			}
			e.mu.Lock()
			e.seen[u.Key()] = append(e.seen[u.Key()], m)
			e.mu.Unlock()
		}
	}()
}

func (e *env) restart() {
	e.t.Helper()
	if e.svc != nil {
		if err := e.svc.Close(); err != nil {
			e.t.Fatal(err)
		}
	}
	svc, err := metrics.Start(context.Background(), metrics.Config{Conn: e.conn, Interval: interval})
	if err != nil {
		e.t.Fatal(err)
	}
	e.svc = svc
	e.t.Cleanup(func() { _ = svc.Close() })
}

// publish sends a sample as an agent does (the bus routes by the event type
// header) and returns its stream sequence.
func (e *env) publish(node string, at time.Time, disks ...*pb.DiskTelemetry) uint64 {
	e.t.Helper()
	data, err := proto.Marshal(&pb.NodeTelemetry{NodeId: node, SampleTime: timestamppb.New(at), Disks: disks})
	if err != nil {
		e.t.Fatal(err)
	}
	ack, err := e.conn.JS.PublishMsg(context.Background(), &nats.Msg{
		Subject: events.TelemetrySubject(node),
		Data:    data,
		Header:  nats.Header{eventstore.HeaderEventType: {events.TypeOf(&pb.NodeTelemetry{})}},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return ack.Sequence
}

// summaries is a node's metrics history.
func (e *env) summaries(node string) []*pb.NodeLoadSummarized {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.seen[node])
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitfor.Condition(t, 10*time.Second, what, cond)
}

// waitHandled waits until the service has handled the telemetry stream up
// to seq.
func (e *env) waitHandled(seq uint64) {
	e.t.Helper()
	waitFor(e.t, "telemetry handled", func() bool {
		s := e.svc.Telemetry()
		return s.Last >= seq && s.InHand == 0
	})
}

// quiet waits long enough for a quiet node's window to be flushed: a
// "nothing happens" check can only be made after it had the chance to.
func quiet() { time.Sleep(3 * interval) }

func disk(read, write, rbps, wbps, util float64, latencyMicros uint64) *pb.DiskTelemetry {
	return &pb.DiskTelemetry{ReadIops: read, WriteIops: write, ReadBytesPerSecond: rbps, WriteBytesPerSecond: wbps,
		Utilization: util, LatencyMicros: latencyMicros}
}

func TestSummarizesEachNode(t *testing.T) {
	e := start(t)
	// A past window, so that every sample falls in it whatever the timing.
	w := time.Now().Truncate(interval).Add(-10 * interval)
	ms := time.Millisecond
	e.publish("node-a", w.Add(10*ms), disk(100, 10, 1000, 100, 0.2, 500), disk(300, 30, 3000, 300, 0.4, 900))
	e.publish("node-a", w.Add(50*ms), disk(150, 0, 1500, 0, 0.95, 100), disk(50, 20, 500, 200, 0.1, 200))
	e.publish("node-a", w.Add(90*ms), disk(0, 0, 0, 0, 0.5, 300), disk(300, 60, 3000, 600, 0.3, 400))
	e.publish("node-b", w.Add(20*ms), disk(10, 1, 0, 0, 0.1, 50))
	e.publish("node-b", w.Add(30*ms), disk(30, 3, 0, 0, 0.3, 70))

	waitFor(t, "a summary of each node", func() bool {
		return len(e.summaries("node-a")) == 1 && len(e.summaries("node-b")) == 1
	})
	a, b := e.summaries("node-a")[0], e.summaries("node-b")[0]
	want := &pb.NodeLoadSummarized{NodeId: "node-a", WindowStartTime: timestamppb.New(w), WindowEndTime: timestamppb.New(w.Add(interval)),
		Samples: 3, ReadIops: 300, WriteIops: 40, ReadBytesPerSecond: 3000, WriteBytesPerSecond: 400, Utilization: 0.95, LatencyMicros: 900}
	if !proto.Equal(a, want) {
		t.Fatalf("node-a\n got %v\nwant %v", a, want)
	}
	want = &pb.NodeLoadSummarized{NodeId: "node-b", WindowStartTime: timestamppb.New(w), WindowEndTime: timestamppb.New(w.Add(interval)),
		Samples: 2, ReadIops: 20, WriteIops: 2, Utilization: 0.3, LatencyMicros: 70}
	if !proto.Equal(b, want) {
		t.Fatalf("node-b\n got %v\nwant %v", b, want)
	}

	// A restarted service learns from the log where node-a's summaries
	// end: a sample of the summarized window is late, a later one counts.
	e.restart()
	e.publish("node-a", w.Add(150*ms), disk(9999, 0, 0, 0, 1, 0))
	e.publish("node-a", w.Add(interval), disk(7, 0, 0, 0, 0, 0))
	waitFor(t, "node-a's second summary", func() bool { return len(e.summaries("node-a")) == 2 })
	if s := e.summaries("node-a")[1]; s.GetSamples() != 1 || s.GetReadIops() != 7 ||
		!s.GetWindowStartTime().AsTime().Equal(w.Add(interval)) {
		t.Fatalf("after restart: %v", s)
	}
}

func TestAtMostOneSummaryPerInterval(t *testing.T) {
	e := start(t)
	const node = "node-a"
	// Live samples every 10 ms for six intervals.
	var (
		published int
		last      uint64
		lastAt    time.Time
	)
	for end := time.Now().Add(6 * interval); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		lastAt = time.Now()
		last = e.publish(node, lastAt, disk(100, 0, 0, 0, 0.5, 100))
		published++
	}
	e.waitHandled(last)
	waitFor(t, "the last window summarized", func() bool {
		s := e.summaries(node)
		return len(s) > 0 && s[len(s)-1].GetWindowEndTime().AsTime().After(lastAt)
	})
	sums := e.summaries(node)
	if len(sums) > 8 {
		t.Fatalf("%d summaries for six intervals of samples", len(sums))
	}
	var counted uint32
	for i, s := range sums {
		counted += s.GetSamples()
		if s.GetReadIops() != 100 || s.GetSamples() == 0 {
			t.Fatalf("summary %d: %v", i, s)
		}
		if i > 0 {
			if gap := s.GetWindowEndTime().AsTime().Sub(sums[i-1].GetWindowEndTime().AsTime()); gap < interval {
				t.Fatalf("summaries %d and %d are %v apart, less than the interval", i-1, i, gap)
			}
		}
	}
	// Handlers run in parallel, so a sample overtaken by the next window's
	// first one is late and dropped; that is rare, and never a double count.
	if int(counted) > published || int(counted) < published-2 {
		t.Fatalf("%d samples summarized, %d published", counted, published)
	}

	// No new samples, no new summaries; a late sample does not make one.
	quiet()
	before := len(e.summaries(node))
	e.waitHandled(e.publish(node, sums[0].GetWindowStartTime().AsTime(), disk(1, 0, 0, 0, 0, 0)))
	quiet()
	if n := len(e.summaries(node)); n != before {
		t.Fatalf("%d summaries appeared without new samples", n-before)
	}
	if s := e.summaries("node-silent"); len(s) != 0 {
		t.Fatalf("summaries for a node that sent nothing: %v", s)
	}
}

// hotspotTypes lists the hotspot events recorded for node, oldest first.
func (e *env) hotspotTypes(node string) []string {
	e.t.Helper()
	recs, _, err := e.conn.Store.Load(context.Background(), events.Metrics.Stream, events.Metrics.Subject(node))
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		switch r.Type {
		case events.TypeOf(&pb.HotspotDetected{}):
			out = append(out, "detected")
		case events.TypeOf(&pb.HotspotCleared{}):
			out = append(out, "cleared")
		}
	}
	return out
}

// A hotspot found before a restart clears after it: the service goes on
// from the hotspots its log records, and does not start them again. (It
// used to forget them, so that a node that cooled while the service was
// down stayed a hotspot for placement for ever.)
func TestAHotspotFoundBeforeARestartClearsAfterIt(t *testing.T) {
	e := start(t)
	const node = "node-hot"
	feed := func(util float64, windows int) {
		t.Helper()
		var last uint64
		for end := time.Now().Add(time.Duration(windows) * interval); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			last = e.publish(node, time.Now(), disk(100, 0, 0, 0, util, 100))
		}
		e.waitHandled(last)
	}
	feed(0.95, 4)
	waitFor(t, "the hotspot recorded", func() bool { return slices.Equal(e.hotspotTypes(node), []string{"detected"}) })

	e.restart()
	feed(0.97, 3) // still hot: nothing new
	feed(0.3, 5)
	waitFor(t, "the hotspot cleared", func() bool { return slices.Equal(e.hotspotTypes(node), []string{"detected", "cleared"}) })
}
