package domain

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func move(id, from, to string) *Migration {
	m := &Migration{}
	m.Apply(Requested{Migration: Migration{ID: id, VolumeID: "v-" + id, VolumeName: "vol-" + id,
		Source: Ref{ReplicaID: "r-src-" + id, NodeID: from, DiskID: from + "-d0"},
		Target: Ref{ReplicaID: "r-dst-" + id, NodeID: to, DiskID: to + "-d0"}, Bytes: 100, Generation: 1}, At: t0})
	return m
}

func TestAMoveGoesThroughItsStepsToCompletion(t *testing.T) {
	m := move("m1", "n1", "n2")
	for _, e := range []Event{
		Started{At: t0},
		Progressed{Step: StepProvisioning, Generation: 2, At: t0},
		Progressed{Step: StepCopying, At: t0},
		Progressed{Step: StepCopying, Copied: 40, At: t0},
		Progressed{Step: StepCuttingOver, Copied: 100, At: t0},
		CutOver{Generation: 3, At: t0},
	} {
		m.Apply(e)
	}
	if m.Step != StepRemovingSource || m.Generation != 3 || !m.Added || m.Copied != 100 {
		t.Fatalf("after cut-over: %+v", m)
	}
	if _, err := m.Cancel("late", t0); !errors.Is(err, ErrFailedPrecondition) {
		t.Fatalf("cancel after the cut-over: %v", err)
	}
	// A failure reported after the cut-over does not undo it.
	m.Apply(Failed{Step: StepRemovingSource, Reason: "timeout", At: t0})
	m.Apply(Completed{At: t0})
	if m.Step != StepCompleted {
		t.Fatalf("step %v", m.Step)
	}
}

func TestACancelledMoveRollsBackAndTheLogsCutOverWins(t *testing.T) {
	m := move("m1", "n1", "n2")
	m.Apply(Started{At: t0})
	m.Apply(Progressed{Step: StepProvisioning, Generation: 2, At: t0})
	evs, err := m.Cancel("", t0)
	if err != nil || len(evs) != 1 {
		t.Fatalf("cancel: %v %v", evs, err)
	}
	m.Apply(evs[0])
	if m.Step != StepRollingBack || m.Failure == "" {
		t.Fatalf("after cancel: %+v", m)
	}
	// Progress reported late does not resume the move.
	m.Apply(Progressed{Step: StepCopying, At: t0})
	if m.Step != StepRollingBack {
		t.Fatalf("late progress moved a rolling-back move to %v", m.Step)
	}
	if again, err := m.Cancel("", t0); err != nil || len(again) != 0 {
		t.Fatalf("second cancel: %v %v", again, err)
	}
	// The volume recorded the cut-over after all (its promotion was in
	// flight): the move is cut over, not rolled back.
	m.Apply(CutOver{Generation: 3, At: t0})
	if m.Step != StepRemovingSource {
		t.Fatalf("the log's cut-over lost to the rollback: %v", m.Step)
	}
}

func TestAdmitHoldsEveryLimit(t *testing.T) {
	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, 1))
	for trial := range 200 {
		l := Limits{Global: 1 + rng.IntN(8), PerNodeIn: 1 + rng.IntN(3), PerNodeOut: 1 + rng.IntN(3)}
		var queued, active []*Migration
		for i := range rng.IntN(40) {
			m := move(fmt.Sprintf("m%03d", i), fmt.Sprintf("n%d", rng.IntN(6)), fmt.Sprintf("n%d", 6+rng.IntN(6)))
			m.Created = t0.Add(time.Duration(rng.IntN(100)) * time.Second)
			m.Kind = Kind(rng.IntN(int(KindOperator) + 1))
			queued = append(queued, m)
		}
		start := Admit(queued, active, l)
		for _, m := range start {
			m.Step = StepAdding
			active = append(active, m)
		}
		in, out := map[string]int{}, map[string]int{}
		for _, m := range active {
			in[m.Target.NodeID]++
			out[m.Source.NodeID]++
		}
		if len(active) > l.Global {
			t.Fatalf("seed %d trial %d: %d active, global limit %d", seed, trial, len(active), l.Global)
		}
		if routine := len(slices.DeleteFunc(slices.Clone(active), func(m *Migration) bool { return m.Kind.Urgent() })); routine > l.Global-l.Reserve() {
			t.Fatalf("seed %d trial %d: %d routine moves active, cap %d less %d reserved", seed, trial, routine, l.Global, l.Reserve())
		}
		for n, c := range in {
			if c > l.PerNodeIn {
				t.Fatalf("seed %d trial %d: %d moves into %s, limit %d", seed, trial, c, n, l.PerNodeIn)
			}
		}
		for n, c := range out {
			if c > l.PerNodeOut {
				t.Fatalf("seed %d trial %d: %d moves out of %s, limit %d", seed, trial, c, n, l.PerNodeOut)
			}
		}
		// Nothing more fits: a second pass admits none.
		rest := queued[:0:0]
		for _, m := range queued {
			if m.Step == StepQueued {
				rest = append(rest, m)
			}
		}
		if more := Admit(rest, active, l); len(more) != 0 {
			t.Fatalf("seed %d trial %d: a second pass admits %d more", seed, trial, len(more))
		}
	}
}

func TestAMoveThatDoesNotFitDoesNotHoldUpOthers(t *testing.T) {
	busy := move("a", "n1", "n2")
	busy.Step = StepCopying
	waiting := move("b", "n1", "n3") // n1 is at its limit out
	waiting.Created = t0
	other := move("c", "n4", "n5")
	other.Created = t0.Add(time.Minute)
	got := Admit([]*Migration{waiting, other}, []*Migration{busy}, Limits{Global: 10, PerNodeIn: 1, PerNodeOut: 1})
	if len(got) != 1 || got[0].ID != "c" {
		t.Fatalf("admitted %v", got)
	}
}

func TestUrgentMovesStartFirstAndRoutineOnesLeaveThemRoom(t *testing.T) {
	l := Limits{Global: 12, PerNodeIn: 2, PerNodeOut: 2}
	var active, queued []*Migration
	// A rebalance holds every slot routine moves may take.
	for i := range l.Global - l.Reserve() {
		m := move(fmt.Sprintf("balance-%d", i), fmt.Sprintf("b%d", i), fmt.Sprintf("t%d", i))
		m.Kind, m.Step = KindBalance, StepCopying
		active = append(active, m)
	}
	older := move("drain", "d1", "t9")
	older.Kind, older.Created = KindDrain, t0
	queued = append(queued, older)
	// Two hotspots: h1 has a move off it under way already, h2 none yet.
	relieving := move("h1-first", "h1", "t10")
	relieving.Kind, relieving.Step = KindHotspot, StepCopying
	active = append(active, relieving)
	h1 := move("h1-second", "h1", "t11")
	h1.Kind, h1.Created = KindHotspot, t0.Add(time.Second)
	h2 := move("h2", "h2", "t12")
	h2.Kind, h2.Created = KindHotspot, t0.Add(2*time.Second)
	lost := move("lost", "down", "t13")
	lost.Kind, lost.Created = KindNodeDown, t0.Add(3*time.Second)
	queued = append(queued, h1, h2, lost)

	// One slot of the reserve is taken: two are left, for the lost
	// replica and then the hotspot nothing relieves yet.
	var got []string
	for _, m := range Admit(queued, active, l) {
		got = append(got, m.ID)
	}
	if want := []string{"lost", "h2"}; !slices.Equal(got, want) {
		t.Fatalf("admitted %v, want %v (the drain waits: routine moves hold their share)", got, want)
	}
}
