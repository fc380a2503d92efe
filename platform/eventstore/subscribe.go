package eventstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"ballast.dev/platform/tracing"
)

// Subscription is a running Subscribe.
type Subscription interface {
	// Stop stops delivery. It does not wait; use Done. Safe to call more
	// than once and from inside the handler.
	Stop()
	// Done is closed when delivery has stopped and the handler will not be
	// called again.
	Done() <-chan struct{}
	// Err is the reason delivery stopped once Done is closed: the handler's
	// error, a consumer failure, or nil after Stop or the end of ctx.
	Err() error
}

// consumerInactiveThreshold lets the server delete a consumer whose client
// vanished without Stop; the default (5 minutes) leaves them piling up.
const consumerInactiveThreshold = 30 * time.Second

// Subscribe delivers every record of stream with a sequence above after
// whose subject matches filter (empty: all), strictly in order, and then
// keeps delivering new ones until Stop, the end of ctx, or an error from
// fn, which stops delivery and is reported by Err.
//
// It uses an ordered consumer: no acks and no redelivery, the client
// recreates the consumer from the last delivered sequence after any gap. A
// projection that stores the last sequence it applied can resume with
// after = that sequence. fn runs on one goroutine, with ctx carrying the
// record's trace context and correlation id (see WithCorrelationID), so
// that what the handler appends carries them on.
func (s *Store) Subscribe(ctx context.Context, stream, filter string, after uint64, fn func(context.Context, Record) error) (Subscription, error) {
	cfg := jetstream.OrderedConsumerConfig{
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		InactiveThreshold: consumerInactiveThreshold,
	}
	if after > 0 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = after + 1
	}
	if filter != "" {
		cfg.FilterSubjects = []string{filter}
	}
	cons, err := s.js.OrderedConsumer(ctx, stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("subscribe %s on %s: %w", filter, stream, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return nil, fmt.Errorf("subscribe %s on %s: %w", filter, stream, err)
	}
	sub := &subscription{
		it:   it,
		done: make(chan struct{}),
	}
	go sub.watch(ctx)
	go sub.run(ctx, s, stream, cons, after, fn)
	return sub, nil
}

type subscription struct {
	it   jetstream.MessagesContext
	done chan struct{}

	stopOnce sync.Once
	mu       sync.Mutex
	err      error
}

func (sub *subscription) Stop() {
	sub.stopOnce.Do(sub.it.Stop)
}

func (sub *subscription) Done() <-chan struct{} { return sub.done }

func (sub *subscription) Err() error {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.err
}

// watch stops the subscription when ctx ends.
func (sub *subscription) watch(ctx context.Context) {
	select {
	case <-ctx.Done():
		sub.Stop()
	case <-sub.done:
	}
}

func (sub *subscription) run(ctx context.Context, s *Store, stream string, cons jetstream.Consumer, after uint64, fn func(context.Context, Record) error) {
	defer close(sub.done)
	defer sub.cleanup(s, stream, cons)
	last := after
	for {
		msg, err := sub.it.Next()
		if err != nil {
			if !errors.Is(err, jetstream.ErrMsgIteratorClosed) && ctx.Err() == nil {
				sub.fail(fmt.Errorf("subscribe %s: %w", stream, err))
			}
			return
		}
		meta, err := msg.Metadata()
		if err != nil {
			sub.fail(fmt.Errorf("subscribe %s: %w", stream, err))
			return
		}
		// The ordered consumer never goes back, but a handler that skips by
		// checkpoint must never see a record twice: be certain.
		if meta.Sequence.Stream <= last {
			continue
		}
		h := msg.Headers()
		rec := newRecord(msg.Subject(), meta.Sequence.Stream, meta.Timestamp, h, msg.Data())
		hctx := WithCorrelationID(tracing.ExtractWith(ctx, s.propagator(), h), rec.CorrelationID)
		if err := fn(hctx, rec); err != nil {
			sub.fail(fmt.Errorf("subscribe %s: handle %s (seq %d): %w", stream, rec.Subject, rec.Sequence, err))
			return
		}
		last = rec.Sequence
	}
}

func (sub *subscription) fail(err error) {
	sub.mu.Lock()
	sub.err = err
	sub.mu.Unlock()
	sub.Stop()
}

// cleanup deletes the current server-side consumer rather than leaving it
// for the inactivity threshold. Best effort.
func (sub *subscription) cleanup(s *Store, stream string, cons jetstream.Consumer) {
	sub.Stop()
	info := cons.CachedInfo()
	if info == nil || s.js.Conn().IsClosed() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.js.DeleteConsumer(ctx, stream, info.Name)
}
