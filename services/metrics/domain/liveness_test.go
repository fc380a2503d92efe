package domain

import (
	"testing"
	"time"
)

var l0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func TestASilentNodeIsSuspectThenDownAndRecoversWhenItReports(t *testing.T) {
	l := Liveness{SuspectAfter: 15 * time.Second, DownAfter: time.Minute}
	l.Heard("n1", l0, l0)
	l.Heard("n2", l0, l0)
	if got := l.Check(l0.Add(10 * time.Second)); len(got) != 0 {
		t.Fatalf("changes within the bar: %v", got)
	}
	l.Heard("n2", l0.Add(14*time.Second), l0.Add(14*time.Second))
	got := l.Check(l0.Add(16 * time.Second))
	if len(got) != 1 || got[0].Node != "n1" || got[0].To != Suspect {
		t.Fatalf("at 16 s: %v", got)
	}
	if again := l.Check(l0.Add(17 * time.Second)); len(again) != 0 {
		t.Fatalf("a suspect reported twice: %v", again)
	}
	got = l.Check(l0.Add(61 * time.Second))
	if len(got) != 2 || got[0].Node != "n1" || got[0].To != Down || got[1].Node != "n2" || got[1].To != Suspect {
		t.Fatalf("at 61 s: %v", got)
	}
	// A sample from before the silence, delivered late, says nothing.
	if _, ok := l.Heard("n1", l0.Add(5*time.Second), l0.Add(62*time.Second)); ok {
		t.Fatal("a late sample recovered the node")
	}
	c, ok := l.Heard("n1", l0.Add(62*time.Second), l0.Add(62*time.Second))
	if !ok || c.To != Alive {
		t.Fatalf("recovery: %v %v", c, ok)
	}
}

func TestAKnownNodeGetsTheWholeGraceAgain(t *testing.T) {
	l := Liveness{SuspectAfter: 15 * time.Second, DownAfter: time.Minute}
	l.Know("n1", Suspect, l0)
	if got := l.Check(l0.Add(30 * time.Second)); len(got) != 0 {
		t.Fatalf("a suspect node known at start: %v", got)
	}
	if got := l.Check(l0.Add(61 * time.Second)); len(got) != 1 || got[0].To != Down {
		t.Fatalf("after the grace: %v", got)
	}
}
