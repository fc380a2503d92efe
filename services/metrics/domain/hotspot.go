package domain

// HotspotBars say when a node is a hotspot: its busiest disk at Start or
// more for Persist windows in a row; and when it no longer is: under Clear
// (clearly below Start) for Persist windows in a row. The gap and the
// persistence are the hysteresis that keeps a node near the bar from
// flapping.
type HotspotBars struct {
	Start, Clear float64
	Persist      int
}

// DefaultHotspotBars: 85% busy for two windows to start, under 70% for two
// to clear.
var DefaultHotspotBars = HotspotBars{Start: 0.85, Clear: 0.70, Persist: 2}

// Hotspots follows each node's utilisation window by window.
type Hotspots struct {
	Bars  HotspotBars
	nodes map[string]*hotState
}

type hotState struct {
	hot    bool
	streak int
}

// HotspotChange is a node becoming a hotspot (Hot) or ceasing to be one.
type HotspotChange struct {
	Node        string
	Hot         bool
	Utilization float64
	// Clear is the bar the node must stay under to clear.
	Clear float64
}

func (h *Hotspots) state(node string) *hotState {
	if h.nodes == nil {
		h.nodes = map[string]*hotState{}
	}
	s, ok := h.nodes[node]
	if !ok {
		s = &hotState{}
		h.nodes[node] = s
	}
	return s
}

// Open counts the peak so far of a node's window still open: a hotspot
// starts as soon as that peak completes the streak, since the window's own
// peak can only be higher. It starts nothing else: clearing waits for the
// window to close (its peak may yet rise), and the window is counted again
// by Observe when it closes, which keeps a node just made hot so.
func (h *Hotspots) Open(node string, peak float64) (HotspotChange, bool) {
	s := h.state(node)
	if s.hot || peak < h.Bars.Start || s.streak+1 < max(h.Bars.Persist, 1) {
		return HotspotChange{}, false
	}
	s.hot, s.streak = true, 0
	return HotspotChange{Node: node, Hot: true, Utilization: peak, Clear: h.Bars.Clear}, true
}

// Observe counts one window's utilisation of a node, and returns the change
// it completes, if any.
func (h *Hotspots) Observe(node string, util float64) (HotspotChange, bool) {
	s := h.state(node)
	past := util >= h.Bars.Start
	if s.hot {
		past = util < h.Bars.Clear
	}
	if !past {
		s.streak = 0
		return HotspotChange{}, false
	}
	s.streak++
	if s.streak < max(h.Bars.Persist, 1) {
		return HotspotChange{}, false
	}
	s.hot, s.streak = !s.hot, 0
	return HotspotChange{Node: node, Hot: s.hot, Utilization: util, Clear: h.Bars.Clear}, true
}

// Known marks node a hotspot already, as the log last said: it clears as
// one that just started would, and does not start again.
func (h *Hotspots) Known(node string) {
	s := h.state(node)
	s.hot, s.streak = true, 0
}
