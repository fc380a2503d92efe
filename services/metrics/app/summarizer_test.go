package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"ballast.dev/services/metrics/domain"
)

// memLog is an in-memory Log with the event store's optimistic append.
type memLog struct {
	mu      sync.Mutex
	seq     uint64
	last    map[string]uint64
	history map[string][]domain.Summary
	down    bool
}

func newMemLog() *memLog {
	return &memLog{last: map[string]uint64{}, history: map[string][]domain.Summary{}}
}

func (l *memLog) Last(_ context.Context, node string) (uint64, time.Time, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down {
		return 0, time.Time{}, errors.New("log down")
	}
	var end time.Time
	if h := l.history[node]; len(h) > 0 {
		end = h[len(h)-1].End
	}
	return l.last[node], end, nil
}

func (l *memLog) Append(_ context.Context, s domain.Summary, expected uint64) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down {
		return 0, errors.New("log down")
	}
	if l.last[s.Node] != expected {
		return 0, ErrConflict
	}
	l.seq++
	l.last[s.Node] = l.seq
	l.history[s.Node] = append(l.history[s.Node], s)
	return l.seq, nil
}

func (l *memLog) setDown(down bool) { l.mu.Lock(); l.down = down; l.mu.Unlock() }

func (l *memLog) summaries(node string) []domain.Summary {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]domain.Summary(nil), l.history[node]...)
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const interval = 10 * time.Second

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(d time.Duration) { c.mu.Lock(); c.now = t0.Add(d); c.mu.Unlock() }
func sample(d time.Duration, read float64) domain.Sample {
	return domain.Sample{At: t0.Add(d), Disks: []domain.DiskSample{{ReadIOPS: read}}}
}

func setup() (*Summarizer, *memLog, *clock) {
	log, c := newMemLog(), &clock{now: t0}
	return NewSummarizer(log, interval, c.Now, slog.New(slog.NewTextHandler(io.Discard, nil))), log, c
}

func record(t *testing.T, s *Summarizer, c *clock, node string, at time.Duration, read float64) {
	t.Helper()
	c.Set(at)
	if err := s.Record(context.Background(), node, sample(at, read)); err != nil {
		t.Fatal(err)
	}
}

func TestRecordAppendsClosedWindowsPerNode(t *testing.T) {
	s, log, c := setup()
	record(t, s, c, "a", 1*time.Second, 10)
	record(t, s, c, "b", 2*time.Second, 50)
	record(t, s, c, "a", 3*time.Second, 30)
	record(t, s, c, "a", 11*time.Second, 99) // closes a's first window
	got := log.summaries("a")
	if len(got) != 1 || got[0].Samples != 2 || got[0].ReadIOPS != 20 {
		t.Fatalf("a: %+v", got)
	}
	if len(log.summaries("b")) != 0 {
		t.Fatal("b's window closed without a later sample or a quiet interval")
	}
	c.Set(30 * time.Second)
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a, b := log.summaries("a"), log.summaries("b"); len(a) != 2 || len(b) != 1 || b[0].ReadIOPS != 50 {
		t.Fatalf("after flush: a %+v, b %+v", a, b)
	}
	// Nothing new: nothing more.
	c.Set(time.Hour)
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a, b := log.summaries("a"), log.summaries("b"); len(a) != 2 || len(b) != 1 {
		t.Fatalf("summaries without samples: a %+v, b %+v", a, b)
	}
}

func TestConflictReloadsTheHead(t *testing.T) {
	s, log, c := setup()
	record(t, s, c, "a", 1*time.Second, 10)
	// Another writer appends to a's history behind our back: our expected
	// sequence is stale, the window is new to the log.
	if _, err := log.Append(context.Background(), domain.Summary{Node: "a", End: t0}, 0); err != nil {
		t.Fatal(err)
	}
	record(t, s, c, "a", 11*time.Second, 10)
	if got := log.summaries("a"); len(got) != 2 || got[1].End != t0.Add(interval) {
		t.Fatalf("history %+v", got)
	}
	// Another writer records our next window first: ours is dropped, not
	// appended twice or out of order.
	if _, err := log.Append(context.Background(), domain.Summary{Node: "a", End: t0.Add(2 * interval)}, log.last["a"]); err != nil {
		t.Fatal(err)
	}
	record(t, s, c, "a", 25*time.Second, 10)
	if got := log.summaries("a"); len(got) != 3 {
		t.Fatalf("history %+v", got)
	}
}

func TestFailedAppendStaysPendingAndSampleIsCountedOnce(t *testing.T) {
	s, log, c := setup()
	record(t, s, c, "a", 1*time.Second, 10)
	log.setDown(true)
	// The sample that closes the window is accepted even though the append
	// fails: refusing it would have it redelivered and counted twice.
	record(t, s, c, "a", 11*time.Second, 30)
	if err := s.Flush(context.Background()); err == nil {
		t.Fatal("flush succeeded with the log down")
	}
	log.setDown(false)
	c.Set(time.Minute)
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := log.summaries("a")
	if len(got) != 2 || got[0].ReadIOPS != 10 || got[1].ReadIOPS != 30 || got[1].Samples != 1 {
		t.Fatalf("history %+v", got)
	}
}

func TestRestartDropsSamplesOfRecordedWindows(t *testing.T) {
	s, log, c := setup()
	record(t, s, c, "a", 1*time.Second, 10)
	record(t, s, c, "a", 11*time.Second, 10)
	// A new summarizer on the same log, as after a restart.
	s2 := NewSummarizer(log, interval, c.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	c.Set(12 * time.Second)
	if err := s2.Record(context.Background(), "a", sample(5*time.Second, 10)); !errors.Is(err, domain.ErrLate) {
		t.Fatalf("sample of a recorded window: %v, want ErrLate", err)
	}
	record(t, s2, c, "a", 12*time.Second, 10)
	record(t, s2, c, "a", 21*time.Second, 10)
	if got := log.summaries("a"); len(got) != 2 {
		t.Fatalf("history %+v", got)
	}
}

func TestRecordFailsWhenTheHistoryCannotBeRead(t *testing.T) {
	s, log, c := setup()
	log.setDown(true)
	c.Set(0)
	if err := s.Record(context.Background(), "a", sample(0, 1)); err == nil {
		t.Fatal("recorded a sample without knowing the node's history")
	}
	// It was not counted: once the log is back the same sample is.
	log.setDown(false)
	record(t, s, c, "a", 0, 1)
	c.Set(time.Minute)
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := log.summaries("a"); len(got) != 1 || got[0].Samples != 1 {
		t.Fatalf("history %+v", got)
	}
}
