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
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"ballast.dev/platform/bus"
	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
	"ballast.dev/platform/natsserver/natstest"
	"ballast.dev/platform/retry"
	"ballast.dev/platform/waitfor"
	pb "ballast.dev/proto/ballast/v1"
)

type fixture struct {
	url   string
	nc    *nats.Conn
	js    jetstream.JetStream
	store *eventstore.Store
}

func setup(t *testing.T) fixture {
	t.Helper()
	url := natstest.Start(t)
	nc := natstest.Connect(t, url)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	store := eventstore.New(js)
	if err := events.EnsureStreams(context.Background(), store, 1); err != nil {
		t.Fatal(err)
	}
	return fixture{url: url, nc: nc, js: js, store: store}
}

// quick retries, so that a test sees the budget run out in well under a
// second.
var quick = retry.Policy{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond, Budget: 300 * time.Millisecond}

func (f fixture) routerOn(t *testing.T, js jetstream.JetStream, service string, c bus.Consumer, mux *bus.Mux, opts ...bus.Option) *bus.Router {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r, err := bus.NewRouter(service, js, slog.New(slog.NewTextHandler(io.Discard, nil)), append([]bus.Option{bus.WithRetry(quick)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Handle(ctx, c, mux); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(); cancel() })
	return r
}

func (f fixture) router(t *testing.T, c bus.Consumer, mux *bus.Mux, opts ...bus.Option) *bus.Router {
	t.Helper()
	return f.routerOn(t, f.js, "test", c, mux, opts...)
}

// append appends a VolumeRequested for a volume named name to its history.
func (f fixture) append(t *testing.T, name string) uint64 {
	t.Helper()
	ev, err := events.Encode("req/"+name, &pb.VolumeRequested{VolumeId: "id-" + name, VolumeName: name})
	if err != nil {
		t.Fatal(err)
	}
	ev.CorrelationID = "corr-" + name
	seq, err := f.store.Append(context.Background(), events.Volume.Subject(name), 0, ev)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitfor.Condition(t, 15*time.Second, what, cond)
}

func consumer(name string) bus.Consumer {
	return bus.Consumer{Name: name, Stream: events.Volume.Stream, Filter: events.Volume.Filter(), AckWait: 2 * time.Second}
}

// collect records the names of the volumes handled.
type collect struct {
	mu    sync.Mutex
	names []string
	evs   map[string]bus.Event
	corr  map[string]string
}

func (c *collect) mux() *bus.Mux {
	mux := &bus.Mux{}
	bus.On(mux, func(ctx context.Context, ev bus.Event, m *pb.VolumeRequested) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.evs == nil {
			c.evs, c.corr = map[string]bus.Event{}, map[string]string{}
		}
		c.names = append(c.names, m.GetVolumeName())
		c.evs[m.GetVolumeName()] = ev
		c.corr[m.GetVolumeName()] = eventstore.CorrelationID(ctx)
		return nil
	})
	return mux
}

func (c *collect) count() int { c.mu.Lock(); defer c.mu.Unlock(); return len(c.names) }

func TestHandlerGetsDecodedEventsWithCorrelation(t *testing.T) {
	f := setup(t)
	var c collect
	f.router(t, consumer("decode"), c.mux())
	for _, v := range []string{"a", "b", "c"} {
		f.append(t, v)
	}
	waitFor(t, "three events", func() bool { return c.count() == 3 })
	c.mu.Lock()
	defer c.mu.Unlock()
	ev := c.evs["b"]
	if ev.Subject != events.Volume.Subject("b") || ev.Sequence != 2 || ev.Type != "ballast.v1.VolumeRequested" || ev.Time.IsZero() {
		t.Fatalf("event b: %+v", ev)
	}
	if c.corr["b"] != "corr-b" || ev.CorrelationID != "corr-b" {
		t.Fatalf("correlation of b: ctx %q, event %q", c.corr["b"], ev.CorrelationID)
	}
}

// A transient failure is retried with a fresh context each time: a retry
// never inherits the cancelled context of the attempt before it.
func TestRetriesRunWithAFreshContext(t *testing.T) {
	f := setup(t)
	var mu sync.Mutex
	var attempts []error
	done := make(chan struct{})
	mux := &bus.Mux{}
	bus.On(mux, func(ctx context.Context, ev bus.Event, m *pb.VolumeRequested) error {
		mu.Lock()
		defer mu.Unlock()
		attempts = append(attempts, ctx.Err())
		if len(attempts) < 4 {
			return errors.New("nats: timeout")
		}
		close(done)
		return nil
	})
	// A short attempt timeout: before the fix its cancellation leaked
	// into every later attempt.
	r := f.router(t, consumer("fresh"), mux, bus.WithRetry(retry.Policy{Initial: 20 * time.Millisecond, Max: 20 * time.Millisecond, Budget: 5 * time.Second}), bus.WithAttemptTimeout(10*time.Millisecond))
	f.append(t, "v")
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler never succeeded")
	}
	mu.Lock()
	defer mu.Unlock()
	for i, err := range attempts {
		if err != nil {
			t.Errorf("attempt %d began with its context already ended: %v", i+1, err)
		}
	}
	waitFor(t, "the success counted", func() bool { return r.Stats().Handled == 1 })
	if s := r.Stats(); s.Retried != 3 || s.DeadLettered != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func deadLetters(t *testing.T, f fixture) []*nats.Msg {
	t.Helper()
	var out []*nats.Msg
	s, err := f.js.Stream(context.Background(), events.DeadLetterStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(context.Background(), seq)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &nats.Msg{Subject: m.Subject, Header: m.Header, Data: m.Data})
	}
	return out
}

func TestFailingMessageIsRetriedThenDeadLetteredWithTheRealReason(t *testing.T) {
	f := setup(t)
	var attempts atomic.Int32
	var after atomic.Int32
	fail := &bus.Mux{}
	bus.On(fail, func(ctx context.Context, ev bus.Event, m *pb.VolumeRequested) error {
		switch m.GetVolumeName() {
		case "poison":
			attempts.Add(1)
			return errors.New("disk on fire")
		case "panic":
			panic("handler bug")
		}
		after.Add(1)
		return nil
	})
	r := f.router(t, bus.Consumer{Name: "poison", Stream: events.Volume.Stream, Filter: events.Volume.Filter(), InOrder: true}, fail)
	poison := f.append(t, "poison")
	f.append(t, "panic")
	f.append(t, "after")
	waitFor(t, "the event after the poisoned ones", func() bool { return after.Load() == 1 })
	if n := attempts.Load(); n < 3 {
		t.Errorf("poisoned message handled %d times; it was not retried", n)
	}
	dl := deadLetters(t, f)
	if len(dl) != 2 {
		t.Fatalf("%d dead letters, want 2", len(dl))
	}
	h := dl[0].Header
	if r := h.Get(bus.HeaderDeadReason); !strings.Contains(r, "disk on fire") {
		t.Errorf("reason %q does not name the real error", r)
	}
	if strings.Contains(h.Get(bus.HeaderDeadReason), "context canceled") {
		t.Errorf("reason %q hides the real error", h.Get(bus.HeaderDeadReason))
	}
	want := map[string]string{
		bus.HeaderDeadService:  "test",
		bus.HeaderDeadSubject:  events.Volume.Subject("poison"),
		bus.HeaderDeadStream:   events.Volume.Stream,
		bus.HeaderDeadSequence: strconv.FormatUint(poison, 10),
		bus.HeaderDeadConsumer: "poison",
		bus.HeaderDeadMsgID:    "req/poison",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("dead letter %s = %q, want %q", k, got, v)
		}
	}
	if dl[0].Subject != events.DeadLetterSubject("test") || h.Get(eventstore.HeaderEventType) != "ballast.v1.VolumeRequested" || len(dl[0].Data) == 0 {
		t.Errorf("dead letter %s headers %v", dl[0].Subject, h)
	}
	if r := dl[1].Header.Get(bus.HeaderDeadReason); !strings.Contains(r, "panicked") {
		t.Errorf("panic dead letter reason %q", r)
	}
	if s := r.Stats(); s.DeadLettered != 2 {
		t.Errorf("stats %+v", s)
	}
}

// Two services that both give up on one event keep a dead letter each.
func TestEveryServiceKeepsItsOwnDeadLetter(t *testing.T) {
	f := setup(t)
	mux := &bus.Mux{}
	bus.On(mux, func(ctx context.Context, ev bus.Event, m *pb.VolumeRequested) error {
		return bus.Permanent(errors.New("cannot handle"))
	})
	f.routerOn(t, f.js, "alpha", consumer("alpha"), mux)
	f.routerOn(t, f.js, "beta", consumer("beta"), mux)
	f.append(t, "v")
	waitFor(t, "two dead letters", func() bool { return len(deadLetters(t, f)) == 2 })
	services := map[string]bool{}
	for _, m := range deadLetters(t, f) {
		services[m.Header.Get(bus.HeaderDeadService)] = true
	}
	if !services["alpha"] || !services["beta"] {
		t.Fatalf("dead letters from %v", services)
	}
}

// What the mux cannot even look at is dead-lettered without retries:
// garbage, no type, a type this build does not know, a payload that names
// another aggregate than its subject.
func TestMessagesNoHandlerCanReadAreDeadLettered(t *testing.T) {
	f := setup(t)
	var c collect
	r := f.router(t, consumer("garbage"), c.mux())
	ctx := context.Background()
	appendRaw := func(subject string, ev eventstore.Event) {
		t.Helper()
		if _, err := f.store.Append(ctx, subject, 0, ev); err != nil {
			t.Fatal(err)
		}
	}
	appendRaw(events.Volume.Subject("bad"), eventstore.Event{Type: "ballast.v1.VolumeRequested", Data: []byte{0xff, 0xff, 0xff}, ID: "bad"})
	appendRaw(events.Volume.Subject("future"), eventstore.Event{Type: "ballast.v9.VolumeTeleported", Data: []byte{}, ID: "future"})
	forged, _ := events.Encode("forged", &pb.VolumeRequested{VolumeId: "x", VolumeName: "other"})
	appendRaw(events.Volume.Subject("forged"), forged)
	// No type header at all.
	if _, err := f.js.PublishMsg(ctx, &nats.Msg{Subject: events.Volume.Subject("untyped"), Data: []byte("hello")}); err != nil {
		t.Fatal(err)
	}
	f.append(t, "good")
	waitFor(t, "four dead letters", func() bool { return len(deadLetters(t, f)) == 4 })
	waitFor(t, "the good event", func() bool { return c.count() == 1 })
	reasons := map[string]string{}
	for _, m := range deadLetters(t, f) {
		reasons[m.Header.Get(bus.HeaderDeadSubject)] = m.Header.Get(bus.HeaderDeadReason)
	}
	for subject, want := range map[string]string{
		events.Volume.Subject("bad"):     "decode",
		events.Volume.Subject("future"):  "unknown event type",
		events.Volume.Subject("forged"):  `volume_name "other"`,
		events.Volume.Subject("untyped"): "no Ballast-Event-Type",
	} {
		if !strings.Contains(reasons[subject], want) {
			t.Errorf("dead letter of %s: reason %q, want it to say %q", subject, reasons[subject], want)
		}
	}
	if s := r.Stats(); s.Retried != 0 {
		t.Errorf("stats %+v: unreadable messages were retried", s)
	}
}

func TestDurablePositionSurvivesRestart(t *testing.T) {
	f := setup(t)
	var c collect
	r := f.router(t, consumer("durable"), c.mux())
	f.append(t, "one")
	waitFor(t, "first event", func() bool { return c.count() == 1 })
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	f.append(t, "two")
	f.router(t, consumer("durable"), c.mux())
	waitFor(t, "second event", func() bool { return c.count() == 2 })
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.names[0] != "one" || c.names[1] != "two" {
		t.Fatalf("seen %v: the restart redelivered or lost an event", c.names)
	}
}

// A handler that runs far longer than the ack wait keeps its message: the
// subscriber tells the server it is in progress.
func TestLongHandlerIsNotRedelivered(t *testing.T) {
	f := setup(t)
	var calls atomic.Int32
	mux := &bus.Mux{}
	bus.On(mux, func(ctx context.Context, ev bus.Event, m *pb.VolumeRequested) error {
		calls.Add(1)
		select {
		case <-time.After(1500 * time.Millisecond):
		case <-ctx.Done():
		}
		return nil
	})
	c := consumer("long")
	c.AckWait = 300 * time.Millisecond
	r := f.router(t, c, mux)
	f.append(t, "slow")
	waitFor(t, "the slow event handled", func() bool { return r.Stats().Handled == 1 })
	if n := calls.Load(); n != 1 {
		t.Fatalf("handled %d times: redelivered while in progress", n)
	}
}

// A process that dies with a message in its handler loses it to the next
// one within the ack wait, not after half a minute.
func TestMessageOfADeadProcessIsRedeliveredWithinTheAckWait(t *testing.T) {
	f := setup(t)
	dying := natstest.Connect(t, f.url)
	djs, err := jetstream.New(dying)
	if err != nil {
		t.Fatal(err)
	}
	taken := make(chan struct{})
	var once sync.Once
	hang := &bus.Mux{}
	bus.On(hang, func(ctx context.Context, ev bus.Event, m *pb.VolumeRequested) error {
		once.Do(func() { close(taken) })
		<-ctx.Done()
		return ctx.Err()
	})
	c := bus.Consumer{Name: "crash", Stream: events.Volume.Stream, Filter: events.Volume.Filter(), InOrder: true}
	f.routerOn(t, djs, "test", c, hang)
	f.append(t, "v")
	<-taken
	dying.Close() // as SIGKILL would: no ack, no nak, no more heartbeats
	killed := time.Now()
	var got collect
	f.router(t, c, got.mux())
	waitFor(t, "the redelivery", func() bool { return got.count() == 1 })
	if d := time.Since(killed); d > bus.DefaultAckWait+2*time.Second {
		t.Fatalf("redelivered %s after the crash", d)
	}
}

// A consumer whose handler is quick never stops: every event is handled
// without a pause of seconds, however busy the connection it shares.
//
// nats.go's Messages iterator (v1.55.0) stalled here: when a handler acked
// before the goroutine that had sent the previous pull request marked it
// sent, the iterator skipped the next request and waited, with none at the
// server, until its missing-heartbeat timer fired 30 s later. Publishers on
// the same connection, as in `ballast up`, make that goroutine lose the CPU
// at that moment often enough to stall within a few hundred events.
func TestConsumerNeverStallsOnABusyConnection(t *testing.T) {
	for _, tc := range []struct {
		name    string
		inOrder bool
	}{{"in order", true}, {"concurrent", false}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := natstest.StartServer(t)
			nc, err := nats.Connect("", nats.InProcessServer(srv.Inner()))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(nc.Close)
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			store := eventstore.New(js)
			if err := events.EnsureStreams(context.Background(), store, 1); err != nil {
				t.Fatal(err)
			}
			f := fixture{nc: nc, js: js, store: store}
			const n = 3000
			for i := range n {
				f.append(t, "v"+strconv.Itoa(i))
			}
			stop := make(chan struct{})
			var noise sync.WaitGroup
			for range 4 {
				noise.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
							_ = nc.Publish("ballast.test.noise", []byte("x"))
						}
					}
				})
			}
			t.Cleanup(func() { close(stop); noise.Wait() })
			var c collect
			busy := consumer("busy")
			busy.InOrder = tc.inOrder
			f.router(t, busy, c.mux())
			for done := 0; done < n; done = c.count() {
				// The stall lasted 30 s; a few seconds without progress is one.
				waitfor.Condition(t, 5*time.Second, "an event handled after "+strconv.Itoa(done), func() bool { return c.count() > done })
			}
		})
	}
}

// An in-order consumer has many messages on their way from the server, and
// still handles them one at a time, in stream order: a message that cannot
// be settled (here, its dead letter cannot be stored) is handled again
// before the ones behind it, and a message the server redelivers while an
// earlier one runs long is not handled twice.
func TestInOrderConsumerKeepsOrderWithMessagesInFlight(t *testing.T) {
	f := setup(t)
	var mu sync.Mutex
	var seen []string
	var failed atomic.Bool
	mux := &bus.Mux{}
	bus.On(mux, func(ctx context.Context, ev bus.Event, m *pb.VolumeRequested) error {
		mu.Lock()
		seen = append(seen, m.GetVolumeName())
		mu.Unlock()
		switch m.GetVolumeName() {
		case "v0":
			if !failed.Swap(true) {
				return bus.Permanent(errors.New("refused once"))
			}
		case "v1":
			// Longer than the ack wait: the server redelivers the
			// messages queued behind this one meanwhile.
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
			}
		}
		return nil
	})
	// Without the dead-letter stream the first refusal cannot be recorded,
	// so the message is not settled and must come again.
	if err := f.js.DeleteStream(context.Background(), events.DeadLetterStream); err != nil {
		t.Fatal(err)
	}
	const n = 10
	var want []string
	for i := range n {
		name := "v" + strconv.Itoa(i)
		f.append(t, name)
		want = append(want, name)
	}
	c := consumer("ordered")
	c.InOrder = true
	c.AckWait = 300 * time.Millisecond
	r := f.router(t, c, mux)
	waitFor(t, "every event handled", func() bool { return r.Stats().Handled == n })
	mu.Lock()
	defer mu.Unlock()
	want = append([]string{"v0"}, want...) // v0 refused once, then handled
	if strings.Join(seen, ",") != strings.Join(want, ",") {
		t.Fatalf("handled %v, want %v", seen, want)
	}
	info, err := f.js.Consumer(context.Background(), events.Volume.Stream, "ordered")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every event acknowledged", func() bool {
		i, err := info.Info(context.Background())
		return err == nil && i.NumAckPending == 0 && i.AckFloor.Stream == uint64(n)
	})
}

// An in-order consumer whose process died holding messages, with more
// appended since, goes on at once after its restart from the first message
// it had not finished, in order, losing none: the held messages are not
// left to come back after the ack wait, behind later ones.
func TestInOrderConsumerGoesOnInOrderAfterACrash(t *testing.T) {
	f := setup(t)
	dying := natstest.Connect(t, f.url)
	djs, err := jetstream.New(dying)
	if err != nil {
		t.Fatal(err)
	}
	stuck := make(chan struct{})
	hang := &bus.Mux{}
	bus.On(hang, func(ctx context.Context, ev bus.Event, m *pb.VolumeRequested) error {
		if m.GetVolumeName() == "v03" {
			close(stuck)
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	})
	c := bus.Consumer{Name: "crash", Stream: events.Volume.Stream, Filter: events.Volume.Filter(), InOrder: true, AckWait: 10 * time.Second}
	var want []string
	for i := range 10 {
		f.append(t, fmt.Sprintf("v%02d", i))
	}
	f.routerOn(t, djs, "test", c, hang)
	<-stuck
	dying.Close() // as SIGKILL would: v03 to v09 held, none settled
	for i := 10; i < 20; i++ {
		f.append(t, fmt.Sprintf("v%02d", i))
	}
	for i := 3; i < 20; i++ {
		want = append(want, fmt.Sprintf("v%02d", i))
	}
	restarted := time.Now()
	var got collect
	f.router(t, c, got.mux())
	waitFor(t, "every held and later event handled", func() bool { return got.count() >= len(want) })
	if d := time.Since(restarted); d >= c.AckWait {
		t.Errorf("took %s after the restart, as long as the ack wait", d)
	}
	got.mu.Lock()
	defer got.mu.Unlock()
	if strings.Join(got.names, ",") != strings.Join(want, ",") {
		t.Fatalf("handled %v, want %v", got.names, want)
	}
}
