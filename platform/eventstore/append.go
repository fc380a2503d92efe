package eventstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"ballast.dev/platform/retry"
	"ballast.dev/platform/tracing"
)

// Append appends events to subject if the subject's last stream sequence is
// still expected (0: the subject must be empty, which makes creation
// unique). It returns the stream sequence of the last appended event: the
// aggregate's new version.
//
// Several events are appended as one atomic batch: all or none, with
// contiguous sequences. If another writer appended first, the error matches
// ErrConflict and is a *ConflictError.
//
// An attempt that gets no acknowledgement is retried, bounded, with the same
// event ids. When a retry (or a command retried by the caller) meets a
// conflict and the subject's last message carries the id of our last
// event, the earlier attempt succeeded: Append returns its sequence.
func (s *Store) Append(ctx context.Context, subject string, expected uint64, events ...Event) (uint64, error) {
	seq, _, err := s.AppendOnce(ctx, subject, expected, events...)
	return seq, err
}

// AppendOnce is Append that also tells whether the events were stored by
// this call. fresh is false when events with these ids were stored before
// (an attempt whose acknowledgement was lost, a command sent again): then
// what the log holds is that earlier append, whose contents may differ
// (another generated id, another time), and a writer that keeps state must
// load it rather than assume its own.
func (s *Store) AppendOnce(ctx context.Context, subject string, expected uint64, events ...Event) (seq uint64, fresh bool, err error) {
	if err := validate(subject, events); err != nil {
		return 0, false, fmt.Errorf("append %s: %w", subject, err)
	}
	r, err := s.append(ctx, subject, expected, events, 1)
	if err != nil {
		return 0, false, fmt.Errorf("append %s: %w", subject, err)
	}
	return r.seq, !r.duplicate, nil
}

// appended is the outcome of an append: the sequence of its last event, and
// whether an earlier append of the same ids stored them.
type appended struct {
	seq       uint64
	duplicate bool
}

func validate(subject string, events []Event) error {
	if subject == "" {
		return fmt.Errorf("%w: empty subject", ErrInvalidEvent)
	}
	if len(events) == 0 {
		return fmt.Errorf("%w: no events", ErrInvalidEvent)
	}
	if len(events) > MaxBatch {
		return fmt.Errorf("%w: %d events, at most %d per append", ErrInvalidEvent, len(events), MaxBatch)
	}
	for i, ev := range events {
		if err := validateEvent(i, ev); err != nil {
			return err
		}
	}
	if len(events) > 1 {
		ids := make(map[string]struct{}, len(events))
		for _, ev := range events {
			if _, dup := ids[ev.ID]; dup {
				return fmt.Errorf("%w: event id %q used twice", ErrInvalidEvent, ev.ID)
			}
			ids[ev.ID] = struct{}{}
		}
	}
	return nil
}

func validateEvent(i int, ev Event) error {
	switch {
	case ev.Type == "":
		return fmt.Errorf("%w: event %d has no type", ErrInvalidEvent, i)
	case ev.ID == "":
		return fmt.Errorf("%w: event %d (%s) has no id", ErrInvalidEvent, i, ev.Type)
	case ev.SchemaVersion < 0:
		return fmt.Errorf("%w: event %d (%s) has schema version %d", ErrInvalidEvent, i, ev.Type, ev.SchemaVersion)
	}
	return nil
}

// append runs the attempts, starting at attempt first (AppendAsync hands a
// lost acknowledgement over as attempt 2), under the project's backoff.
func (s *Store) append(ctx context.Context, subject string, expected uint64, events []Event, first int) (appended, error) {
	lastID := events[len(events)-1].ID
	tries := s.opts.maxAttempts - first + 1
	if tries < 1 {
		return appended{}, fmt.Errorf("no acknowledgement after %d attempts", s.opts.maxAttempts)
	}
	p := retry.Policy{Initial: 50 * time.Millisecond, Max: time.Second, Tries: uint(tries)}
	return retry.Value(ctx, p, func(int) (appended, error) {
		r, err := s.publish(ctx, s.messages(ctx, subject, expected, events))
		switch {
		case err == nil:
			return r, nil
		case isConflict(err):
			// Resolved, it is our own earlier append.
			seq, err := s.resolveConflict(ctx, subject, expected, lastID, err)
			return appended{seq: seq, duplicate: true}, retry.Permanent(err)
		case !retryable(ctx, err):
			return appended{}, retry.Permanent(err)
		}
		return appended{}, err
	})
}

// messages builds fresh messages for one attempt; the expectation goes on
// the first one, which is where the server checks it in a batch.
func (s *Store) messages(ctx context.Context, subject string, expected uint64, events []Event) []*nats.Msg {
	msgs := make([]*nats.Msg, len(events))
	for i, ev := range events {
		msgs[i] = s.message(ctx, subject, ev, i == 0, expected)
	}
	return msgs
}

// message encodes one event, with the expectation header if expect.
func (s *Store) message(ctx context.Context, subject string, ev Event, expect bool, expected uint64) *nats.Msg {
	// One backing array for the header values: this is the hot path of
	// AppendAsync.
	vals := make([]string, 5)
	vals[0], vals[1], vals[2] = ev.Type, strconv.Itoa(max(ev.SchemaVersion, 1)), ev.ID
	h := make(nats.Header, 8)
	h[HeaderEventType] = vals[0:1:1]
	h[HeaderSchemaVersion] = vals[1:2:2]
	h[HeaderMsgID] = vals[2:3:3]
	if ev.CorrelationID != "" {
		vals[3] = ev.CorrelationID
	} else {
		vals[3] = CorrelationID(ctx)
	}
	if vals[3] != "" {
		h[HeaderCorrelationID] = vals[3:4:4]
	}
	if expect {
		vals[4] = strconv.FormatUint(expected, 10)
		h[jetstream.ExpectedLastSubjSeqHeader] = vals[4:5:5]
	}
	tracing.InjectWith(ctx, s.propagator(), h)
	return &nats.Msg{Subject: subject, Header: h, Data: ev.Data}
}

// publishMsgs is one attempt: a plain publish for one event, an atomic batch
// for several (never a "fast" batch, which is not atomic).
func (s *Store) publishMsgs(ctx context.Context, msgs []*nats.Msg) (appended, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.attemptTimeout)
	defer cancel()
	if len(msgs) == 1 {
		// A duplicate ack (same Nats-Msg-Id inside the window) carries the
		// first sequence: the event was applied once, which is success.
		ack, err := s.js.PublishMsg(ctx, msgs[0])
		if err != nil {
			return appended{}, err
		}
		return appended{seq: ack.Sequence, duplicate: ack.Duplicate}, nil
	}
	// A batch with an id stored before is refused as a conflict, and
	// resolved as one.
	ack, err := jetstreamext.PublishMsgBatch(ctx, s.js, msgs, jetstreamext.BatchFlowControl{
		AckFirst:   true,
		AckTimeout: s.opts.attemptTimeout,
	})
	if err != nil {
		return appended{}, err
	}
	return appended{seq: ack.Sequence}, nil
}

// JetStream error codes this package reacts to.
const (
	codeWrongLastSequence         jetstream.ErrorCode = 10071 // with the actual sequence
	codeWrongLastSequenceConstant jetstream.ErrorCode = 10164 // replicated streams, no sequence
	codeDuplicateInProcess        jetstream.ErrorCode = 10158
	codeBatchDuplicateMsgID       jetstream.ErrorCode = 10201
	codeBatchIncomplete           jetstream.ErrorCode = 10176
	codeAtomicTooManyInflight     jetstream.ErrorCode = 10210
)

func apiErrorCode(err error) (jetstream.ErrorCode, *jetstream.APIError) {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode, apiErr
	}
	return 0, nil
}

// isConflict reports whether the server refused the expectation. In an
// atomic batch the server checks message ids before the expectation, so a
// duplicate id there is resolved the same way.
func isConflict(err error) bool {
	switch code, _ := apiErrorCode(err); code {
	case codeWrongLastSequence, codeWrongLastSequenceConstant, codeBatchDuplicateMsgID:
		return true
	}
	return false
}

// retryable reports whether an attempt may be repeated with the same ids:
// the outcome is unknown (no acknowledgement in time) or the server asked
// us to come back.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, jetstream.ErrAsyncPublishTimeout) {
		return true
	}
	switch code, _ := apiErrorCode(err); code {
	case codeDuplicateInProcess, codeBatchIncomplete, codeAtomicTooManyInflight:
		return true
	}
	return false
}

// resolveConflict turns a refused expectation into a *ConflictError, unless
// the subject's last message is our own last event: then an earlier attempt
// succeeded (on R1 streams the server checks the expectation before the
// message id, so a retry after a lost ack looks like a conflict).
func (s *Store) resolveConflict(ctx context.Context, subject string, expected uint64, lastID string, err error) (uint64, error) {
	cerr := &ConflictError{Subject: subject, Expected: expected, Err: err}
	if code, apiErr := apiErrorCode(err); code == codeWrongLastSequence {
		if i := strings.LastIndexByte(apiErr.Description, ':'); i >= 0 {
			cerr.Actual, _ = strconv.ParseUint(strings.TrimSpace(apiErr.Description[i+1:]), 10, 64)
		}
	}
	last, lerr := s.lastMessage(ctx, subject)
	if lerr != nil {
		// Without the last message we cannot tell; the conflict stands and
		// a reload will show the truth.
		return 0, cerr
	}
	if last == nil {
		return 0, cerr
	}
	if last.Header.Get(HeaderMsgID) == lastID {
		return last.Sequence, nil
	}
	if cerr.Actual == 0 {
		cerr.Actual = last.Sequence
	}
	return 0, cerr
}

// lastMessage returns the subject's last message, nil if it has none.
func (s *Store) lastMessage(ctx context.Context, subject string) (*jetstream.RawStreamMsg, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.attemptTimeout)
	defer cancel()
	stream, err := s.js.StreamNameBySubject(ctx, subject)
	if err != nil {
		return nil, fmt.Errorf("find stream of %s: %w", subject, err)
	}
	msgs, err := jetstreamext.GetLastMsgsFor(ctx, s.js, stream, []string{subject})
	if err != nil {
		return nil, fmt.Errorf("last message of %s: %w", subject, err)
	}
	var last *jetstream.RawStreamMsg
	var lerr error
	for m, err := range msgs {
		if err != nil {
			if !errors.Is(err, jetstreamext.ErrNoMessages) {
				lerr = err
			}
			break
		}
		if last == nil {
			last = m
		}
	}
	if lerr != nil {
		return nil, fmt.Errorf("last message of %s: %w", subject, lerr)
	}
	return last, nil
}
