package domain

import "testing"

func TestAHotspotNeedsToPersistToStartAndToFallClearlyToClear(t *testing.T) {
	h := Hotspots{Bars: HotspotBars{Start: 0.85, Clear: 0.7, Persist: 2}}
	steps := []struct {
		util float64
		want string // "", "hot", "cleared"
	}{
		{0.9, ""},         // one window is a blip
		{0.5, ""},         // and it fell back
		{0.9, ""},         //
		{0.95, "hot"},     // two in a row: a hotspot
		{0.99, ""},        // still hot: nothing new
		{0.8, ""},         // below the start bar, above the clear bar: still hot
		{0.8, ""},         //
		{0.6, ""},         // one window under the clear bar
		{0.86, ""},        // back up: the streak starts again
		{0.6, ""},         //
		{0.65, "cleared"}, // two in a row clearly below
		{0.8, ""},         // under the start bar: not hot again
	}
	for i, s := range steps {
		c, ok := h.Observe("n1", s.util)
		got := ""
		if ok && c.Hot {
			got = "hot"
		} else if ok {
			got = "cleared"
		}
		if got != s.want {
			t.Fatalf("window %d at %.2f: %q, want %q", i, s.util, got, s.want)
		}
	}
}

// A hotspot starts on the first sample of its last window above the bar,
// not a window later when that window closes; it never starts on one
// window alone, and never clears before a window closes.
func TestAHotspotStartsOnTheOpenWindowThatCompletesItsStreak(t *testing.T) {
	h := Hotspots{Bars: HotspotBars{Start: 0.85, Clear: 0.7, Persist: 2}}
	if _, ok := h.Open("n1", 0.95); ok {
		t.Fatal("one window above the bar, still open, started a hotspot")
	}
	if _, ok := h.Observe("n1", 0.95); ok {
		t.Fatal("one closed window started a hotspot")
	}
	if _, ok := h.Open("n1", 0.5); ok {
		t.Fatal("an open window under the bar started a hotspot")
	}
	c, ok := h.Open("n1", 0.9)
	if !ok || !c.Hot {
		t.Fatal("the second window's first sample above the bar did not start the hotspot")
	}
	if _, ok := h.Open("n1", 0.95); ok {
		t.Fatal("a hot node started again")
	}
	// The window closes at its peak: still hot, nothing new.
	if _, ok := h.Observe("n1", 0.9); ok {
		t.Fatal("the window that started the hotspot changed it again when it closed")
	}
	if _, ok := h.Open("n1", 0.1); ok {
		t.Fatal("an open window cleared a hotspot")
	}
	h.Observe("n1", 0.6)
	if c, ok := h.Observe("n1", 0.6); !ok || c.Hot {
		t.Fatal("two closed windows clearly below did not clear it")
	}
}

// A hotspot known from the log (at a start) does not start again, and
// clears as any other.
func TestAKnownHotspotClearsAndDoesNotStartAgain(t *testing.T) {
	h := Hotspots{Bars: HotspotBars{Start: 0.85, Clear: 0.7, Persist: 2}}
	h.Known("n1")
	for i, util := range []float64{0.9, 0.95} {
		if _, ok := h.Observe("n1", util); ok {
			t.Fatalf("window %d at %.2f: a known hotspot started again", i, util)
		}
	}
	if _, ok := h.Open("n1", 0.99); ok {
		t.Fatal("a known hotspot started again on an open window")
	}
	h.Observe("n1", 0.5)
	if c, ok := h.Observe("n1", 0.5); !ok || c.Hot {
		t.Fatalf("two windows clearly below: %+v, %v; want it cleared", c, ok)
	}
}
