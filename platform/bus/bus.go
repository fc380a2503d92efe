// Package bus runs the handlers that react to events: Watermill routers fed
// by durable JetStream pull consumers created in code, with retries under the
// project's one backoff policy, a dead-letter stream for what cannot be
// handled, panic recovery, correlation ids and trace context.
//
// Middleware order (first runs outermost): tracing, dead letter, retry,
// recover. Retry sits inside the dead letter so that a message is retried
// before it is given up on, and gives every attempt a fresh context with its
// own timeout, so that a retry never inherits the previous attempt's
// cancelled context. A panic is a bug, not a transient fault: it is
// dead-lettered at once.
package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
	"ballast.dev/platform/retry"
)

// Event is a decoded event delivered to a handler.
type Event struct {
	Subject       string
	Sequence      uint64
	Type          string
	CorrelationID string
	Time          time.Time
	Payload       proto.Message
	// decoded is the payload as an OnDecoded route's decoder read it.
	decoded any
}

// Handler handles one event. An error is retried; an error wrapped with
// Permanent goes to the dead-letter stream at once.
type Handler func(ctx context.Context, ev Event) error

// Mux routes events to handlers by type. An event of a type the contract
// knows but the mux has no handler for is acknowledged and counted as
// skipped: a stream carries many types and each service reacts to a few. An
// event without a type, of a type this build does not know, that cannot be
// decoded, or whose payload names another aggregate than its subject, is
// dead-lettered.
type Mux struct{ routes map[string]route }

// route is a type's handler, and how its payload is read: events.Read
// when decode is nil.
type route struct {
	handle Handler
	decode func(subject string, data []byte) (any, error)
}

// On registers fn for the events of type T.
func On[T proto.Message](m *Mux, fn func(ctx context.Context, ev Event, msg T) error) {
	var zero T
	m.add(events.TypeOf(zero), route{handle: func(ctx context.Context, ev Event) error {
		return fn(ctx, ev, ev.Payload.(T))
	}})
}

// OnDecoded registers fn for the events of typ's type, read by decode
// instead of into a protobuf message: for the hottest paths, where decoding
// straight into the domain's form saves most of the work. decode must
// refuse what events.Read refuses (a payload that does not parse, or names
// another aggregate than its subject, wrapping events.ErrSubjectMismatch);
// its errors dead-letter the event. ev.Payload is nil.
func OnDecoded[T any](m *Mux, typ proto.Message, decode func(subject string, data []byte) (T, error), fn func(ctx context.Context, ev Event, v T) error) {
	m.add(events.TypeOf(typ), route{
		decode: func(subject string, data []byte) (any, error) { return decode(subject, data) },
		handle: func(ctx context.Context, ev Event) error { return fn(ctx, ev, ev.decoded.(T)) },
	})
}

func (m *Mux) add(typ string, r route) {
	if m.routes == nil {
		m.routes = map[string]route{}
	}
	m.routes[typ] = r
}

// Handles reports whether the mux has a handler for typ.
func (m *Mux) Handles(typ string) bool { _, ok := m.routes[typ]; return ok }

// Permanent marks an error that retrying cannot cure.
func Permanent(err error) error { return retry.Permanent(err) }

// IsPermanent reports whether err was marked Permanent.
func IsPermanent(err error) bool { return retry.IsPermanent(err) }

// Consumer describes a durable consumer and how its messages are handled.
type Consumer struct {
	// Name is the durable consumer's name, unique in its stream, e.g.
	// "placement-volumes". Its position survives restarts.
	Name   string
	Stream string
	// Filter is kept coarse (a whole aggregate kind); the mux dispatches by
	// type in code.
	Filter string
	// InOrder delivers one message at a time in stream order, for handlers
	// whose decisions depend on the order of the whole stream.
	InOrder bool
	// Concurrency is how many messages are handled at once when not InOrder;
	// 0 means 16.
	Concurrency int
	// AckWait is how long a message may go without a sign of life from its
	// handler before the server gives it to another instance; 0 means
	// DefaultAckWait. Handlers in progress send that sign every third of it,
	// so it bounds how long a crashed instance holds a message, not how long
	// a handler may run.
	AckWait time.Duration
	// atMostOnce: nothing is acknowledged or delivered again (a Feed).
	atMostOnce bool
}

// DefaultAckWait is short so that a message held by a process that died is
// redelivered within seconds of its restart (or at once to another
// instance).
const DefaultAckWait = 3 * time.Second

// Defaults of a router's retries.
const (
	// DefaultAttemptTimeout bounds one attempt of a handler.
	DefaultAttemptTimeout = 30 * time.Second
	defaultConcurrency    = 16
	closeTimeout          = 10 * time.Second
)

// Option configures a Router.
type Option func(*options)

type options struct {
	retry          retry.Policy
	attemptTimeout time.Duration
}

// WithRetry sets the retry policy of handlers (default retry.Transient).
func WithRetry(p retry.Policy) Option { return func(o *options) { o.retry = p } }

// WithAttemptTimeout bounds one attempt of a handler (default
// DefaultAttemptTimeout).
func WithAttemptTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.attemptTimeout = d
		}
	}
}

// Stats counts what a router did with the messages it was given.
type Stats struct {
	// Handled messages were handled by a handler.
	Handled uint64
	// Skipped messages are of a type no handler takes.
	Skipped uint64
	// Retried counts the attempts after a first one failed.
	Retried uint64
	// DeadLettered messages went to the dead-letter stream.
	DeadLettered uint64
}

type counters struct{ handled, skipped, retried, deadLettered atomic.Uint64 }

// Router runs the handlers of one service.
type Router struct {
	service string
	js      jetstream.JetStream
	router  *message.Router
	log     *slog.Logger
	opts    options
	stats   counters

	mu   sync.Mutex
	subs []*subscriber
}

// NewRouter makes the router of a service. js creates the consumers and
// carries the dead letters; the dead-letter stream is declared with the
// others (events.EnsureStreams). logger is the service's, which names it.
func NewRouter(service string, js jetstream.JetStream, logger *slog.Logger, opts ...Option) (*Router, error) {
	if logger == nil {
		logger = slog.Default().With("service", service)
	}
	wl := watermill.NewSlogLoggerWithLevelMapping(logger, map[slog.Level]slog.Level{
		slog.LevelInfo: slog.LevelDebug,
	})
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: closeTimeout}, wl)
	if err != nil {
		return nil, fmt.Errorf("bus: %w", err)
	}
	r := &Router{
		service: service, js: js, router: router, log: logger,
		opts: options{retry: retry.Transient, attemptTimeout: DefaultAttemptTimeout},
	}
	for _, o := range opts {
		o(&r.opts)
	}
	router.AddMiddleware(tracing, r.deadLetter, r.retrying, r.recovering)
	return r, nil
}

// Handle creates (or updates) the durable consumer c and routes its messages
// through mux once the router starts.
func (r *Router) Handle(ctx context.Context, c Consumer, mux *Mux) error {
	if c.Concurrency <= 0 {
		c.Concurrency = defaultConcurrency
	}
	if c.InOrder {
		c.Concurrency = 1
	}
	if c.AckWait <= 0 {
		c.AckWait = DefaultAckWait
	}
	sub, err := newSubscriber(ctx, r.js, r.service, c, r.log, mux.Handles, &r.stats.skipped)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.subs = append(r.subs, sub)
	r.mu.Unlock()
	r.router.AddConsumerHandler(c.Name, c.Filter, sub, func(msg *message.Message) error {
		return r.dispatch(mux, msg)
	})
	return nil
}

// Start runs the handlers in the background and returns once every one of
// them runs. Close stops them.
func (r *Router) Start(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- r.router.Run(ctx) }()
	select {
	case <-r.router.Running():
		return nil
	case err := <-done:
		return fmt.Errorf("bus %s: %w", r.service, err)
	case <-ctx.Done():
		return fmt.Errorf("bus %s did not start: %w", r.service, ctx.Err())
	}
}

// Stats returns what the router did so far.
func (r *Router) Stats() Stats {
	return Stats{
		Handled:      r.stats.handled.Load(),
		Skipped:      r.stats.skipped.Load(),
		Retried:      r.stats.retried.Load(),
		DeadLettered: r.stats.deadLettered.Load(),
	}
}

// Close stops the handlers: those in flight see their context end, and what
// they leave unfinished is given back to the server for redelivery.
func (r *Router) Close() error {
	// Subscribers first: Watermill closes them only if the router closes
	// before the context Run was given ends, and its handlers end only
	// when their subscriber's channel does. Close is idempotent.
	r.mu.Lock()
	subs := slices.Clone(r.subs)
	r.mu.Unlock()
	var err error
	for _, sub := range subs {
		err = errors.Join(err, sub.Close())
	}
	return errors.Join(err, r.router.Close())
}

func (r *Router) dispatch(mux *Mux, msg *message.Message) error {
	d := deliveryOf(msg)
	typ := d.header.Get(eventstore.HeaderEventType)
	if typ == "" {
		return Permanent(errors.New("message has no " + eventstore.HeaderEventType + " header"))
	}
	if !events.Known(typ) {
		// An unknown type is dead-lettered too: it is kept, and counted,
		// until a build that knows it replays it.
		err := fmt.Errorf("decode event: %w %q", events.ErrUnknownType, typ)
		events.Skip(err, typ)
		return Permanent(err)
	}
	if !mux.Handles(typ) {
		// Known, and not ours (the subscriber acknowledges most of
		// these itself): not even decoded.
		r.stats.skipped.Add(1)
		return nil
	}
	rt := mux.routes[typ]
	ev := Event{
		Subject:       d.subject,
		Sequence:      d.sequence,
		Type:          typ,
		CorrelationID: d.header.Get(eventstore.HeaderCorrelationID),
		Time:          d.time,
	}
	var err error
	if rt.decode != nil {
		ev.decoded, err = rt.decode(d.subject, msg.Payload)
		if err != nil && !errors.Is(err, events.ErrSubjectMismatch) {
			err = fmt.Errorf("decode %s: %w", typ, err)
		}
	} else {
		ev.Payload, err = events.Read(d.subject, typ, msg.Payload)
	}
	if err != nil {
		events.Skip(err, typ)
		return Permanent(err)
	}
	ctx := eventstore.WithCorrelationID(msg.Context(), ev.CorrelationID)
	err = rt.handle(ctx, ev)
	if err == nil {
		r.stats.handled.Add(1)
	}
	return err
}

// retrying runs the handler under the retry policy, each attempt with a
// fresh context bounded by the attempt timeout. It gives up with the real
// error when the policy runs out, and at once on a Permanent error or when
// the message's own context ends (the router is closing).
func (r *Router) retrying(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		base := msg.Context()
		defer msg.SetContext(base)
		return retry.Value(base, r.opts.retry, func(attempt int) ([]*message.Message, error) {
			if attempt > 1 {
				r.stats.retried.Add(1)
			}
			ctx, cancel := context.WithTimeout(base, r.opts.attemptTimeout)
			defer cancel()
			msg.SetContext(ctx)
			out, err := h(msg)
			if err != nil && !IsPermanent(err) && base.Err() == nil {
				d := deliveryOf(msg)
				r.log.Debug("handler failed; retrying", "subject", d.subject, "seq", d.sequence, "attempt", attempt, "err", err)
			}
			return out, err
		})
	}
}

// recovering turns a panic into a Permanent error: retrying a bug only
// repeats it.
func (r *Router) recovering(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) (out []*message.Message, err error) {
		defer func() {
			if p := recover(); p != nil {
				d := deliveryOf(msg)
				r.log.Error("handler panicked", "subject", d.subject, "seq", d.sequence, "panic", p, "stack", string(debug.Stack()))
				err = Permanent(fmt.Errorf("handler panicked: %v", p))
			}
		}()
		return h(msg)
	}
}

var tracer = otel.Tracer("ballast.dev/platform/bus")

// tracing continues the trace of the append that produced the message. The
// metadata holds the headers under their lowercase W3C names.
func tracing(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		ctx := otel.GetTextMapPropagator().Extract(msg.Context(), propagation.MapCarrier(msg.Metadata))
		ctx, span := tracer.Start(ctx, "handle "+message.HandlerNameFromCtx(msg.Context()),
			trace.WithSpanKind(trace.SpanKindConsumer))
		defer span.End()
		msg.SetContext(ctx)
		out, err := h(msg)
		if err != nil {
			span.RecordError(err)
		}
		return out, err
	}
}
