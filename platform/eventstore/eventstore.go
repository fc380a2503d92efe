// Package eventstore is Ballast's event log on NATS JetStream.
//
// An aggregate's history is the sequence of messages on its subject
// (ballast.evt.<aggregate>.<id>). Appends are optimistic: the caller passes
// the stream sequence of the last event it saw on the subject and the
// server refuses the append if another writer got there first. Events
// carry their type, schema version, id (as Nats-Msg-Id, for deduplication)
// and correlation id in headers, and the W3C trace context of the caller.
//
// Read shared/notes/eventstore.md before changing anything here.
package eventstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
)

// Header names carried by every event message, besides Nats-Msg-Id (the
// event id) and the W3C "traceparent"/"tracestate" (lowercase).
const (
	// HeaderEventType is the full protobuf message name of the payload,
	// e.g. "ballast.v1.VolumeRequested".
	HeaderEventType = "Ballast-Event-Type"
	// HeaderSchemaVersion is the payload's schema version, in decimal.
	HeaderSchemaVersion = "Ballast-Schema-Version"
	// HeaderCorrelationID ties the event to the command or request that
	// caused it.
	HeaderCorrelationID = "Ballast-Correlation-Id"
	// HeaderMsgID is the NATS deduplication header; it carries Event.ID.
	HeaderMsgID = jetstream.MsgIDHeader
)

// DuplicateWindow is how long the server remembers event ids: an append
// retried within it is stored once. A retry after it is caught all the same,
// by its expectation: the subject's last message then carries the retried
// event's id (Append resolves that conflict as its own earlier success), or
// a writer came between, and the caller, reloading, finds its cause applied.
// The window costs memory in proportion to the append rate (about 140 bytes
// an event), so it is no longer than that spare check needs.
const DuplicateWindow = 30 * time.Second

// MaxBatch is the most events one Append may carry: the server's limit for
// an atomic batch.
const MaxBatch = 1000

var (
	// ErrConflict matches every *ConflictError: another writer appended to
	// the subject since the caller's expected sequence. Reload and decide
	// again.
	ErrConflict = errors.New("eventstore: concurrent append conflict")
	// ErrInvalidEvent is returned for events without a type or id, and for
	// appends with no events or too many.
	ErrInvalidEvent = errors.New("eventstore: invalid event")
	// ErrUnavailable: the connection to NATS is down, so the log cannot be
	// asked anything now. Reads fail fast with it rather than wait for a
	// reconnect that may take long.
	ErrUnavailable = errors.New("eventstore: the event log (NATS) is unreachable")
)

// Event is what a writer appends.
type Event struct {
	// Type is the full protobuf message name of Data. Required.
	Type string
	// SchemaVersion of Data; 0 means 1.
	SchemaVersion int
	// Data is the encoded payload.
	Data []byte
	// ID identifies the event; it becomes the Nats-Msg-Id, so an append
	// retried with the same id inside DuplicateWindow is applied once.
	// Derive it from the command id (e.g. "<command-id>/0"). Required.
	ID string
	// CorrelationID is optional; empty takes the one the context carries
	// (WithCorrelationID).
	CorrelationID string
}

// Record is a stored event.
type Record struct {
	Event
	// Subject is the aggregate subject the event was appended to.
	Subject string
	// Sequence is the stream sequence: the aggregate's version after this
	// event.
	Sequence uint64
	// Time is the server's timestamp.
	Time time.Time
	// Header holds the raw message headers, including the trace context.
	Header nats.Header
}

// ConflictError reports a failed expectation on the subject's last
// sequence. It matches ErrConflict with errors.Is.
type ConflictError struct {
	Subject  string
	Expected uint64
	// Actual is the subject's last sequence as seen by the server, 0 if
	// unknown (or if the subject is empty).
	Actual uint64
	// Err is the server's error.
	Err error
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("eventstore: conflict on %s: expected last sequence %d, actual %d", e.Subject, e.Expected, e.Actual)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// Unwrap returns the server's error.
func (e *ConflictError) Unwrap() error { return e.Err }

// StreamConfig describes an event stream.
type StreamConfig struct {
	Name     string
	Subjects []string
	// Replicas is the number of copies; 0 means 1. Production uses 3.
	Replicas    int
	Description string
}

// Option configures a Store.
type Option func(*options)

type options struct {
	prop           propagation.TextMapPropagator
	attemptTimeout time.Duration
	maxAttempts    int
	loadBatch      int
}

// WithPropagator sets the propagator used to inject and extract trace
// context. The default is otel.GetTextMapPropagator() at the time of use.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(o *options) { o.prop = p }
}

// WithAttemptTimeout bounds one publish attempt (default 5s). An attempt
// that gets no acknowledgement in time is retried with the same event ids.
func WithAttemptTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.attemptTimeout = d
		}
	}
}

// WithMaxAttempts bounds the publish attempts of one append (default 3).
func WithMaxAttempts(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.maxAttempts = n
		}
	}
}

// WithLoadBatch sets how many messages one batched direct get asks for
// while loading (default 256).
func WithLoadBatch(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.loadBatch = n
		}
	}
}

// Store appends and reads events. It is safe for concurrent use.
type Store struct {
	js   jetstream.JetStream
	opts options

	// publish sends one attempt; tests replace it to lose acknowledgements.
	publish func(ctx context.Context, msgs []*nats.Msg) (appended, error)
}

// New returns a Store on js.
func New(js jetstream.JetStream, opts ...Option) *Store {
	s := &Store{
		js: js,
		opts: options{
			attemptTimeout: 5 * time.Second,
			maxAttempts:    3,
			loadBatch:      256,
		},
	}
	for _, o := range opts {
		o(&s.opts)
	}
	s.publish = s.publishMsgs
	return s
}

func (s *Store) propagator() propagation.TextMapPropagator {
	if s.opts.prop != nil {
		return s.opts.prop
	}
	return otel.GetTextMapPropagator()
}

// EnsureStream declares an event stream (DeclareStream). Event streams
// keep everything: file storage, no age, count, size or per-subject limits,
// deletes and purges denied. Direct get is on (for Load) and atomic batch
// publish is on (for multi-event appends).
func (s *Store) EnsureStream(ctx context.Context, cfg StreamConfig) error {
	if cfg.Name == "" || len(cfg.Subjects) == 0 {
		return fmt.Errorf("ensure stream %q: name and subjects are required", cfg.Name)
	}
	return s.DeclareStream(ctx, streamConfig(cfg))
}

// DeclareStream creates the stream, or brings an existing one to cfg. It
// never lowers the replica count: a stream an operator runs with three
// replicas keeps them, whatever replica count the process was started with.
// A stream that already matches is left untouched.
func (s *Store) DeclareStream(ctx context.Context, cfg jetstream.StreamConfig) error {
	st, err := s.js.Stream(ctx, cfg.Name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		_, err = s.js.CreateStream(ctx, cfg)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			// Another process created it meanwhile: bring it to cfg.
			return s.DeclareStream(ctx, cfg)
		}
		if err != nil {
			return fmt.Errorf("create stream %s: %w", cfg.Name, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("stream %s: %w", cfg.Name, err)
	}
	have := st.CachedInfo().Config
	cfg.Replicas = max(cfg.Replicas, have.Replicas, 1)
	if sameStreamConfig(have, cfg) {
		return nil
	}
	if _, err := s.js.UpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("update stream %s: %w", cfg.Name, err)
	}
	return nil
}

// sameStreamConfig compares what Ballast declares of a stream; fields left
// zero in want are the server's to choose.
func sameStreamConfig(have, want jetstream.StreamConfig) bool {
	return slices.Equal(have.Subjects, want.Subjects) &&
		have.Description == want.Description &&
		have.Retention == want.Retention &&
		have.Replicas == want.Replicas &&
		(want.MaxMsgs == 0 || have.MaxMsgs == want.MaxMsgs) &&
		(want.MaxBytes == 0 || have.MaxBytes == want.MaxBytes) &&
		have.MaxAge == want.MaxAge &&
		(want.MaxMsgsPerSubject == 0 || have.MaxMsgsPerSubject == want.MaxMsgsPerSubject) &&
		(want.MaxMsgSize == 0 || have.MaxMsgSize == want.MaxMsgSize) &&
		(want.MaxConsumers == 0 || have.MaxConsumers == want.MaxConsumers) &&
		have.Discard == want.Discard &&
		(want.Duplicates == 0 || have.Duplicates == want.Duplicates) &&
		have.DenyDelete == want.DenyDelete &&
		have.DenyPurge == want.DenyPurge &&
		have.AllowDirect == want.AllowDirect &&
		have.AllowAtomicPublish == want.AllowAtomicPublish
}

func streamConfig(cfg StreamConfig) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:               cfg.Name,
		Description:        cfg.Description,
		Subjects:           cfg.Subjects,
		Retention:          jetstream.LimitsPolicy,
		Storage:            jetstream.FileStorage,
		Replicas:           max(cfg.Replicas, 1),
		MaxConsumers:       -1,
		MaxMsgs:            -1,
		MaxBytes:           -1,
		MaxAge:             0,
		MaxMsgsPerSubject:  -1,
		MaxMsgSize:         -1,
		Discard:            jetstream.DiscardOld,
		Duplicates:         DuplicateWindow,
		DenyDelete:         true,
		DenyPurge:          true,
		AllowDirect:        true,
		AllowAtomicPublish: true,
	}
}

// JetStream is the JetStream context the store works on.
func (s *Store) JetStream() jetstream.JetStream { return s.js }

// LastSequence returns the stream's last sequence. A read that waits until
// its projection has applied this sequence sees every append that finished
// before the call.
func (s *Store) LastSequence(ctx context.Context, stream string) (uint64, error) {
	if !s.js.Conn().IsConnected() {
		return 0, fmt.Errorf("last sequence of %s: %w", stream, ErrUnavailable)
	}
	// One request: the connection was up a moment ago, so a long silence
	// means it went down since.
	ctx, cancel := context.WithTimeout(ctx, s.opts.attemptTimeout)
	defer cancel()
	st, err := s.js.Stream(ctx, stream)
	if err != nil {
		return 0, fmt.Errorf("last sequence of %s: %w", stream, err)
	}
	return st.CachedInfo().State.LastSeq, nil
}

// newRecord decodes the event fields from the headers.
func newRecord(subject string, seq uint64, t time.Time, h nats.Header, data []byte) Record {
	r := Record{
		Event: Event{
			Type:          h.Get(HeaderEventType),
			SchemaVersion: 1,
			Data:          data,
			ID:            h.Get(HeaderMsgID),
			CorrelationID: h.Get(HeaderCorrelationID),
		},
		Subject:  subject,
		Sequence: seq,
		Time:     t,
		Header:   h,
	}
	if v, err := strconv.Atoi(h.Get(HeaderSchemaVersion)); err == nil && v > 0 {
		r.SchemaVersion = v
	}
	return r
}
