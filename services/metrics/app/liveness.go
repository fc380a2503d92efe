package app

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"ballast.dev/services/metrics/domain"
)

// HealthLog records nodes' health changes: NodeSuspected, NodeDown and
// NodeRecovered, history that placement acts on.
type HealthLog interface {
	Record(ctx context.Context, c domain.Change) error
}

// Watcher finds the nodes that stop reporting: suspect after a while, down
// after the grace period, and recovered once they report again.
type Watcher struct {
	mu       sync.Mutex
	liveness domain.Liveness
	log      HealthLog
	now      func() time.Time
	logger   *slog.Logger
}

// NewWatcher watches with the bars of l, knowing the nodes in known (and
// their last recorded health) as of now.
func NewWatcher(l domain.Liveness, known map[string]domain.Health, log HealthLog, now func() time.Time, logger *slog.Logger) *Watcher {
	w := &Watcher{liveness: l, log: log, now: now, logger: logger}
	at := now()
	for id, h := range known {
		w.liveness.Know(id, h, at)
	}
	return w
}

// Heard records a node's telemetry sampled at sampled.
func (w *Watcher) Heard(ctx context.Context, node string, sampled time.Time) error {
	w.mu.Lock()
	c, changed := w.liveness.Heard(node, sampled, w.now())
	w.mu.Unlock()
	if !changed {
		return nil
	}
	return w.record(ctx, c, domain.Down)
}

// Check records the nodes whose silence crossed a bar.
func (w *Watcher) Check(ctx context.Context) error {
	w.mu.Lock()
	changes := w.liveness.Check(w.now())
	w.mu.Unlock()
	var first error
	for _, c := range changes {
		before := domain.Alive
		if c.To == domain.Down {
			before = domain.Suspect
		}
		if err := w.record(ctx, c, before); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (w *Watcher) record(ctx context.Context, c domain.Change, before domain.Health) error {
	if err := w.log.Record(ctx, c); err != nil {
		// Not recorded: the next look finds the change again.
		w.mu.Lock()
		w.liveness.Undo(c, before)
		w.mu.Unlock()
		return err
	}
	w.logger.Warn("node health changed", "node", c.Node, "health", c.To.String(), "last_seen", c.LastSeen)
	return nil
}

// HotspotLog records hotspots starting and clearing.
type HotspotLog interface {
	RecordHotspot(ctx context.Context, c domain.HotspotChange, windowEnd time.Time) error
}

// HotspotWatch finds hotspots in the summaries, with hysteresis.
type HotspotWatch struct {
	mu     sync.Mutex
	spots  domain.Hotspots
	log    HotspotLog
	logger *slog.Logger
}

// NewHotspotWatch watches with bars.
func NewHotspotWatch(bars domain.HotspotBars, log HotspotLog, logger *slog.Logger) *HotspotWatch {
	return &HotspotWatch{spots: domain.Hotspots{Bars: bars}, log: log, logger: logger}
}

// Known marks nodes hotspots already (as the log last said, at a start).
func (w *HotspotWatch) Known(nodes []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, n := range nodes {
		w.spots.Known(n)
	}
}

// Summary counts one recorded summary.
func (w *HotspotWatch) Summary(ctx context.Context, s domain.Summary) {
	w.mu.Lock()
	c, ok := w.spots.Observe(s.Node, s.Utilization)
	w.mu.Unlock()
	if ok {
		w.record(ctx, c, s.End)
	}
}

// Open counts the peak so far of a node's open window, which ends at end: a
// hotspot starts without waiting a window for it to close.
func (w *HotspotWatch) Open(ctx context.Context, node string, peak float64, end time.Time) {
	w.mu.Lock()
	c, ok := w.spots.Open(node, peak)
	w.mu.Unlock()
	if ok {
		w.record(ctx, c, end)
	}
}

func (w *HotspotWatch) record(ctx context.Context, c domain.HotspotChange, end time.Time) {
	if err := w.log.RecordHotspot(ctx, c, end); err != nil {
		w.logger.Warn("hotspot not recorded", "node", c.Node, "hot", c.Hot, "err", err)
		return
	}
	w.logger.Info("hotspot", "node", c.Node, "hot", c.Hot, "utilization", c.Utilization)
}
