package eventstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"ballast.dev/platform/natsserver"
	"ballast.dev/platform/natsserver/natstest"
	"ballast.dev/platform/waitfor"
)

const testStream = "EVT"

// newTestStore starts a server, connects, and ensures the test stream.
func newTestStore(t testing.TB, opts ...Option) (*Store, jetstream.JetStream) {
	t.Helper()
	nc := natstest.Connect(t, natstest.Start(t))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s := New(js, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.EnsureStream(ctx, StreamConfig{Name: testStream, Subjects: []string{"ballast.evt.>"}}); err != nil {
		t.Fatal(err)
	}
	return s, js
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func ev(id, typ string) Event {
	return Event{Type: typ, ID: id, Data: []byte("data-" + id)}
}

func mustAppend(t testing.TB, s *Store, subject string, expected uint64, events ...Event) uint64 {
	t.Helper()
	seq, err := s.Append(testCtx(t), subject, expected, events...)
	if err != nil {
		t.Fatalf("append %s expected %d: %v", subject, expected, err)
	}
	return seq
}

func mustLoad(t testing.TB, s *Store, subject string) ([]Record, uint64) {
	t.Helper()
	recs, last, err := s.Load(testCtx(t), testStream, subject)
	if err != nil {
		t.Fatalf("load %s: %v", subject, err)
	}
	return recs, last
}

func TestAppendLoadRoundTrip(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	const subj = "ballast.evt.volume.v1"

	recs, last := mustLoad(t, s, subj)
	if len(recs) != 0 || last != 0 {
		t.Fatalf("empty subject: got %d records, last %d", len(recs), last)
	}

	first := Event{Type: "ballast.v1.VolumeRequested", SchemaVersion: 2, Data: []byte{1, 2, 3}, ID: "cmd-1/0", CorrelationID: "corr-1"}
	seq1 := mustAppend(t, s, subj, 0, first)
	// Another aggregate in between: versions are stream sequences, with gaps.
	mustAppend(t, s, "ballast.evt.volume.other", 0, ev("other-1", "ballast.v1.VolumeRequested"))
	seq3 := mustAppend(t, s, subj, seq1, ev("cmd-2/0", "ballast.v1.ReplicasAssigned"), ev("cmd-2/1", "ballast.v1.VolumeReady"))

	recs, last = mustLoad(t, s, subj)
	if last != seq3 || len(recs) != 3 {
		t.Fatalf("got %d records, last %d; want 3, last %d", len(recs), last, seq3)
	}
	r := recs[0]
	if r.Type != first.Type || r.SchemaVersion != 2 || string(r.Data) != string(first.Data) ||
		r.ID != first.ID || r.CorrelationID != "corr-1" || r.Subject != subj || r.Sequence != seq1 {
		t.Fatalf("first record = %+v", r)
	}
	if r.Time.IsZero() || time.Since(r.Time) > time.Minute {
		t.Fatalf("record time %v", r.Time)
	}
	if got := r.Header.Get(HeaderEventType); got != first.Type {
		t.Fatalf("header %s = %q", HeaderEventType, got)
	}
	if got := r.Header.Get(jetstream.SequenceHeader); got != "" {
		t.Fatalf("direct-get header leaked into record: %s=%q", jetstream.SequenceHeader, got)
	}
	if recs[1].SchemaVersion != 1 || recs[1].Type != "ballast.v1.ReplicasAssigned" || recs[2].Type != "ballast.v1.VolumeReady" {
		t.Fatalf("batch records = %+v, %+v", recs[1], recs[2])
	}
	if recs[1].Sequence != seq1+2 || recs[2].Sequence != seq3 {
		t.Fatalf("sequences %d, %d; want %d, %d", recs[1].Sequence, recs[2].Sequence, seq1+2, seq3)
	}

	ls, err := s.LastSequence(testCtx(t), testStream)
	if err != nil || ls != seq3 {
		t.Fatalf("LastSequence = %d, %v; want %d", ls, err, seq3)
	}
}

func TestLoadPages(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, WithLoadBatch(3))
	const subj = "ballast.evt.volume.paged"
	var last uint64
	var want []uint64
	for i := range 10 {
		last = mustAppend(t, s, subj, last, ev(fmt.Sprintf("p-%d", i), "T"))
		want = append(want, last)
		mustAppend(t, s, fmt.Sprintf("ballast.evt.volume.noise%d", i), 0, ev(fmt.Sprintf("n-%d", i), "T"))
	}
	recs, l := mustLoad(t, s, subj)
	var got []uint64
	for _, r := range recs {
		got = append(got, r.Sequence)
	}
	if !slices.Equal(got, want) || l != last {
		t.Fatalf("sequences %v last %d; want %v last %d", got, l, want, last)
	}
}

func TestAppendValidation(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	ctx := testCtx(t)
	cases := map[string][]Event{
		"no events":    nil,
		"no type":      {{ID: "a"}},
		"no id":        {{Type: "T"}},
		"duplicate id": {ev("a", "T"), ev("a", "T")},
	}
	for name, events := range cases {
		if _, err := s.Append(ctx, "ballast.evt.x.1", 0, events...); !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("%s: err = %v, want ErrInvalidEvent", name, err)
		}
	}
	if _, last := mustLoad(t, s, "ballast.evt.x.1"); last != 0 {
		t.Fatalf("invalid appends wrote something: last %d", last)
	}
}

func TestCreateIsUnique(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	const subj = "ballast.evt.volume.race"
	const writers = 16

	var (
		wg     sync.WaitGroup
		start  = make(chan struct{})
		seqs   = make([]uint64, writers)
		errs   = make([]error, writers)
		ctx    = testCtx(t)
		wins   int
		winSeq uint64
	)
	for i := range writers {
		wg.Go(func() {
			<-start
			seqs[i], errs[i] = s.Append(ctx, subj, 0, ev(fmt.Sprintf("create-%d", i), "ballast.v1.VolumeRequested"))
		})
	}
	close(start)
	wg.Wait()
	for i := range writers {
		if errs[i] == nil {
			wins++
			winSeq = seqs[i]
		}
	}
	if wins != 1 {
		t.Fatalf("%d writers won, want exactly 1 (errors %v)", wins, errs)
	}
	for i, err := range errs {
		if err == nil {
			continue
		}
		var cerr *ConflictError
		if !errors.Is(err, ErrConflict) || !errors.As(err, &cerr) {
			t.Fatalf("writer %d: err = %v, want a conflict", i, err)
		}
		if cerr.Subject != subj || cerr.Expected != 0 || cerr.Actual != winSeq {
			t.Fatalf("writer %d: conflict %+v, want actual %d", i, cerr, winSeq)
		}
	}
	if recs, _ := mustLoad(t, s, subj); len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
}

func TestAppendWrongExpected(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	const subj = "ballast.evt.volume.v2"
	seq1 := mustAppend(t, s, subj, 0, ev("a", "T"))
	seq2 := mustAppend(t, s, subj, seq1, ev("b", "T"))

	for _, tc := range []struct {
		subject          string
		expected, actual uint64
	}{
		{subj, seq1, seq2}, // stale
		{subj, 0, seq2},    // creating what exists
		{subj, seq2 + 7, seq2},
		{"ballast.evt.volume.empty", 5, 0}, // expecting history that is not there
	} {
		_, err := s.Append(testCtx(t), tc.subject, tc.expected, ev("c", "T"))
		var cerr *ConflictError
		if !errors.Is(err, ErrConflict) || !errors.As(err, &cerr) {
			t.Fatalf("expected %d: err = %v, want conflict", tc.expected, err)
		}
		if cerr.Expected != tc.expected || cerr.Actual != tc.actual || cerr.Subject != tc.subject {
			t.Fatalf("conflict = %+v, want expected %d actual %d", cerr, tc.expected, tc.actual)
		}
		var apiErr *jetstream.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrorCode != codeWrongLastSequence {
			t.Fatalf("conflict does not wrap the server error: %v", err)
		}
	}
	if recs, _ := mustLoad(t, s, subj); len(recs) != 2 {
		t.Fatalf("%d records after conflicts, want 2", len(recs))
	}
}

func TestBatchIsAtomic(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	const subj = "ballast.evt.volume.batch"
	seq0 := mustAppend(t, s, subj, 0, ev("init", "T"))

	// Writers on other subjects at the same time must not interleave with
	// the batch.
	ctx := testCtx(t)
	stop := make(chan struct{})
	var noise sync.WaitGroup
	noise.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_, _ = s.Append(ctx, fmt.Sprintf("ballast.evt.noise.%d", i), 0, ev(fmt.Sprintf("noise-%d", i), "T"))
		}
	})

	var batch []Event
	for i := range 5 {
		batch = append(batch, ev(fmt.Sprintf("batch/%d", i), "T"))
	}
	last := mustAppend(t, s, subj, seq0, batch...)
	close(stop)
	noise.Wait()

	recs, l := mustLoad(t, s, subj)
	if len(recs) != 6 || l != last {
		t.Fatalf("%d records last %d, want 6 last %d", len(recs), l, last)
	}
	for i, r := range recs[1:] {
		if r.Sequence != last-4+uint64(i) || r.ID != batch[i].ID {
			t.Fatalf("record %d = seq %d id %s; want contiguous seq %d id %s", i, r.Sequence, r.ID, last-4+uint64(i), batch[i].ID)
		}
	}

	// A batch with a stale expectation leaves nothing behind.
	before, err := s.LastSequence(ctx, testStream)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Append(ctx, subj, seq0, ev("stale/0", "T"), ev("stale/1", "T"), ev("stale/2", "T"))
	var cerr *ConflictError
	if !errors.As(err, &cerr) || cerr.Actual != last {
		t.Fatalf("stale batch: err = %v, want conflict with actual %d", err, last)
	}
	after, err := s.LastSequence(ctx, testStream)
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Fatalf("stale batch changed the stream: last %d -> %d", before, after)
	}
	if recs, _ := mustLoad(t, s, subj); len(recs) != 6 {
		t.Fatalf("%d records after stale batch, want 6", len(recs))
	}
}

func TestDuplicateIDAppliedOnce(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	const subj = "ballast.evt.volume.dup"
	e := ev("cmd-7/0", "T")
	seq := mustAppend(t, s, subj, 0, e)

	// The expectation holds (the server sees the id as a duplicate) ...
	if got := mustAppend(t, s, subj, seq, e); got != seq {
		t.Fatalf("duplicate with current expectation: seq %d, want %d", got, seq)
	}
	// ... or is stale (R1: the server checks it before the id): the same
	// event is recognised as ours either way.
	if got := mustAppend(t, s, subj, 0, e); got != seq {
		t.Fatalf("retried command with stale expectation: seq %d, want %d", got, seq)
	}
	// A batch retried the same way.
	b := []Event{ev("cmd-8/0", "T"), ev("cmd-8/1", "T")}
	bseq := mustAppend(t, s, subj, seq, b...)
	if got := mustAppend(t, s, subj, seq, b...); got != bseq {
		t.Fatalf("retried batch: seq %d, want %d", got, bseq)
	}
	if recs, _ := mustLoad(t, s, subj); len(recs) != 3 {
		t.Fatalf("%d records, want 3", len(recs))
	}
	// Another event with a stale expectation is still a conflict.
	if _, err := s.Append(testCtx(t), subj, seq, ev("cmd-9/0", "T")); !errors.Is(err, ErrConflict) {
		t.Fatalf("err = %v, want conflict", err)
	}
}

// loseFirstAck makes the first attempt reach the server but report a
// timeout, as when the acknowledgement is lost.
func loseFirstAck(s *Store) *atomic.Int32 {
	var calls atomic.Int32
	real := s.publish
	s.publish = func(ctx context.Context, msgs []*nats.Msg) (appended, error) {
		r, err := real(ctx, msgs)
		if calls.Add(1) == 1 && err == nil {
			return appended{}, fmt.Errorf("publish: %w", context.DeadlineExceeded)
		}
		return r, err
	}
	return &calls
}

func TestLostAckIsRetried(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprintf("events=%d", n), func(t *testing.T) {
			t.Parallel()
			s, _ := newTestStore(t)
			calls := loseFirstAck(s)
			subj := fmt.Sprintf("ballast.evt.volume.lost%d", n)
			var events []Event
			for i := range n {
				events = append(events, ev(fmt.Sprintf("lost/%d", i), "T"))
			}
			seq, err := s.Append(testCtx(t), subj, 0, events...)
			if err != nil {
				t.Fatalf("append with lost ack: %v", err)
			}
			if calls.Load() != 2 {
				t.Fatalf("%d attempts, want 2", calls.Load())
			}
			recs, last := mustLoad(t, s, subj)
			if len(recs) != n || last != seq {
				t.Fatalf("%d records last %d; want %d last %d", len(recs), last, n, seq)
			}
		})
	}
}

func TestAttemptsAreBounded(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, WithMaxAttempts(3))
	var calls atomic.Int32
	s.publish = func(ctx context.Context, msgs []*nats.Msg) (appended, error) {
		calls.Add(1)
		return appended{}, nats.ErrTimeout
	}
	_, err := s.Append(testCtx(t), "ballast.evt.volume.never", 0, ev("x", "T"))
	if !errors.Is(err, nats.ErrTimeout) || calls.Load() != 3 {
		t.Fatalf("err = %v after %d attempts; want nats.ErrTimeout after 3", err, calls.Load())
	}
}

func TestAppendAsync(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	ctx := testCtx(t)
	const n = 200
	futures := make([]*AppendFuture, n)
	for i := range n {
		f, err := s.AppendAsync(ctx, fmt.Sprintf("ballast.evt.volume.a%d", i), 0, ev(fmt.Sprintf("a-%d", i), "T"))
		if err != nil {
			t.Fatal(err)
		}
		futures[i] = f
	}
	seen := map[uint64]bool{}
	for i, f := range futures {
		seq, err := f.Wait(ctx)
		if err != nil || seq == 0 || seen[seq] {
			t.Fatalf("future %d: seq %d err %v", i, seq, err)
		}
		seen[seq] = true
	}
	// Conflicts map like Append's; the same event again is recognised.
	f, err := s.AppendAsync(ctx, "ballast.evt.volume.a0", 0, ev("other", "T"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Wait(ctx); !errors.Is(err, ErrConflict) {
		t.Fatalf("err = %v, want conflict", err)
	}
	first, _ := futures[0].Wait(ctx)
	f, err = s.AppendAsync(ctx, "ballast.evt.volume.a0", 0, ev("a-0", "T"))
	if err != nil {
		t.Fatal(err)
	}
	if seq, err := f.Wait(ctx); err != nil || seq != first {
		t.Fatalf("same event again: seq %d err %v; want %d", seq, err, first)
	}
}

func TestSubscribeFromCheckpoint(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	ctx := testCtx(t)

	var all []uint64 // sequences on ballast.evt.volume.>
	for i := range 10 {
		all = append(all, mustAppend(t, s, fmt.Sprintf("ballast.evt.volume.s%d", i), 0, ev(fmt.Sprintf("s-%d", i), "T")))
		mustAppend(t, s, fmt.Sprintf("ballast.evt.node.n%d", i), 0, ev(fmt.Sprintf("n-%d", i), "T"))
	}
	checkpoint := all[3]

	got := make(chan Record, 100)
	sub, err := s.Subscribe(ctx, testStream, "ballast.evt.volume.>", checkpoint, func(_ context.Context, r Record) error {
		got <- r
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()

	// Live appends after the catch-up started.
	for i := 10; i < 15; i++ {
		all = append(all, mustAppend(t, s, fmt.Sprintf("ballast.evt.volume.s%d", i), 0, ev(fmt.Sprintf("s-%d", i), "T")))
	}
	want := all[4:]
	deadline := time.After(10 * time.Second)
	for i, w := range want {
		select {
		case r := <-got:
			if r.Sequence != w || r.ID != fmt.Sprintf("s-%d", i+4) {
				t.Fatalf("delivery %d: seq %d id %s; want seq %d", i, r.Sequence, r.ID, w)
			}
		case <-deadline:
			t.Fatalf("delivered %d of %d records", i, len(want))
		}
	}
	sub.Stop()
	select {
	case <-sub.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("subscription did not stop")
	}
	if sub.Err() != nil {
		t.Fatalf("Err after Stop = %v", sub.Err())
	}
	select {
	case r := <-got:
		t.Fatalf("unexpected extra delivery %+v", r)
	default:
	}
}

func TestSubscribeHandlerErrorStops(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	ctx := testCtx(t)
	for i := range 5 {
		mustAppend(t, s, fmt.Sprintf("ballast.evt.volume.h%d", i), 0, ev(fmt.Sprintf("h-%d", i), "T"))
	}
	boom := errors.New("boom")
	var calls atomic.Int32
	sub, err := s.Subscribe(ctx, testStream, "", 0, func(_ context.Context, r Record) error {
		if calls.Add(1) == 3 {
			return boom
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-sub.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("subscription did not stop on handler error")
	}
	if !errors.Is(sub.Err(), boom) || calls.Load() != 3 {
		t.Fatalf("Err = %v after %d calls; want boom after 3", sub.Err(), calls.Load())
	}
}

func TestSubscribeStopsWithContext(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	ctx, cancel := context.WithCancel(testCtx(t))
	sub, err := s.Subscribe(ctx, testStream, "", 0, func(context.Context, Record) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-sub.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("subscription did not stop when its context ended")
	}
	if sub.Err() != nil {
		t.Fatalf("Err = %v, want nil", sub.Err())
	}
}

func TestTraceContextRoundTrip(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, WithPropagator(propagation.TraceContext{}))
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	})
	ctx := trace.ContextWithSpanContext(testCtx(t), sc)
	const subj = "ballast.evt.volume.traced"
	seq, err := s.Append(ctx, subj, 0, ev("t-1", "T"))
	if err != nil {
		t.Fatal(err)
	}

	recs, _ := mustLoad(t, s, subj)
	h := recs[0].Header
	want := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	if got := h.Get("traceparent"); got != want {
		t.Fatalf("traceparent = %q, want %q (headers %v)", got, want, h)
	}
	if _, ok := h["Traceparent"]; ok {
		t.Fatal("canonical Traceparent header written")
	}

	got := make(chan trace.SpanContext, 1)
	sub, err := s.Subscribe(testCtx(t), testStream, subj, seq-1, func(ctx context.Context, _ Record) error {
		got <- trace.SpanContextFromContext(ctx)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	select {
	case rsc := <-got:
		if rsc.TraceID() != sc.TraceID() || rsc.SpanID() != sc.SpanID() || !rsc.IsRemote() {
			t.Fatalf("extracted %v, want remote %v", rsc, sc)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery")
	}
}

func TestStreamKeepsEverything(t *testing.T) {
	t.Parallel()
	s, js := newTestStore(t)
	ctx := testCtx(t)
	// Idempotent.
	if err := s.EnsureStream(ctx, StreamConfig{Name: testStream, Subjects: []string{"ballast.evt.>"}}); err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, testStream)
	if err != nil {
		t.Fatal(err)
	}
	c := st.CachedInfo().Config
	if c.Storage != jetstream.FileStorage || c.MaxAge != 0 || c.MaxMsgs != -1 || c.MaxBytes != -1 ||
		c.MaxMsgsPerSubject != -1 || !c.DenyDelete || !c.DenyPurge || !c.AllowDirect ||
		!c.AllowAtomicPublish || c.Duplicates != DuplicateWindow || c.Replicas != 1 {
		t.Fatalf("stream config %+v", c)
	}
	seq := mustAppend(t, s, "ballast.evt.volume.keep", 0, ev("k", "T"))
	if err := st.Purge(ctx); err == nil {
		t.Fatal("purge allowed")
	}
	if err := st.DeleteMsg(ctx, seq); err == nil {
		t.Fatal("delete allowed")
	}
	if recs, _ := mustLoad(t, s, "ballast.evt.volume.keep"); len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
}

func TestCorrelationIDFromContext(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	ctx := WithCorrelationID(testCtx(t), "req-42")
	const subj = "ballast.evt.volume.corr"
	seq, err := s.Append(ctx, subj, 0, ev("c-1", "T"))
	if err != nil {
		t.Fatal(err)
	}
	own := Event{Type: "T", ID: "c-2", CorrelationID: "explicit"}
	if _, err := s.Append(ctx, subj, seq, own); err != nil {
		t.Fatal(err)
	}
	recs, _ := mustLoad(t, s, subj)
	if recs[0].CorrelationID != "req-42" || recs[1].CorrelationID != "explicit" {
		t.Fatalf("correlation ids %q, %q", recs[0].CorrelationID, recs[1].CorrelationID)
	}

	got := make(chan string, 1)
	sub, err := s.Subscribe(testCtx(t), testStream, subj, 0, func(ctx context.Context, _ Record) error {
		select {
		case got <- CorrelationID(ctx):
		default:
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	select {
	case id := <-got:
		if id != "req-42" {
			t.Fatalf("handler context correlation id %q, want req-42", id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery")
	}
}

// A subscription outlives its server: across a restart of nats-server on
// the same store it goes on from the last record delivered, neither losing
// nor repeating one.
func TestSubscribeSurvivesAServerRestart(t *testing.T) {
	dir := t.TempDir()
	start := func(port int) *natsserver.Server {
		t.Helper()
		ns, err := natsserver.Start(context.Background(), natsserver.Config{Port: port, StoreDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		return ns
	}
	ns := start(natsserver.RandomPort)
	port := ns.Inner().Addr().(*net.TCPAddr).Port
	nc := natstest.Connect(t, ns.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	js, _ := jetstream.New(nc)
	s := New(js)
	if err := s.EnsureStream(testCtx(t), StreamConfig{Name: testStream, Subjects: []string{"ballast.evt.>"}}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []uint64
	sub, err := s.Subscribe(testCtx(t), testStream, "", 0, func(_ context.Context, r Record) error {
		mu.Lock()
		got = append(got, r.Sequence)
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }
	for i := range 5 {
		mustAppend(t, s, fmt.Sprintf("ballast.evt.a.%d", i), 0, ev(fmt.Sprintf("a%d", i), "T"))
	}
	waitfor.Condition(t, 10*time.Second, "five records", func() bool { return count() == 5 })
	ns.Shutdown()
	ns = start(port)
	defer ns.Shutdown()
	waitfor.Condition(t, 10*time.Second, "reconnected", nc.IsConnected)
	for i := range 5 {
		mustAppend(t, s, fmt.Sprintf("ballast.evt.b.%d", i), 0, ev(fmt.Sprintf("b%d", i), "T"))
	}
	waitfor.Condition(t, 30*time.Second, "ten records", func() bool { return count() == 10 })
	select {
	case <-sub.Done():
		t.Fatalf("subscription ended: %v", sub.Err())
	default:
	}
	mu.Lock()
	defer mu.Unlock()
	for i, seq := range got {
		if seq != uint64(i+1) {
			t.Fatalf("records %v: lost or repeated one", got)
		}
	}
}

// An append of ids stored before reports that it stored nothing new: what
// the log holds is the earlier append, whatever this one carried.
func TestAppendOnceTellsAnEarlierAppendFromItsOwn(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	subj := "ballast.evt.volume.once"
	first := Event{Type: "T", ID: "cmd-1/0", Data: []byte("first")}
	seq, fresh, err := s.AppendOnce(testCtx(t), subj, 0, first)
	if err != nil || !fresh {
		t.Fatalf("first append: fresh %v, %v", fresh, err)
	}
	again := Event{Type: "T", ID: "cmd-1/0", Data: []byte("decided again")}
	seq2, fresh, err := s.AppendOnce(testCtx(t), subj, 0, again)
	if err != nil || fresh || seq2 != seq {
		t.Fatalf("the same id again: seq %d (first %d), fresh %v, %v", seq2, seq, fresh, err)
	}
	if recs, _ := mustLoad(t, s, subj); len(recs) != 1 || string(recs[0].Data) != "first" {
		t.Fatalf("log holds %v", recs)
	}
}
