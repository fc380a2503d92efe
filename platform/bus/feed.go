package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
)

// A Feed is a durable consumer of a stream that is not history, such as
// node telemetry: every node reports every interval, a report missed is
// superseded by the next, and a report counted twice skews its window. So
// a feed is read at most once: nothing is acknowledged, nothing delivered
// again, a handler's failure drops the message (counted, logged) rather than
// retrying it, and none of a router's machinery runs per message (a
// Watermill message and goroutine, middleware, a trace span, an ack), which
// at a thousand reports a second was half of the metrics service's time. A
// message that cannot be read is dead-lettered, as on a router.
//
// Its position is durable and shared, as a router's is: a restarted process
// goes on after what was delivered, and instances on one feed share its
// messages. What was delivered to a process that died is lost.
type Feed struct {
	// Name is the durable consumer's name, unique in its stream.
	Name   string
	Stream string
	Filter string
	// Workers is how many messages are handled at once; 0 means twice
	// the processors.
	Workers int
}

// FeedStats counts what a feed did with its messages.
type FeedStats struct {
	// Handled messages were handled without error.
	Handled uint64
	// Dropped messages were read, and their handler failed.
	Dropped uint64
	// DeadLettered messages could not be read and went to the dead-letter
	// stream.
	DeadLettered uint64
	// Last is the stream sequence of the last message the reader got from
	// the server (they come in stream order), and InHand how many it got
	// that are not yet handled, dropped or dead-lettered: when Last has
	// reached a sequence and InHand is 0, every message up to it that
	// came to this reader is through.
	Last   uint64
	InHand int64
}

// FeedReader is a running feed.
type FeedReader struct {
	sub     *subscriber
	service string
	typ     string
	stats   struct {
		handled, dropped, deadLettered, last atomic.Uint64
		inHand                               atomic.Int64
	}
	// nextWarn rate-limits the warnings of dropped messages: a handler
	// that fails, fails for every node.
	nextWarn atomic.Int64
}

// warnEvery is the least time between two warnings of a feed's drops.
const warnEvery = 10 * time.Second

// ReadFeed creates (or updates) the feed's durable consumer and reads it
// until Close: each message of typ's type is read by decode (which must
// refuse what events.Read refuses: see OnDecoded) and handed to handle,
// with the message's subject and a context that ends on Close. Messages of
// another type, or none, and those decode refuses are dead-lettered as
// service's. logger is the service's, which names it.
func ReadFeed[T any](ctx context.Context, js jetstream.JetStream, service string, f Feed, logger *slog.Logger,
	typ proto.Message, decode func(subject string, data []byte) (T, error),
	handle func(ctx context.Context, subject string, v T) error,
) (*FeedReader, error) {
	if logger == nil {
		logger = slog.Default().With("service", service)
	}
	if f.Workers <= 0 {
		f.Workers = 2 * runtime.GOMAXPROCS(0)
	}
	c := Consumer{Name: f.Name, Stream: f.Stream, Filter: f.Filter, Concurrency: f.Workers, atMostOnce: true}
	r := &FeedReader{service: service, typ: events.TypeOf(typ)}
	sub, err := newSubscriber(ctx, js, service, c, logger, nil, nil)
	if err != nil {
		return nil, err
	}
	r.sub = sub
	sub.onPull = func(m jetstream.Msg) {
		r.stats.inHand.Add(1)
		if meta, err := m.Metadata(); err == nil {
			r.stats.last.Store(meta.Sequence.Stream)
		}
	}
	sub.onDrop = func(jetstream.Msg) {
		// Lost, as a feed's messages may be: not in hand any more.
		r.stats.dropped.Add(1)
		r.stats.inHand.Add(-1)
	}
	// A buffer: a worker takes the next message without waking the
	// puller, and the puller goes on without waiting for a worker.
	msgs := make(chan pulled, feedBatch)
	// In the subscriber's group: its Close stops and waits for them.
	sub.wg.Go(func() {
		defer close(msgs)
		sub.pull(msgs)
	})
	for range f.Workers {
		sub.wg.Go(func() {
			for m := range msgs {
				r.handle(m.Msg, func(subject string, data []byte) error {
					v, err := decode(subject, data)
					if err != nil {
						events.Skip(err, r.typ)
						if !errors.Is(err, events.ErrSubjectMismatch) {
							err = fmt.Errorf("decode %s: %w", r.typ, err)
						}
						return unreadable{err}
					}
					return handle(sub.ctx, subject, v)
				})
			}
		})
	}
	return r, nil
}

// unreadable is why a message cannot be read: it is dead, not dropped.
type unreadable struct{ err error }

func (u unreadable) Error() string { return u.err.Error() }

// handle runs one message through fn and counts the outcome.
func (r *FeedReader) handle(m jetstream.Msg, fn func(subject string, data []byte) error) {
	defer r.stats.inHand.Add(-1)
	var err error
	switch typ := m.Headers().Get(eventstore.HeaderEventType); typ {
	case r.typ:
		err = fn(m.Subject(), m.Data())
	case "":
		err = unreadable{errors.New("message has no " + eventstore.HeaderEventType + " header")}
	default:
		err = fmt.Errorf("a feed of %s got a %s", r.typ, typ)
		if !events.Known(typ) {
			err = fmt.Errorf("decode event: %w %q", events.ErrUnknownType, typ)
			events.Skip(err, typ)
		}
		err = unreadable{err}
	}
	var dead unreadable
	switch {
	case err == nil:
		r.stats.handled.Add(1)
	case errors.As(err, &dead):
		r.deadLetter(m, dead.err)
	default:
		r.stats.dropped.Add(1)
		if now := time.Now().UnixNano(); now >= r.nextWarn.Load() && r.sub.ctx.Err() == nil {
			r.nextWarn.Store(now + int64(warnEvery))
			r.sub.log.Warn("feed message dropped: its handler failed", "subject", m.Subject(), "err", err,
				"dropped", r.stats.dropped.Load())
		}
	}
}

func (r *FeedReader) deadLetter(m jetstream.Msg, cause error) {
	d, err := deliveryFrom(m, r.sub.c.Name)
	if err == nil {
		err = publishDeadLetter(r.sub.js, r.service, d, m.Data(), cause)
	}
	if err != nil {
		// Not delivered again either way: a feed acknowledges nothing.
		r.stats.dropped.Add(1)
		r.sub.log.Error("dead letter not recorded; the message is dropped", "subject", m.Subject(), "reason", cause, "err", err)
		return
	}
	r.stats.deadLettered.Add(1)
	r.sub.log.Warn("feed message dead-lettered", "subject", m.Subject(), "seq", d.sequence,
		"dead_letter_subject", events.DeadLetterSubject(r.service), "reason", cause)
}

// Stats returns what the feed did so far.
func (r *FeedReader) Stats() FeedStats {
	// Last before InHand: a message is counted in hand before it is last.
	last := r.stats.last.Load()
	return FeedStats{
		Handled:      r.stats.handled.Load(),
		Dropped:      r.stats.dropped.Load(),
		DeadLettered: r.stats.deadLettered.Load(),
		Last:         last,
		InHand:       r.stats.inHand.Load(),
	}
}

// Close stops reading; the handlers in flight see their context end, and
// Close waits for them.
func (r *FeedReader) Close() error { return r.sub.Close() }
