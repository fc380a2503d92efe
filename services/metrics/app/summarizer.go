// Package app holds the metrics service's use case: record a node's
// telemetry sample and, when its window is due, record the window's summary
// in the node's metrics history.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"ballast.dev/platform/retry"
	"ballast.dev/services/metrics/domain"
)

// Log is a node's history of summaries.
type Log interface {
	// Last returns the sequence of the node's last event (0 if none) and
	// the end of the last window it summarized (zero if unknown).
	Last(ctx context.Context, node string) (seq uint64, end time.Time, err error)
	// Append appends s to its node's history if the history's last
	// sequence is still expected, and returns the new sequence. It fails
	// with ErrConflict if another writer appended first.
	Append(ctx context.Context, s domain.Summary, expected uint64) (uint64, error)
}

// ErrConflict: the node's history moved on since the expected sequence.
var ErrConflict = errors.New("metrics: summary history moved on")

const (
	// maxPending bounds the summaries kept for a node while its appends
	// fail (the event log is unreachable): older ones are stale by then.
	maxPending = 8
)

// Summarizer keeps a window per node and records its summaries. It is safe
// for concurrent use: samples of different nodes proceed in parallel, those
// of one node one at a time.
type Summarizer struct {
	log      Log
	interval time.Duration
	now      func() time.Time
	logger   *slog.Logger

	mu    sync.Mutex
	nodes map[string]*node
	// OnSummary, if set, is told of every summary recorded, in order per
	// node.
	OnSummary func(ctx context.Context, s domain.Summary)
	// OnOpen, if set, is told after each sample of the peak utilisation so
	// far of the node's open window, which ends at end, once the summaries
	// before it are recorded.
	OnOpen func(ctx context.Context, node string, peak float64, end time.Time)
}

// node is one node's state. Its mutex serializes the window and the
// appends, so that the expected sequence is tracked without races.
type node struct {
	mu       sync.Mutex
	window   *domain.Window // nil until the node's history was read
	expected uint64
	// pending are closed windows not yet in the log, oldest first.
	pending []domain.Summary
}

// NewSummarizer makes a Summarizer with windows of interval; now is the
// service's clock.
func NewSummarizer(log Log, interval time.Duration, now func() time.Time, logger *slog.Logger) *Summarizer {
	if logger == nil {
		logger = slog.Default()
	}
	return &Summarizer{log: log, interval: interval, now: now, logger: logger, nodes: map[string]*node{}}
}

func (s *Summarizer) node(id string) *node {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.nodes[id]
	if !ok {
		n = &node{}
		s.nodes[id] = n
	}
	return n
}

// Record counts a sample of nodeID. A late, future or invalid sample is
// refused with the domain's error. A window closed by the sample is
// appended; if that fails, the summary stays pending for Flush rather than
// failing the sample, which a redelivery would count twice.
func (s *Summarizer) Record(ctx context.Context, nodeID string, sample domain.Sample) error {
	n := s.node(nodeID)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.window == nil {
		// The floor from the log keeps a restarted service from summarizing
		// a window again.
		seq, end, err := s.log.Last(ctx, nodeID)
		if err != nil {
			return fmt.Errorf("record sample of %s: %w", nodeID, err)
		}
		w, err := domain.NewWindow(nodeID, s.interval, end)
		if err != nil {
			return fmt.Errorf("record sample of %s: %w", nodeID, err)
		}
		n.window, n.expected = w, seq
	}
	sum, closed, err := n.window.Add(sample, s.now())
	if err != nil {
		return fmt.Errorf("record sample of %s: %w", nodeID, err)
	}
	if closed {
		s.enqueue(n, sum)
		if err := s.publish(ctx, n); err != nil {
			s.logger.Warn("summary not recorded yet", "node", nodeID, "err", err)
		}
	}
	if s.OnOpen != nil && len(n.pending) == 0 {
		if peak, end, open := n.window.Peak(); open {
			s.OnOpen(ctx, nodeID, peak, end)
		}
	}
	return nil
}

// Flush closes the windows of nodes that went quiet and appends every
// pending summary. The service calls it on a ticker.
func (s *Summarizer) Flush(ctx context.Context) error {
	s.mu.Lock()
	ids := make([]string, 0, len(s.nodes))
	for id := range s.nodes {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	var errs error
	for _, id := range ids {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		n := s.node(id)
		n.mu.Lock()
		if n.window != nil {
			if sum, ok := n.window.Flush(s.now()); ok {
				s.enqueue(n, sum)
			}
		}
		if err := s.publish(ctx, n); err != nil {
			errs = errors.Join(errs, fmt.Errorf("node %s: %w", id, err))
		}
		n.mu.Unlock()
	}
	return errs
}

func (s *Summarizer) enqueue(n *node, sum domain.Summary) {
	if len(n.pending) == maxPending {
		s.logger.Warn("summary dropped: the log has been unreachable", "node", sum.Node, "window_end", n.pending[0].End)
		n.pending = slices.Delete(n.pending, 0, 1)
	}
	n.pending = append(n.pending, sum)
}

// publish appends n's pending summaries in order. On a conflict it reloads
// the history's head: a summary of that window or a later one there means
// ours is recorded already (an attempt whose ack was lost, or another
// instance), and appending it after a later one would break the order.
func (s *Summarizer) publish(ctx context.Context, n *node) error {
	for len(n.pending) > 0 {
		sum := n.pending[0]
		err := retry.Do(ctx, retry.Conflict, func(int) error {
			seq, err := s.log.Append(ctx, sum, n.expected)
			if errors.Is(err, ErrConflict) {
				last, end, lerr := s.log.Last(ctx, sum.Node)
				if lerr != nil {
					return retry.Permanent(errors.Join(err, lerr))
				}
				n.expected = last
				if !end.Before(sum.End) {
					return nil // recorded already, or overtaken
				}
				return err
			}
			if err != nil {
				return retry.Permanent(err)
			}
			n.expected = seq
			return nil
		})
		if err != nil {
			return err
		}
		n.pending = slices.Delete(n.pending, 0, 1)
		if s.OnSummary != nil {
			s.OnSummary(ctx, sum)
		}
	}
	return nil
}
