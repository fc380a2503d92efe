package bus_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"ballast.dev/platform/bus"
	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
	"ballast.dev/platform/natsserver/natstest"
	"ballast.dev/platform/waitfor"
)

type fixture struct {
	url   string
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
	return fixture{url: url, js: js, store: store}
}

func (f fixture) router(t *testing.T, c bus.Consumer, mux *bus.Mux) *bus.Router {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	connect := func() (*nats.Conn, error) { return nats.Connect(f.url) }
	r, err := bus.NewRouter(ctx, "test", connect, f.js, slog.New(slog.NewTextHandler(io.Discard, nil)))
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

func (f fixture) append(t *testing.T, id, value string) {
	t.Helper()
	ev, err := events.Encode(id, wrapperspb.String(value))
	if err != nil {
		t.Fatal(err)
	}
	ev.CorrelationID = "corr-" + id
	if _, err := f.store.Append(context.Background(), events.Volume.Subject(id), 0, ev); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitfor.Condition(t, 15*time.Second, what, cond)
}

func consumer(name string) bus.Consumer {
	return bus.Consumer{Name: name, Stream: events.Volume.Stream, Filter: events.Volume.Filter(), AckWait: 2 * time.Second}
}

func TestHandlerGetsDecodedEventsWithCorrelation(t *testing.T) {
	f := setup(t)
	var mu sync.Mutex
	got := map[string]bus.Event{}
	corr := map[string]string{}
	mux := &bus.Mux{}
	bus.On(mux, func(ctx context.Context, ev bus.Event, m *wrapperspb.StringValue) error {
		mu.Lock()
		defer mu.Unlock()
		got[m.GetValue()] = ev
		corr[m.GetValue()] = eventstore.CorrelationID(ctx)
		return nil
	})
	f.router(t, consumer("decode"), mux)
	for _, v := range []string{"a", "b", "c"} {
		f.append(t, v, v)
	}
	waitFor(t, "three events", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 3 })
	mu.Lock()
	defer mu.Unlock()
	ev := got["b"]
	if ev.Subject != events.Volume.Subject("b") || ev.Sequence != 2 || ev.Type != "google.protobuf.StringValue" || ev.Time.IsZero() {
		t.Fatalf("event b: %+v", ev)
	}
	if corr["b"] != "corr-b" || ev.CorrelationID != "corr-b" {
		t.Fatalf("correlation of b: ctx %q, event %q", corr["b"], ev.CorrelationID)
	}
}

func deadLetters(t *testing.T, f fixture) []*nats.Msg {
	t.Helper()
	var out []*nats.Msg
	s, err := f.js.Stream(context.Background(), bus.DeadLetterStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(context.Background(), seq)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &nats.Msg{Subject: m.Subject, Header: m.Header, Data: m.Data})
	}
	return out
}

func TestFailingMessageIsRetriedThenDeadLetteredAndTheStreamMovesOn(t *testing.T) {
	f := setup(t)
	var attempts atomic.Int32
	var handled sync.Map
	mux := &bus.Mux{}
	bus.On(mux, func(ctx context.Context, ev bus.Event, m *wrapperspb.StringValue) error {
		switch m.GetValue() {
		case "poison":
			attempts.Add(1)
			return errors.New("disk on fire")
		case "panic":
			panic("handler bug")
		}
		handled.Store(m.GetValue(), true)
		return nil
	})
	f.router(t, bus.Consumer{Name: "poison", Stream: events.Volume.Stream, Filter: events.Volume.Filter(), InOrder: true, AckWait: 5 * time.Second}, mux)
	f.append(t, "p", "poison")
	f.append(t, "q", "panic")
	f.append(t, "after", "after")
	waitFor(t, "the event after the poisoned ones", func() bool { _, ok := handled.Load("after"); return ok })
	if n := attempts.Load(); n != 6 {
		t.Errorf("poisoned message handled %d times, want 1 + 5 retries", n)
	}
	dl := deadLetters(t, f)
	if len(dl) != 2 {
		t.Fatalf("%d dead letters, want 2", len(dl))
	}
	if r := dl[0].Header.Get("reason_poisoned"); r != "disk on fire" {
		t.Errorf("reason %q", r)
	}
	if dl[0].Subject != bus.DeadLetterSubject("test") || dl[0].Header.Get(eventstore.HeaderEventType) == "" {
		t.Errorf("dead letter %s headers %v", dl[0].Subject, dl[0].Header)
	}
}

func TestUndecodableMessageIsDeadLetteredWithoutRetries(t *testing.T) {
	f := setup(t)
	var calls atomic.Int32
	mux := &bus.Mux{}
	bus.On(mux, func(ctx context.Context, ev bus.Event, m *wrapperspb.StringValue) error {
		calls.Add(1)
		return nil
	})
	f.router(t, consumer("garbage"), mux)
	bad := eventstore.Event{Type: "google.protobuf.StringValue", Data: []byte{0xff, 0xff, 0xff}, ID: "bad"}
	if _, err := f.store.Append(context.Background(), events.Volume.Subject("bad"), 0, bad); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a dead letter", func() bool { return len(deadLetters(t, f)) == 1 })
	if calls.Load() != 0 {
		t.Fatal("handler called with an undecodable payload")
	}
}

func TestDurablePositionSurvivesRestart(t *testing.T) {
	f := setup(t)
	var mu sync.Mutex
	var seen []string
	mux := &bus.Mux{}
	bus.On(mux, func(ctx context.Context, ev bus.Event, m *wrapperspb.StringValue) error {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, m.GetValue())
		return nil
	})
	r := f.router(t, consumer("durable"), mux)
	f.append(t, "one", "one")
	waitFor(t, "first event", func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) == 1 })
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	f.append(t, "two", "two")
	f.router(t, consumer("durable"), mux)
	waitFor(t, "second event", func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) == 2 })
	mu.Lock()
	defer mu.Unlock()
	if seen[0] != "one" || seen[1] != "two" {
		t.Fatalf("seen %v: the restart redelivered or lost an event", seen)
	}
}

func TestCloseAfterTheContextEndedClosesTheConnections(t *testing.T) {
	f := setup(t)
	var mu sync.Mutex
	var conns []*nats.Conn
	connect := func() (*nats.Conn, error) {
		nc, err := nats.Connect(f.url)
		mu.Lock()
		defer mu.Unlock()
		conns = append(conns, nc)
		return nc, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r, err := bus.NewRouter(ctx, "test", connect, f.js, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Handle(ctx, consumer("closing"), &bus.Mux{}); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cancel() // as when a process stops on Ctrl-C: the context ends first
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, nc := range conns {
		if !nc.IsClosed() {
			t.Errorf("connection %d still open after Close", i)
		}
	}
}
