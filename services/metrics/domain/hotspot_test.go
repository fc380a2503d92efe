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
