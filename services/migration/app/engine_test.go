package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"ballast.dev/platform/waitfor"
	"ballast.dev/services/migration/domain"
)

// memJournal is the log in memory: one sequence for the moves and the
// queue, as in the migration stream.
type memJournal struct {
	mu    sync.Mutex
	s     *State
	seq   uint64
	last  map[string]uint64 // subject → last sequence
	types []string
}

func newMemJournal(s *State) *memJournal { return &memJournal{s: s, last: map[string]uint64{}} }

func (j *memJournal) Append(_ context.Context, _ string, id string, expected uint64, e domain.Event) (uint64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.last[id] != expected {
		return 0, &StaleError{Actual: j.last[id]}
	}
	j.seq++
	j.last[id] = j.seq
	j.types = append(j.types, fmt.Sprintf("%s %T", id, e))
	j.s.Apply(j.seq, id, e, false)
	return j.seq, nil
}

func (j *memJournal) Admit(_ context.Context, id string, expected, _ uint64) (uint64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.last["queue"] != expected {
		return 0, &StaleError{Actual: j.last["queue"]}
	}
	j.seq++
	j.last["queue"] = j.seq
	j.s.Apply(j.seq, id, domain.Started{At: time.Now()}, true)
	return j.seq, nil
}

// fakeVolume plays the volume service and the agents: each call records
// itself and reports what the log would then show, through the reactions.
type fakeVolume struct {
	mu        sync.Mutex
	calls     []string
	r         Reactions
	refuseAdd bool
	n         int
}

func (f *fakeVolume) note(call string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
	f.n++
	return f.n
}

func (f *fakeVolume) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeVolume) Add(ctx context.Context, m domain.Migration) error {
	n := f.note("add " + m.ID)
	if f.refuseAdd {
		return fmt.Errorf("%w: the replica set moved on", ErrRefused)
	}
	go func() {
		_ = f.r.TargetAdded(ctx, fmt.Sprintf("v/%d", n), m.ID, m.Generation+1)
		_ = f.r.ReplicaProvisioned(ctx, fmt.Sprintf("v/%d/p", n), m.Target.ReplicaID)
	}()
	return nil
}

func (f *fakeVolume) Promote(ctx context.Context, m domain.Migration) error {
	n := f.note("promote " + m.ID)
	go func() {
		_ = f.r.Promoted(ctx, fmt.Sprintf("v/%d", n), m.ID, m.Generation+1)
		_ = f.r.ReplicaRemoved(ctx, fmt.Sprintf("v/%d/r", n), m.Source.ReplicaID)
	}()
	return nil
}

func (f *fakeVolume) Retire(_ context.Context, m domain.Migration, _ string) error {
	f.note("retire " + m.ID)
	return nil
}

func (f *fakeVolume) Copy(ctx context.Context, m domain.Migration, _ uint64) error {
	n := f.note("copy " + m.ID)
	go func() { _ = f.r.Copied(ctx, fmt.Sprintf("n/%d", n), m.ID) }()
	return nil
}

func harness(t *testing.T, limits domain.Limits) (*State, *memJournal, *fakeVolume, func()) {
	t.Helper()
	s := NewState()
	j := newMemJournal(s)
	f := &fakeVolume{}
	f.r = Reactions{State: s, Journal: j, Volumes: f, Now: time.Now}
	e := &Engine{State: s, Journal: j, Volumes: f, Copier: f, Limits: limits, Timeouts: DefaultTimeouts,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: time.Now, Tick: 10 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return s, j, f, stop
}

func request(t *testing.T, s *State, j *memJournal, id, from, to string) {
	t.Helper()
	c := Commands{State: s, Journal: j, Now: time.Now}
	_, err := c.Request(context.Background(), "req-"+id, domain.Migration{ID: id, VolumeID: "v-" + id, VolumeName: "vol-" + id,
		Source: domain.Ref{ReplicaID: "src-" + id, NodeID: from, DiskID: from + "-d0"},
		Target: domain.Ref{ReplicaID: "dst-" + id, NodeID: to, DiskID: to + "-d0"}, Bytes: 1 << 30, Generation: 1})
	if err != nil {
		t.Fatal(err)
	}
}

func stepOf(s *State, id string) domain.Step {
	m, _, _ := s.Get(id)
	return m.Step
}

func TestTheEngineTakesAMoveThroughEveryStepInOrder(t *testing.T) {
	s, j, f, _ := harness(t, domain.DefaultLimits)
	request(t, s, j, "m1", "n1", "n2")
	waitfor.Condition(t, 10*time.Second, "m1 completed", func() bool { return stepOf(s, "m1") == domain.StepCompleted })
	if got, want := f.Calls(), []string{"add m1", "copy m1", "promote m1"}; !slices.Equal(got, want) {
		t.Fatalf("calls %v, want %v", got, want)
	}
	m, _, _ := s.Get("m1")
	if m.Generation != 3 || m.Copied != m.Bytes {
		t.Fatalf("move %+v", m)
	}
}

func TestARefusedStepRollsTheMoveBack(t *testing.T) {
	s, j, f, _ := harness(t, domain.DefaultLimits)
	f.refuseAdd = true
	request(t, s, j, "m1", "n1", "n2")
	waitfor.Condition(t, 10*time.Second, "m1 rolled back", func() bool { return stepOf(s, "m1") == domain.StepRolledBack })
	if got, want := f.Calls(), []string{"add m1", "retire m1"}; !slices.Equal(got, want) {
		t.Fatalf("calls %v, want %v", got, want)
	}
	if m, _, _ := s.Get("m1"); m.Failure == "" {
		t.Fatal("a rolled-back move without its reason")
	}
}

func TestTheThrottlesHoldAcrossMoves(t *testing.T) {
	s, j, _, stop := harness(t, domain.Limits{Global: 1, PerNodeIn: 1, PerNodeOut: 1})
	stop() // nothing runs: only admissions are looked at
	for i := range 3 {
		request(t, s, j, fmt.Sprintf("m%d", i), "n1", fmt.Sprintf("t%d", i))
	}
	e := &Engine{State: s, Journal: j, Limits: domain.Limits{Global: 1, PerNodeIn: 1, PerNodeOut: 1}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: time.Now}
	e.admit(context.Background())
	e.admit(context.Background())
	active := 0
	for _, m := range s.All() {
		if m.Step.Active() {
			active++
		}
	}
	if active != 1 {
		t.Fatalf("%d moves admitted with a global limit of 1", active)
	}
}

// A restarted engine (the same log, no memory of what it sent) takes each
// move's current step again: the volume and agents dedupe by request id.
func TestARestartedEngineCarriesOnFromTheLog(t *testing.T) {
	s := NewState()
	j := newMemJournal(s)
	request(t, s, j, "m1", "n1", "n2")
	if _, err := j.Admit(context.Background(), "m1", 0, 1); err != nil {
		t.Fatal(err)
	}
	_, seq, _ := s.Get("m1")
	if _, err := j.Append(context.Background(), "x", "m1", seq, domain.Progressed{Step: domain.StepCopying, Generation: 2, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	f := &fakeVolume{}
	f.r = Reactions{State: s, Journal: j, Volumes: f, Now: time.Now}
	e := &Engine{State: s, Journal: j, Volumes: f, Copier: f, Limits: domain.DefaultLimits, Timeouts: DefaultTimeouts,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: time.Now, Tick: 10 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	waitfor.Condition(t, 10*time.Second, "m1 completed", func() bool { return stepOf(s, "m1") == domain.StepCompleted })
	if got, want := f.Calls(), []string{"copy m1", "promote m1"}; !slices.Equal(got, want) {
		t.Fatalf("calls %v, want %v", got, want)
	}
}

// The volume's events reach the reactions in any order: the source's
// removal handled before the promotion that retired it still completes
// the move, and the promotion after it changes nothing.
func TestASourceRemovedBeforeItsPromotionIsRecordedCompletesTheMove(t *testing.T) {
	s := NewState()
	j := newMemJournal(s)
	request(t, s, j, "m1", "n1", "n2")
	_, _ = j.Admit(context.Background(), "m1", 0, 1)
	_, seq, _ := s.Get("m1")
	if _, err := j.Append(context.Background(), "x", "m1", seq, domain.Progressed{Step: domain.StepCuttingOver, Generation: 2, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	r := Reactions{State: s, Journal: j, Now: time.Now}
	if err := r.ReplicaRemoved(context.Background(), "v/9", "src-m1"); err != nil {
		t.Fatal(err)
	}
	if got := stepOf(s, "m1"); got != domain.StepCompleted {
		t.Fatalf("step %v after the source's removal, want completed", got)
	}
	if err := r.Promoted(context.Background(), "v/8", "m1", 3); err != nil {
		t.Fatal(err)
	}
	if got := stepOf(s, "m1"); got != domain.StepCompleted {
		t.Fatalf("step %v after the late promotion", got)
	}
}
