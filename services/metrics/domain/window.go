// Package domain holds the metrics service's rules: how one node's raw
// telemetry becomes summaries of fixed windows. It does no I/O and knows
// nothing of protobuf or NATS; the caller passes the clock in.
package domain

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// DefaultInterval is the length of a window: at most one summary per node
// per interval reaches the event log, which keeps the log small.
const DefaultInterval = 30 * time.Second

// MaxClockSkew is how far ahead of the service's clock a sample may be
// stamped. A sample from further ahead would open a window in the future and
// make every honest sample after it late, so it is refused instead.
const MaxClockSkew = time.Minute

// latencyPercentile is the percentile of disk latencies a summary reports:
// the tail, which is what a hotspot feels like, without one outlier.
const latencyPercentile = 99

var (
	// ErrLate: the sample is older than the open window, or falls in a
	// window already summarized. Late samples are dropped.
	ErrLate = errors.New("metrics: late sample")
	// ErrDuplicate: a sample of the same instant was counted already (a
	// report delivered twice). It is dropped.
	ErrDuplicate = errors.New("metrics: duplicate sample")
	// ErrFuture: the sample is stamped more than MaxClockSkew ahead.
	ErrFuture = errors.New("metrics: sample from the future")
	// ErrInvalidSample: the sample has no time, or a negative or
	// non-finite measure.
	ErrInvalidSample = errors.New("metrics: invalid sample")
	// ErrInvalidWindow: a window needs a node and a positive interval.
	ErrInvalidWindow = errors.New("metrics: invalid window")
)

// DiskSample is one disk's load at one instant.
type DiskSample struct {
	ReadIOPS            float64
	WriteIOPS           float64
	ReadBytesPerSecond  float64
	WriteBytesPerSecond float64
	Latency             time.Duration
	// Utilization is the busy fraction of the disk, 0 to 1.
	Utilization float64
}

// Sample is one node's load at one instant, as its agent measured it.
type Sample struct {
	At       time.Time
	Disks    []DiskSample
	Replicas []ReplicaSample
}

// ReplicaSample is one replica's load at one instant.
type ReplicaSample struct {
	ID                                      string
	ReadIOPS, WriteIOPS                     float64
	ReadBytesPerSecond, WriteBytesPerSecond float64
}

// ReplicaLoad is a replica's load averaged over a window.
type ReplicaLoad = ReplicaSample

func (s Sample) validate() error {
	if s.At.IsZero() {
		return fmt.Errorf("%w: no sample time", ErrInvalidSample)
	}
	for i, r := range s.Replicas {
		for _, v := range []float64{r.ReadIOPS, r.WriteIOPS, r.ReadBytesPerSecond, r.WriteBytesPerSecond} {
			if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%w: replica %d has measure %v", ErrInvalidSample, i, v)
			}
		}
	}
	for i, d := range s.Disks {
		for _, v := range []float64{d.ReadIOPS, d.WriteIOPS, d.ReadBytesPerSecond, d.WriteBytesPerSecond, d.Utilization} {
			if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%w: disk %d has measure %v", ErrInvalidSample, i, v)
			}
		}
		if d.Latency < 0 {
			return fmt.Errorf("%w: disk %d has latency %v", ErrInvalidSample, i, d.Latency)
		}
	}
	return nil
}

// Summary is a node's load over one window.
type Summary struct {
	Node string
	// Start and End bound the window [Start, End) in sample time.
	Start, End time.Time
	Samples    int
	// The node's rates (summed over its disks), averaged over the samples.
	ReadIOPS            float64
	WriteIOPS           float64
	ReadBytesPerSecond  float64
	WriteBytesPerSecond float64
	// Utilization is the peak utilisation of any disk in the window, so a
	// saturated disk is not averaged away by idle ones.
	Utilization float64
	// Latency is the 99th percentile of the disk latencies sampled.
	Latency time.Duration
	// Replicas are the replicas' loads averaged over the samples that
	// counted them, by replica id order.
	Replicas []ReplicaLoad
}

// Window turns one node's samples into summaries of tumbling windows of a
// fixed interval, aligned on sample time (the zero time is the origin, the
// same in every process), so that a window has the same bounds whoever
// computes it and a summary can be identified by its node and end.
//
// A window closes when a sample of a later window arrives, or when no sample
// has arrived for an interval (Flush). Windows without samples produce
// nothing. A Window is not safe for concurrent use.
type Window struct {
	node     string
	interval time.Duration
	// floor is the end of the last summarized window: nothing before it
	// may be counted again.
	floor time.Time

	open        bool
	start       time.Time
	lastArrival time.Time
	samples     int
	readIOPS    float64
	writeIOPS   float64
	readBps     float64
	writeBps    float64
	peakUtil    float64
	latencies   []time.Duration
	// replicas are the sums of the replicas of the window, and of the
	// window before (n is 0 for those not seen since): kept across
	// windows, so that each is made once, not every window.
	replicas map[string]*replicaSum
	// order is the replica at each position of the last sample: an agent
	// lists its replicas in the same order every time, so a replica is
	// found by comparing its id, not hashing it.
	order []*replicaSum
	// byID are the replicas' sums by id, sorted when unsorted is false:
	// a summary lists its replicas in id order, and a node's replicas
	// change seldom, so they are sorted when they do, not every window.
	byID     []*replicaSum
	unsorted bool
	// counted are the instants of the open window's samples, in Unix
	// nanoseconds: an agent stamps each report, so a second one of the
	// same instant is the same report again.
	counted map[int64]struct{}
}

type replicaSum struct {
	load ReplicaSample
	n    int
}

// NewWindow starts the windows of node. floor is the end of the node's last
// recorded summary (zero if none): samples before it are late.
func NewWindow(node string, interval time.Duration, floor time.Time) (*Window, error) {
	if node == "" || interval <= 0 {
		return nil, fmt.Errorf("%w: node %q, interval %v", ErrInvalidWindow, node, interval)
	}
	return &Window{node: node, interval: interval, floor: floor}, nil
}

// Add counts s, which arrived at now. If s belongs to a later window than
// the open one, the open window closes and its summary is returned with
// true. A late, future or invalid sample is refused and changes nothing.
func (w *Window) Add(s Sample, now time.Time) (Summary, bool, error) {
	if err := s.validate(); err != nil {
		return Summary{}, false, err
	}
	if s.At.After(now.Add(MaxClockSkew)) {
		return Summary{}, false, fmt.Errorf("%w: sample at %v, now %v", ErrFuture, s.At, now)
	}
	if s.At.Before(w.floor) {
		return Summary{}, false, fmt.Errorf("%w: sample at %v, summarized until %v", ErrLate, s.At, w.floor)
	}
	start := s.At.Truncate(w.interval)
	var (
		sum    Summary
		closed bool
	)
	if w.open {
		switch {
		case start.Before(w.start):
			return Summary{}, false, fmt.Errorf("%w: sample at %v, window open since %v", ErrLate, s.At, w.start)
		case start.After(w.start):
			sum, closed = w.close(), true
		}
	}
	at := s.At.UnixNano()
	if _, dup := w.counted[at]; dup {
		return Summary{}, false, fmt.Errorf("%w: sample at %v counted already", ErrDuplicate, s.At)
	}
	if !w.open {
		w.open, w.start = true, start
	}
	if w.counted == nil {
		w.counted = map[int64]struct{}{}
	}
	w.counted[at] = struct{}{}
	w.samples++
	for _, d := range s.Disks {
		w.readIOPS += d.ReadIOPS
		w.writeIOPS += d.WriteIOPS
		w.readBps += d.ReadBytesPerSecond
		w.writeBps += d.WriteBytesPerSecond
		w.peakUtil = max(w.peakUtil, d.Utilization)
		w.latencies = append(w.latencies, d.Latency)
	}
	if w.replicas == nil {
		w.replicas = map[string]*replicaSum{}
	}
	for i, r := range s.Replicas {
		var rs *replicaSum
		if i < len(w.order) && w.order[i].load.ID == r.ID {
			rs = w.order[i]
		} else {
			rs = w.replicas[r.ID]
			if rs == nil {
				// A copy: the sample's ids may share its report's bytes.
				rs = &replicaSum{load: ReplicaSample{ID: strings.Clone(r.ID)}}
				w.replicas[rs.load.ID] = rs
				w.byID, w.unsorted = append(w.byID, rs), true
			}
			if i < len(w.order) {
				w.order[i] = rs
			} else {
				w.order = append(w.order, rs)
			}
		}
		rs.n++
		rs.load.ReadIOPS += r.ReadIOPS
		rs.load.WriteIOPS += r.WriteIOPS
		rs.load.ReadBytesPerSecond += r.ReadBytesPerSecond
		rs.load.WriteBytesPerSecond += r.WriteBytesPerSecond
	}
	w.lastArrival = now
	return sum, closed, nil
}

// Peak is the busiest disk's utilisation in the open window so far, and
// the window's end; open is false when no window is open. A window's
// summary reports its peak, so the peak so far is a floor on it.
func (w *Window) Peak() (util float64, end time.Time, open bool) {
	if !w.open {
		return 0, time.Time{}, false
	}
	return w.peakUtil, w.start.Add(w.interval), true
}

// Flush closes the open window if no sample has arrived for an interval, so
// that a node that went quiet still has its last window summarized. It
// returns false when there is nothing to summarize.
func (w *Window) Flush(now time.Time) (Summary, bool) {
	if !w.open || now.Sub(w.lastArrival) < w.interval {
		return Summary{}, false
	}
	return w.close(), true
}

// close summarizes the open window and resets it.
func (w *Window) close() Summary {
	n := float64(w.samples)
	s := Summary{
		Node:                w.node,
		Start:               w.start,
		End:                 w.start.Add(w.interval),
		Samples:             w.samples,
		ReadIOPS:            w.readIOPS / n,
		WriteIOPS:           w.writeIOPS / n,
		ReadBytesPerSecond:  w.readBps / n,
		WriteBytesPerSecond: w.writeBps / n,
		Utilization:         w.peakUtil,
		Latency:             percentile(w.latencies, latencyPercentile),
	}
	if w.unsorted {
		slices.SortFunc(w.byID, func(a, b *replicaSum) int { return strings.Compare(a.load.ID, b.load.ID) })
		w.unsorted = false
	}
	if len(w.byID) > 0 {
		s.Replicas = make([]ReplicaLoad, 0, len(w.byID))
	}
	kept := w.byID[:0]
	for _, rs := range w.byID {
		if rs.n == 0 {
			// Not seen for a whole window: gone (moved, or deleted).
			delete(w.replicas, rs.load.ID)
			w.order = w.order[:0] // it may hold it
			continue
		}
		n := float64(rs.n)
		s.Replicas = append(s.Replicas, ReplicaLoad{ID: rs.load.ID, ReadIOPS: rs.load.ReadIOPS / n, WriteIOPS: rs.load.WriteIOPS / n,
			ReadBytesPerSecond: rs.load.ReadBytesPerSecond / n, WriteBytesPerSecond: rs.load.WriteBytesPerSecond / n})
		*rs = replicaSum{load: ReplicaSample{ID: rs.load.ID}}
		kept = append(kept, rs)
	}
	clear(w.byID[len(kept):]) // no pointer kept to what is gone
	w.byID = kept
	if len(s.Replicas) == 0 {
		s.Replicas = nil
	}
	clear(w.counted)
	w.floor = s.End
	w.open, w.samples = false, 0
	w.readIOPS, w.writeIOPS, w.readBps, w.writeBps, w.peakUtil = 0, 0, 0, 0, 0
	w.latencies = w.latencies[:0]
	return s
}

// percentile is the nearest-rank percentile p (in percent) of ds, 0 if ds
// is empty; it sorts ds in place. Integer ranks: no float rounding at the
// boundaries.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	rank := (len(ds)*p + 99) / 100
	return ds[max(rank, 1)-1]
}
