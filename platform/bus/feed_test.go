package bus_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"ballast.dev/platform/bus"
	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
	pb "ballast.dev/proto/ballast/v1"
)

var telemetryType = events.TypeOf(&pb.NodeTelemetry{})

// report publishes a telemetry report of node as an agent does, and
// returns its stream sequence.
func (f fixture) report(t *testing.T, node string, typ string, data []byte) uint64 {
	t.Helper()
	m := &nats.Msg{Subject: events.TelemetrySubject(node), Data: data, Header: nats.Header{}}
	if typ != "" {
		m.Header.Set(eventstore.HeaderEventType, typ)
	}
	ack, err := f.js.PublishMsg(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

func (f fixture) goodReport(t *testing.T, node string) uint64 {
	t.Helper()
	data, err := proto.Marshal(&pb.NodeTelemetry{NodeId: node})
	if err != nil {
		t.Fatal(err)
	}
	return f.report(t, node, telemetryType, data)
}

// reports counts the reports a feed's handler was given, by node.
type reports struct {
	mu   sync.Mutex
	seen map[string]int
	fail map[string]bool // nodes whose reports the handler fails
}

func (r *reports) handle(_ context.Context, subject string, m *pb.NodeTelemetry) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = map[string]int{}
	}
	r.seen[m.GetNodeId()]++
	if r.fail[m.GetNodeId()] {
		return errors.New("the summaries cannot be written")
	}
	return nil
}

func (r *reports) count(node string) int { r.mu.Lock(); defer r.mu.Unlock(); return r.seen[node] }

func (r *reports) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.seen {
		n += c
	}
	return n
}

// decodeReport reads a report as the metrics service's decoder must: it
// refuses what events.Read refuses.
func decodeReport(subject string, data []byte) (*pb.NodeTelemetry, error) {
	m, err := events.Read(subject, telemetryType, data)
	if err != nil {
		return nil, err
	}
	return m.(*pb.NodeTelemetry), nil
}

func (f fixture) feed(t *testing.T, name string, r *reports) *bus.FeedReader {
	t.Helper()
	feed, err := bus.ReadFeed(context.Background(), f.js, "test",
		bus.Feed{Name: name, Stream: events.TelemetryStream, Filter: events.TelemetryFilter, Workers: 8},
		slog.New(slog.NewTextHandler(io.Discard, nil)), &pb.NodeTelemetry{}, decodeReport, r.handle)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = feed.Close() })
	return feed
}

// through waits until feed has had every message up to seq and is done
// with them.
func through(t *testing.T, feed *bus.FeedReader, seq uint64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("the feed through sequence %d", seq), func() bool {
		s := feed.Stats()
		return s.Last >= seq && s.InHand == 0
	})
}

// A feed hands each report to its handler once, acknowledges nothing, and
// a restarted reader goes on after what the last one was given: nothing
// twice, even what the last one had in hand when it stopped.
func TestAFeedHandsEachMessageOnceAndGoesOnAfterARestart(t *testing.T) {
	f := setup(t)
	var r reports
	feed := f.feed(t, "feed", &r)
	var last uint64
	for i := range 300 {
		last = f.goodReport(t, "node-"+strconv.Itoa(i%30))
	}
	through(t, feed, last)
	if s := feed.Stats(); s.Handled != 300 || s.Dropped != 0 || s.DeadLettered != 0 {
		t.Fatalf("stats %+v, want 300 handled", s)
	}
	for i := range 30 {
		if n := r.count("node-" + strconv.Itoa(i)); n != 10 {
			t.Fatalf("node-%d: %d reports handled, want 10", i, n)
		}
	}
	cons, err := f.js.Consumer(context.Background(), events.TelemetryStream, "feed")
	if err != nil {
		t.Fatal(err)
	}
	if info := cons.CachedInfo(); info.Config.AckPolicy != jetstream.AckNonePolicy || info.NumAckPending != 0 {
		t.Fatalf("consumer %s with %d pending: a feed acknowledges nothing", info.Config.AckPolicy, info.NumAckPending)
	}

	if err := feed.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		last = f.goodReport(t, "later-"+strconv.Itoa(i))
	}
	again := f.feed(t, "feed", &r)
	through(t, again, last)
	if n := r.total(); n != 350 {
		t.Fatalf("%d reports handled in all, want 350: none twice, none missed", n)
	}
}

// A report the handler fails on is dropped and counted, never handed over
// again: telemetry is not history, and the next report supersedes it.
func TestAFeedDropsWhatItsHandlerFails(t *testing.T) {
	f := setup(t)
	r := reports{fail: map[string]bool{"sick": true}}
	feed := f.feed(t, "feed", &r)
	f.goodReport(t, "sick")
	through(t, feed, f.goodReport(t, "well"))
	if s := feed.Stats(); s.Handled != 1 || s.Dropped != 1 {
		t.Fatalf("stats %+v, want 1 handled and 1 dropped", s)
	}
	through(t, feed, f.goodReport(t, "well"))
	if n := r.count("sick"); n != 1 {
		t.Fatalf("the failed report was handed over %d times, want once", n)
	}
}

// What a feed cannot read is dead-lettered with its reason, as a router
// does: no type, another type, a type this build does not know, a payload
// that does not parse, one that names another node than its subject.
func TestAFeedDeadLettersWhatItCannotRead(t *testing.T) {
	f := setup(t)
	var r reports
	feed := f.feed(t, "feed", &r)
	forged, err := proto.Marshal(&pb.NodeTelemetry{NodeId: "other"})
	if err != nil {
		t.Fatal(err)
	}
	f.report(t, "untyped", "", []byte("hello"))
	f.report(t, "wrongtype", events.TypeOf(&pb.VolumeRequested{}), []byte{})
	f.report(t, "future", "ballast.v9.NodeTeleported", []byte{})
	f.report(t, "garbage", telemetryType, []byte{0xff, 0xff, 0xff})
	f.report(t, "forged", telemetryType, forged)
	through(t, feed, f.goodReport(t, "good"))
	if s := feed.Stats(); s.Handled != 1 || s.DeadLettered != 5 || s.Dropped != 0 {
		t.Fatalf("stats %+v, want 1 handled and 5 dead-lettered", s)
	}
	reasons := map[string]string{}
	for _, m := range deadLetters(t, f) {
		reasons[m.Header.Get(bus.HeaderDeadSubject)] = m.Header.Get(bus.HeaderDeadReason)
		if svc := m.Header.Get(bus.HeaderDeadService); svc != "test" {
			t.Errorf("dead letter of %s by service %q", m.Header.Get(bus.HeaderDeadSubject), svc)
		}
	}
	for node, want := range map[string]string{
		"untyped":   "no Ballast-Event-Type",
		"wrongtype": "got a ballast.v1.VolumeRequested",
		"future":    "unknown event type",
		"garbage":   "decode",
		"forged":    `node_id "other"`,
	} {
		if got := reasons[events.TelemetrySubject(node)]; !strings.Contains(got, want) {
			t.Errorf("dead letter of %s: reason %q, want it to say %q", node, got, want)
		}
	}
	if n := r.total(); n != 1 {
		t.Fatalf("%d reports reached the handler, want the good one alone", n)
	}
}

// A consumer of the same name from a version that acknowledged each
// report is replaced, and the feed starts after what it had acknowledged.
func TestAFeedReplacesAnAcknowledgingConsumerWhereItStopped(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	old, err := f.js.CreateOrUpdateConsumer(ctx, events.TelemetryStream, jetstream.ConsumerConfig{
		Durable: "feed", AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: events.TelemetryFilter,
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		f.goodReport(t, "before")
	}
	batch, err := old.Fetch(3)
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	f.goodReport(t, "after")
	var r reports
	feed := f.feed(t, "feed", &r)
	through(t, feed, f.goodReport(t, "after"))
	if b, a := r.count("before"), r.count("after"); b != 0 || a != 2 {
		t.Fatalf("%d acknowledged reports handled again, %d later ones handled; want 0 and 2", b, a)
	}
}

// What a closing feed had pulled and not handed on is counted dropped, not
// left in hand: its counts add up.
func TestAClosedFeedAccountsForEveryMessageItGot(t *testing.T) {
	f := setup(t)
	release := make(chan struct{})
	var handled sync.WaitGroup
	feed, err := bus.ReadFeed(context.Background(), f.js, "test",
		bus.Feed{Name: "feed", Stream: events.TelemetryStream, Filter: events.TelemetryFilter, Workers: 2},
		slog.New(slog.NewTextHandler(io.Discard, nil)), &pb.NodeTelemetry{}, decodeReport,
		func(ctx context.Context, _ string, _ *pb.NodeTelemetry) error {
			handled.Add(1)
			defer handled.Done()
			<-release // the summaries' store hangs
			return ctx.Err()
		})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1500 {
		f.goodReport(t, "node-"+strconv.Itoa(i%100))
	}
	waitFor(t, "the feed's buffer full", func() bool { return feed.Stats().InHand > 500 })
	closed := make(chan error, 1)
	go func() { closed <- feed.Close() }()
	close(release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	s := feed.Stats()
	if s.InHand != 0 || s.Handled+s.Dropped+s.DeadLettered == 0 {
		t.Fatalf("after Close: %+v; want nothing in hand", s)
	}
}

// syncBuffer is a bytes.Buffer safe for the handlers' goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// The service's logger names the service; the feed does not name it
// again (its lines read "service=metrics service=metrics").
func TestAFeedLogsWithTheServicesLogger(t *testing.T) {
	f := setup(t)
	var out syncBuffer
	logger := slog.New(slog.NewTextHandler(&out, nil)).With("service", "test")
	var r reports
	feed, err := bus.ReadFeed(context.Background(), f.js, "test",
		bus.Feed{Name: "feed", Stream: events.TelemetryStream, Filter: events.TelemetryFilter}, logger,
		&pb.NodeTelemetry{}, decodeReport, r.handle)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = feed.Close() })
	through(t, feed, f.report(t, "garbage", telemetryType, []byte{0xff}))
	line := ""
	for l := range strings.Lines(out.String()) {
		if strings.Contains(l, "dead-lettered") {
			line = l
		}
	}
	if n := strings.Count(line, "service="); line == "" || n != 1 {
		t.Fatalf("the dead letter's log line names the service %d times: %q", n, line)
	}
}
