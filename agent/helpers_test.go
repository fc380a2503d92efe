package agent_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"ballast.dev/agent"
	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
	"ballast.dev/platform/natsconn"
	"ballast.dev/platform/natsserver/natstest"
	"ballast.dev/platform/waitfor"
	ballastv1 "ballast.dev/proto/ballast/v1"
)

// env is one embedded server and a connection to it; every test gets its
// own, so tests run in parallel.
type env struct {
	conn  *natsconn.Conn
	store *eventstore.Store
	logs  *logRecorder
}

func setup(t *testing.T) *env {
	t.Helper()
	t.Parallel()
	url := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	logs := &logRecorder{}
	conn, err := natsconn.Dial(ctx, natsconn.Options{URL: url, Name: t.Name(), Logger: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	return &env{conn: conn, store: conn.Store, logs: logs}
}

// start runs an agent named "sim" with seed 1 and no telemetry unless cfg
// says otherwise, and closes it when the test ends.
func (e *env) start(t *testing.T, cfg agent.Config) *agent.Agent {
	t.Helper()
	cfg.Conn = e.conn
	if cfg.Name == "" {
		cfg.Name = "sim"
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	if cfg.TelemetryInterval == 0 {
		cfg.TelemetryInterval = -1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, err := agent.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return a
}

// appendVolume appends a volume event the way the volume service would and
// returns its stream sequence.
func (e *env) appendVolume(t *testing.T, volume string, m proto.Message) uint64 {
	t.Helper()
	ctx := context.Background()
	_, last, err := e.store.Load(ctx, events.Volume.Stream, events.Volume.Subject(volume))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := events.Encode(fmt.Sprintf("test/%s/%d", volume, last), m)
	if err != nil {
		t.Fatal(err)
	}
	seq, err := e.store.Append(ctx, events.Volume.Subject(volume), last, ev)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

// nodeEvents returns a node's history, decoded.
func (e *env) nodeEvents(t *testing.T, node string) []proto.Message {
	t.Helper()
	recs, _, err := e.store.Load(context.Background(), events.Node.Stream, events.Node.Subject(node))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]proto.Message, len(recs))
	for i, r := range recs {
		if out[i], err = events.Decode(r.Type, r.Data); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// ofType keeps the events of type T.
func ofType[T proto.Message](msgs []proto.Message) []T {
	var out []T
	for _, m := range msgs {
		if v, ok := m.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// waitEvents waits until node's history holds want events of type T and
// returns them.
func waitEvents[T proto.Message](t *testing.T, e *env, node string, want int) []T {
	t.Helper()
	var got []T
	waitFor(t, fmt.Sprintf("%d %T on %s", want, *new(T), node), func() bool {
		got = ofType[T](e.nodeEvents(t, node))
		return len(got) >= want
	})
	if len(got) != want {
		t.Fatalf("%s: %d %T, want %d", node, len(got), *new(T), want)
	}
	return got
}

// waitHandled waits until the agent's consumer has acknowledged every
// volume event up to seq: after it, the absence of an event is a fact.
func (e *env) waitHandled(t *testing.T, name string, seq uint64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("volume events through %d handled", seq), func() bool {
		c, err := e.conn.JS.Consumer(context.Background(), events.Volume.Stream, "agent-"+name)
		if err != nil {
			t.Fatal(err)
		}
		info, err := c.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return info.AckFloor.Stream >= seq
	})
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitfor.Condition(t, 20*time.Second, what, cond)
}

// replica builds an assigned replica.
func replica(id, node, disk string) *ballastv1.Replica {
	return &ballastv1.Replica{Id: id, NodeId: node, DiskId: disk, State: ballastv1.ReplicaState_REPLICA_STATE_PENDING}
}

// disk returns the id and capacity of a node's i-th disk.
func disk(t *testing.T, a *agent.Agent, node string, i int) (string, uint64) {
	t.Helper()
	n, ok := a.SimNode(node)
	if !ok {
		t.Fatalf("no node %s", node)
	}
	d := n.Spec().Disks[i]
	return d.ID, d.CapacityBytes
}

const gib = 1 << 30

// logRecorder keeps every message logged and its level, so tests can see
// which path the agent took and what an operator at each level would read.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
	lvls []slog.Level
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	l.lvls = append(l.lvls, r.Level)
	return nil
}

func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// has reports whether msg was logged at Info or above.
func (l *logRecorder) has(msg string) bool {
	return slices.Contains(l.at(slog.LevelInfo), msg)
}

// at returns the messages logged at lvl or above, in order.
func (l *logRecorder) at(lvl slog.Level) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for i, m := range l.msgs {
		if l.lvls[i] >= lvl {
			out = append(out, m)
		}
	}
	return out
}
