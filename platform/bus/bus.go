// Package bus runs the handlers that react to events: Watermill routers over
// durable JetStream consumers created in code, with retries, a dead-letter
// subject for what cannot be handled, panic recovery, correlation ids and
// trace context.
//
// Middleware order matters (first added runs outermost): tracing,
// PoisonQueue, Retry, Timeout, CorrelationID, Recoverer. The poison queue
// sits outside Retry so that a message is retried before it is given up on;
// the Recoverer sits innermost so that a panicking handler becomes an error
// that is retried and then dead-lettered, instead of a message redelivered
// forever.
package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
)

// Dead letters: a message that cannot be decoded or handled after its
// retries is published here with the reason, and the stream moves on.
const (
	DeadLetterStream = "BALLAST_DEADLETTER"
	deadLetterRoot   = "ballast.dlq"
)

// Metadata keys the bus sets on every message besides the NATS headers.
const (
	metaSubject  = "ballast_subject"
	metaSequence = "ballast_stream_sequence"
	metaTime     = "ballast_append_time"
)

// Connect opens a NATS connection. Watermill's NATS subscribers drain their
// connection on close, so every consumer gets a connection of its own.
type Connect func() (*nats.Conn, error)

// Event is a decoded event delivered to a handler.
type Event struct {
	Subject       string
	Sequence      uint64
	Type          string
	CorrelationID string
	Time          time.Time
	Payload       proto.Message
}

// Handler handles one event. An error is retried; an error wrapped with
// Permanent goes to the dead-letter subject at once.
type Handler func(ctx context.Context, ev Event) error

// Mux routes events to handlers by type. Types without a handler are
// acknowledged and skipped: a stream carries many types, and a new type must
// not be redelivered forever by services that do not know it.
type Mux struct{ routes map[string]Handler }

// On registers fn for the events of type T.
func On[T proto.Message](m *Mux, fn func(ctx context.Context, ev Event, msg T) error) {
	var zero T
	if m.routes == nil {
		m.routes = map[string]Handler{}
	}
	m.routes[events.TypeOf(zero)] = func(ctx context.Context, ev Event) error {
		return fn(ctx, ev, ev.Payload.(T))
	}
}

// Handles reports whether the mux has a handler for typ.
func (m *Mux) Handles(typ string) bool { _, ok := m.routes[typ]; return ok }

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks an error that retrying cannot cure.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err was marked Permanent.
func IsPermanent(err error) bool { var p permanentError; return errors.As(err, &p) }

// Consumer describes a durable consumer and how its messages are handled.
type Consumer struct {
	// Name is the durable consumer's name, unique in its stream, e.g.
	// "placement-volume-events". Its position survives restarts.
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
	// AckWait is how long a message may be in a handler before it is
	// redelivered; 0 means 30 s.
	AckWait time.Duration
}

// Router runs the handlers of one service.
type Router struct {
	service string
	connect Connect
	js      jetstream.JetStream
	router  *message.Router
	logger  watermill.LoggerAdapter
	closers []func() error
	subs    []*wmnats.Subscriber
	conns   []*nats.Conn // the subscribers' own connections
}

// NewRouter makes the router of a service. js is used to create the
// consumers and the dead-letter stream.
func NewRouter(ctx context.Context, service string, connect Connect, js jetstream.JetStream, logger *slog.Logger) (*Router, error) {
	if logger == nil {
		logger = slog.Default()
	}
	wl := watermill.NewSlogLoggerWithLevelMapping(logger.With("service", service), map[slog.Level]slog.Level{
		slog.LevelInfo: slog.LevelDebug,
	})
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, wl)
	if err != nil {
		return nil, fmt.Errorf("bus: %w", err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        DeadLetterStream,
		Description: "Ballast events that could not be handled, with the reason",
		Subjects:    []string{deadLetterRoot + ".>"},
		Storage:     jetstream.FileStorage,
	}); err != nil {
		return nil, fmt.Errorf("bus: dead-letter stream: %w", err)
	}
	r := &Router{service: service, connect: connect, js: js, router: router, logger: wl}

	dlqConn, err := connect()
	if err != nil {
		return nil, fmt.Errorf("bus: connect: %w", err)
	}
	dlq, err := wmnats.NewPublisherWithNatsConn(dlqConn, wmnats.PublisherPublishConfig{
		Marshaler:         &wmnats.NATSMarshaler{},
		SubjectCalculator: wmnats.DefaultSubjectCalculator,
		JetStream:         wmnats.JetStreamConfig{TrackMsgId: true},
	}, wl)
	if err != nil {
		dlqConn.Close()
		return nil, fmt.Errorf("bus: dead-letter publisher: %w", err)
	}
	r.closers = append(r.closers, dlq.Close)
	poison, err := middleware.PoisonQueue(dlq, DeadLetterSubject(service))
	if err != nil {
		return nil, err
	}
	router.AddMiddleware(
		tracing,
		poison,
		middleware.Retry{
			MaxRetries:      5,
			InitialInterval: 10 * time.Millisecond,
			MaxInterval:     500 * time.Millisecond,
			Multiplier:      2,
			Logger:          wl,
			ShouldRetry:     func(p middleware.RetryParams) bool { return !IsPermanent(p.Err) },
		}.Middleware,
		middleware.Timeout(30*time.Second),
		middleware.CorrelationID,
		middleware.Recoverer,
	)
	return r, nil
}

// DeadLetterSubject is where a service's dead letters go.
func DeadLetterSubject(service string) string { return deadLetterRoot + "." + service }

// Handle creates (or updates) the durable consumer c and routes its messages
// through mux.
func (r *Router) Handle(ctx context.Context, c Consumer, mux *Mux) error {
	if c.Concurrency <= 0 {
		c.Concurrency = 16
	}
	if c.InOrder {
		c.Concurrency = 1
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	_, err := r.js.CreateOrUpdatePushConsumer(ctx, c.Stream, jetstream.ConsumerConfig{
		Durable:        c.Name,
		Description:    r.service + " handlers",
		DeliverSubject: "ballast.deliver." + c.Name,
		DeliverGroup:   c.Name,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        c.AckWait,
		MaxAckPending:  c.Concurrency,
		FilterSubject:  c.Filter,
	})
	if err != nil {
		return fmt.Errorf("bus: consumer %s on %s: %w", c.Name, c.Stream, err)
	}
	conn, err := r.connect()
	if err != nil {
		return fmt.Errorf("bus: connect: %w", err)
	}
	sub, err := wmnats.NewSubscriberWithNatsConn(conn, wmnats.SubscriberSubscriptionConfig{
		Unmarshaler:      unmarshaler{},
		SubscribersCount: c.Concurrency,
		AckWaitTimeout:   c.AckWait,
		CloseTimeout:     10 * time.Second,
		QueueGroupPrefix: c.Name,
		JetStream: wmnats.JetStreamConfig{
			DurablePrefix:    c.Name,
			SubscribeOptions: []nats.SubOpt{nats.Bind(c.Stream, c.Name), nats.ManualAck()},
		},
	}, r.logger)
	if err != nil {
		conn.Close()
		return fmt.Errorf("bus: subscriber %s: %w", c.Name, err)
	}
	r.subs, r.conns = append(r.subs, sub), append(r.conns, conn)
	r.router.AddConsumerHandler(c.Name, c.Filter, sub, func(msg *message.Message) error {
		return dispatch(mux, msg)
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

// Running is closed once every handler runs.
func (r *Router) Running() chan struct{} { return r.router.Running() }

// Close stops the handlers, waiting for those in flight and for the
// subscribers' connections to finish draining, so that nothing is cut off
// when the server goes next.
func (r *Router) Close() error {
	err := r.router.Close()
	// Watermill closes a handler's subscriber only if the router closes
	// before the context Run was given ends; a service stopping because
	// its context ended must close them itself. Close is idempotent.
	for _, sub := range r.subs {
		err = errors.Join(err, sub.Close())
	}
	for _, c := range r.closers {
		err = errors.Join(err, c())
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, conn := range r.conns {
		for !conn.IsClosed() && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if !conn.IsClosed() {
			conn.Close()
		}
	}
	return err
}

func dispatch(mux *Mux, msg *message.Message) error {
	typ := msg.Metadata.Get(eventstore.HeaderEventType)
	if !mux.Handles(typ) {
		return nil
	}
	payload, err := events.Decode(typ, msg.Payload)
	if err != nil {
		return Permanent(err)
	}
	seq, _ := strconv.ParseUint(msg.Metadata.Get(metaSequence), 10, 64)
	at, _ := time.Parse(time.RFC3339Nano, msg.Metadata.Get(metaTime))
	ev := Event{
		Subject:       msg.Metadata.Get(metaSubject),
		Sequence:      seq,
		Type:          typ,
		CorrelationID: middleware.MessageCorrelationID(msg),
		Time:          at,
		Payload:       payload,
	}
	ctx := eventstore.WithCorrelationID(msg.Context(), ev.CorrelationID)
	return mux.routes[typ](ctx, ev)
}

// unmarshaler turns a stored event into a Watermill message: the event id is
// the message id, and the headers, subject, sequence and time are metadata.
type unmarshaler struct{}

func (unmarshaler) Unmarshal(m *nats.Msg) (*message.Message, error) {
	meta, err := m.Metadata()
	if err != nil {
		return nil, fmt.Errorf("bus: not a JetStream message: %w", err)
	}
	id := m.Header.Get(eventstore.HeaderMsgID)
	if id == "" {
		id = meta.Stream + ":" + strconv.FormatUint(meta.Sequence.Stream, 10)
	}
	wm := message.NewMessage(id, m.Data)
	for k, v := range m.Header {
		// The append's expectations must not travel on: a dead letter
		// published with them would be refused.
		if len(v) > 0 && !strings.HasPrefix(k, "Nats-Expected") && !strings.HasPrefix(k, "Nats-Batch") {
			wm.Metadata.Set(k, v[0])
		}
	}
	wm.Metadata.Set(metaSubject, m.Subject)
	wm.Metadata.Set(metaSequence, strconv.FormatUint(meta.Sequence.Stream, 10))
	wm.Metadata.Set(metaTime, meta.Timestamp.UTC().Format(time.RFC3339Nano))
	middleware.SetCorrelationID(m.Header.Get(eventstore.HeaderCorrelationID), wm)
	return wm, nil
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
