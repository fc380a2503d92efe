package eventstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"ballast.dev/platform/retry"
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
// fn, which stops delivery and is reported by Err. A lost consumer (a
// server restart, a missed heartbeat under load) is recreated from the last
// record delivered, as often as it takes.
//
// It uses an ordered consumer: no acks and no redelivery, the client
// recreates the consumer from the last delivered sequence after any gap. A
// projection that stores the last sequence it applied can resume with
// after = that sequence. fn runs on one goroutine, with ctx carrying the
// record's trace context and correlation id (see WithCorrelationID), so
// that what the handler appends carries them on.
func (s *Store) Subscribe(ctx context.Context, stream, filter string, after uint64, fn func(context.Context, Record) error) (Subscription, error) {
	sub := &subscription{s: s, stream: stream, filter: filter, done: make(chan struct{})}
	if err := sub.open(ctx, after); err != nil {
		return nil, err
	}
	go sub.watch(ctx)
	go sub.run(ctx, after, fn)
	return sub, nil
}

// open creates the ordered consumer from sequence after+1 and its iterator.
func (sub *subscription) open(ctx context.Context, after uint64) error {
	cfg := jetstream.OrderedConsumerConfig{
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		InactiveThreshold: consumerInactiveThreshold,
	}
	if after > 0 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = after + 1
	}
	if sub.filter != "" {
		cfg.FilterSubjects = []string{sub.filter}
	}
	cons, err := sub.s.js.OrderedConsumer(ctx, sub.stream, cfg)
	if err != nil {
		return fmt.Errorf("subscribe %s on %s: %w", sub.filter, sub.stream, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("subscribe %s on %s: %w", sub.filter, sub.stream, err)
	}
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.stopped {
		it.Stop()
		return errStopped
	}
	sub.it, sub.cons = it, cons
	return nil
}

// errStopped: Stop came first.
var errStopped = errors.New("subscription stopped")

// reopen follows the stream again after the ordered consumer gave up (its
// own recreation failed, as it may while the server restarts), from the
// last record delivered, for as long as ctx lasts.
var reopen = retry.Policy{Initial: 100 * time.Millisecond, Max: 5 * time.Second}

type subscription struct {
	s              *Store
	stream, filter string
	done           chan struct{}

	stopOnce sync.Once
	mu       sync.Mutex
	it       jetstream.MessagesContext
	cons     jetstream.Consumer
	stopped  bool
	err      error
}

func (sub *subscription) Stop() {
	sub.stopOnce.Do(func() {
		sub.mu.Lock()
		sub.stopped = true
		it := sub.it
		sub.mu.Unlock()
		if it != nil {
			it.Stop()
		}
	})
}

func (sub *subscription) Done() <-chan struct{} { return sub.done }

func (sub *subscription) Err() error {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.err
}

func (sub *subscription) isStopped() bool {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.stopped
}

func (sub *subscription) current() (jetstream.MessagesContext, jetstream.Consumer) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.it, sub.cons
}

// watch stops the subscription when ctx ends.
func (sub *subscription) watch(ctx context.Context) {
	select {
	case <-ctx.Done():
		sub.Stop()
	case <-sub.done:
	}
}

func (sub *subscription) run(ctx context.Context, after uint64, fn func(context.Context, Record) error) {
	defer close(sub.done)
	defer sub.cleanup()
	last := after
	for {
		it, _ := sub.current()
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || sub.isStopped() {
				return
			}
			// The ordered consumer recreates itself after a gap or a
			// missed heartbeat; it ends only when that failed too. Follow
			// the stream again from the last record delivered.
			sub.cleanup()
			err := retry.Do(ctx, reopen, func(int) error {
				err := sub.open(ctx, last)
				if errors.Is(err, errStopped) {
					return retry.Permanent(err)
				}
				return err
			})
			if err != nil {
				return // stopped, or ctx ended
			}
			continue
		}
		meta, err := msg.Metadata()
		if err != nil {
			sub.fail(fmt.Errorf("subscribe %s: %w", sub.stream, err))
			return
		}
		// The ordered consumer never goes back, but a handler that skips by
		// checkpoint must never see a record twice: be certain.
		if meta.Sequence.Stream <= last {
			continue
		}
		h := msg.Headers()
		rec := newRecord(msg.Subject(), meta.Sequence.Stream, meta.Timestamp, h, msg.Data())
		hctx := WithCorrelationID(tracing.ExtractWith(ctx, sub.s.propagator(), h), rec.CorrelationID)
		if err := fn(hctx, rec); err != nil {
			sub.fail(fmt.Errorf("subscribe %s: handle %s (seq %d): %w", sub.stream, rec.Subject, rec.Sequence, err))
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

// cleanup stops the current iterator and deletes its server-side consumer
// rather than leaving it for the inactivity threshold. Best effort.
func (sub *subscription) cleanup() {
	it, cons := sub.current()
	if it != nil {
		it.Stop()
	}
	if cons == nil || sub.s.js.Conn().IsClosed() {
		return
	}
	info := cons.CachedInfo()
	if info == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = sub.s.js.DeleteConsumer(ctx, sub.stream, info.Name)
}

// Replay calls fn, in order on one goroutine, with every record the stream
// holds when it is called, and returns when fn has had the last: a start
// that rebuilds a small state from a whole stream. An error from fn stops
// it and is returned.
func (s *Store) Replay(ctx context.Context, stream string, fn func(Record) error) error {
	last, err := s.LastSequence(ctx, stream)
	if err != nil || last == 0 {
		return err
	}
	done := make(chan struct{})
	var once sync.Once
	sub, err := s.Subscribe(ctx, stream, "", 0, func(_ context.Context, rec Record) error {
		if err := fn(rec); err != nil {
			return err
		}
		if rec.Sequence >= last {
			once.Do(func() { close(done) })
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer sub.Stop()
	select {
	case <-done:
		return nil
	case <-sub.Done():
		if err := sub.Err(); err != nil {
			return err
		}
		return fmt.Errorf("replay of %s stopped", stream)
	case <-ctx.Done():
		return ctx.Err()
	}
}
