package eventstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// AppendFuture is the pending result of AppendAsync.
type AppendFuture struct {
	s        *Store
	subject  string
	expected uint64
	event    Event
	paf      jetstream.PubAckFuture
	sent     time.Time

	mu       sync.Mutex
	resolved bool
	seq      uint64
	err      error
}

// AppendAsync appends one event like Append but does not wait for the
// acknowledgement, so that many appends can be in flight on one
// connection; call Wait for the outcome. This is the path for throughput
// (importers, simulators); command handlers use Append.
//
// The semantics are Append's: the expectation on subject, the event id as
// Nats-Msg-Id, ErrConflict, and a lost acknowledgement retried with the same
// id (from Wait). Appends in flight to the same subject are not ordered
// with respect to each other's expectations: pipeline distinct subjects.
// The error returned here is a failure to send (including the client's
// limit of pending acknowledgements, jetstream.ErrTooManyStalledMsgs).
func (s *Store) AppendAsync(ctx context.Context, subject string, expected uint64, event Event) (*AppendFuture, error) {
	if subject == "" {
		return nil, fmt.Errorf("append: %w: empty subject", ErrInvalidEvent)
	}
	if err := validateEvent(0, event); err != nil {
		return nil, fmt.Errorf("append %s: %w", subject, err)
	}
	paf, err := s.js.PublishMsgAsync(s.message(ctx, subject, event, true, expected))
	if err != nil {
		return nil, fmt.Errorf("append %s: %w", subject, err)
	}
	return &AppendFuture{s: s, subject: subject, expected: expected, event: event, paf: paf, sent: time.Now()}, nil
}

// Wait returns the stream sequence of the appended event, or the error. If
// no acknowledgement arrives within the store's attempt timeout the append
// is retried synchronously with the same event id. If ctx ends first, Wait
// returns ctx.Err() and the outcome is unknown (Wait may be called again).
func (f *AppendFuture) Wait(ctx context.Context) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.resolved {
		return f.seq, f.err
	}
	var seq uint64
	var err error
	// Pipelined callers usually find the ack already there: no timer then.
	select {
	case ack := <-f.paf.Ok():
		seq = ack.Sequence
	case perr := <-f.paf.Err():
		seq, err = f.failed(ctx, perr)
	default:
		timer := time.NewTimer(time.Until(f.sent.Add(f.s.opts.attemptTimeout)))
		defer timer.Stop()
		select {
		case ack := <-f.paf.Ok():
			seq = ack.Sequence
		case perr := <-f.paf.Err():
			seq, err = f.failed(ctx, perr)
		case <-timer.C:
			seq, err = f.failed(ctx, jetstream.ErrAsyncPublishTimeout)
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	if err != nil {
		err = fmt.Errorf("append %s: %w", f.subject, err)
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			// Unknown outcome, not a result: let the caller wait again.
			return 0, err
		}
	}
	f.resolved, f.seq, f.err = true, seq, err
	return seq, err
}

// failed maps an async publish error like the synchronous path does.
func (f *AppendFuture) failed(ctx context.Context, err error) (uint64, error) {
	events := []Event{f.event}
	switch {
	case isConflict(err):
		return f.s.resolveConflict(ctx, f.subject, f.expected, f.event.ID, err)
	case (retryable(ctx, err) || errors.Is(err, jetstream.ErrAsyncPublishTimeout)) && f.s.opts.maxAttempts > 1:
		// The first attempt's outcome is unknown: continue as attempt 2.
		r, err := f.s.append(ctx, f.subject, f.expected, events, 2)
		return r.seq, err
	}
	return 0, err
}
