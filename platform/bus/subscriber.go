package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
	"ballast.dev/platform/retry"
)

// subscriber feeds a Watermill router from one durable pull consumer. It is
// Ballast's own rather than watermill-nats' because a handler that retries
// through a NATS restart runs far longer than an ack wait short enough to
// redeliver quickly after a crash: while a message is in a handler, the
// subscriber tells the server it is in progress every third of the ack wait.
// The library has no such heartbeat, and it gives up waiting for the
// handler's verdict after the ack wait, letting more messages into the
// handlers than the consumer allows.
type subscriber struct {
	js      jetstream.JetStream
	c       Consumer
	cfg     jetstream.ConsumerConfig
	log     *slog.Logger
	workers int
	// handles tells the types the consumer's handlers take; the others
	// the contract knows are acknowledged without reaching the router.
	handles  func(typ string) bool
	skipped  *atomic.Uint64
	inFlight messages // in the handlers, or waiting to go back in
	order    order    // an in-order consumer's place in its stream
	// onPull, if set, is called by the pulling goroutine with each
	// message, in the order the server sent them, before it is handed on.
	onPull func(jetstream.Msg)
	// onDrop, if set, is called with each message pulled and not handed
	// on: the request ended first (Close, or its expiry while every worker
	// was busy).
	onDrop func(jetstream.Msg)

	ctx    context.Context // ends on Close: handlers in flight see it
	cancel context.CancelFunc
	once   sync.Once
	wg     sync.WaitGroup
}

func newSubscriber(ctx context.Context, js jetstream.JetStream, service string, c Consumer, log *slog.Logger, handles func(string) bool, skipped *atomic.Uint64) (*subscriber, error) {
	pending := c.Concurrency
	if c.InOrder {
		pending = inOrderWindow
	}
	s := &subscriber{
		js: js, c: c, log: log.With("consumer", c.Name), workers: c.Concurrency,
		handles: handles, skipped: skipped,
		cfg: jetstream.ConsumerConfig{
			Durable:       c.Name,
			Description:   service + " handlers",
			DeliverPolicy: jetstream.DeliverAllPolicy,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       c.AckWait,
			MaxAckPending: pending,
			MaxDeliver:    -1,
			FilterSubject: c.Filter,
		},
	}
	if c.atMostOnce {
		// Nothing to acknowledge, so nothing pending: the server
		// forgets a message once it is delivered.
		s.cfg.AckPolicy, s.cfg.AckWait, s.cfg.MaxAckPending = jetstream.AckNonePolicy, 0, 0
	}
	// Created now, so that the position exists before the router starts
	// and nothing appended in between is missed.
	if _, err := s.consumer(ctx); err != nil {
		return nil, err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// consumer creates or updates the durable consumer. A consumer of the
// same name from an earlier version that cannot be updated into this one (a
// push consumer, or one of another ack policy) is replaced by one that
// starts after what the old one had acknowledged.
func (s *subscriber) consumer(ctx context.Context) (jetstream.Consumer, error) {
	cons, err := s.js.CreateOrUpdateConsumer(ctx, s.c.Stream, s.cfg)
	if err == nil {
		return cons, nil
	}
	old, oerr := s.js.Consumer(ctx, s.c.Stream, s.c.Name)
	if oerr != nil {
		return nil, fmt.Errorf("bus: consumer %s on %s: %w", s.c.Name, s.c.Stream, err)
	}
	if was := old.CachedInfo().Config; was.DeliverSubject == "" && was.AckPolicy == s.cfg.AckPolicy {
		return nil, fmt.Errorf("bus: consumer %s on %s: %w", s.c.Name, s.c.Stream, err)
	}
	cfg := s.cfg
	if floor := old.CachedInfo().AckFloor.Stream; floor > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, floor+1
	}
	if err := s.js.DeleteConsumer(ctx, s.c.Stream, s.c.Name); err != nil {
		return nil, fmt.Errorf("bus: replace consumer %s: %w", s.c.Name, err)
	}
	cons, err = s.js.CreateConsumer(ctx, s.c.Stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("bus: consumer %s on %s: %w", s.c.Name, s.c.Stream, err)
	}
	// Declared again (after a NATS restart, say) as it now is: its start
	// cannot be updated.
	s.cfg = cfg
	s.log.Info("consumer of an earlier version replaced", "start", cfg.OptStartSeq)
	return cons, nil
}

// Subscribe implements message.Subscriber: one goroutine pulls, and as many
// workers as the consumer's concurrency hand messages to the router and
// wait for its verdict.
func (s *subscriber) Subscribe(_ context.Context, _ string) (<-chan *message.Message, error) {
	out := make(chan *message.Message)
	msgs := make(chan pulled)
	s.wg.Go(func() {
		defer close(msgs)
		s.pull(msgs)
	})
	var workers sync.WaitGroup
	for range s.workers {
		workers.Go(func() {
			for m := range msgs {
				switch {
				case s.c.InOrder:
					s.takeInOrder(m, out)
				case !s.skip(m):
					s.deliver(m, out)
				}
			}
		})
	}
	s.wg.Go(func() {
		workers.Wait()
		close(out)
	})
	s.wg.Go(s.beat)
	return out, nil
}

// Pull requests, sent by the subscriber itself one at a time. A request
// lives until it has brought fetchBatch messages, expired at the server, or
// gone twice fetchHeartbeat without a heartbeat (the server lost it, as in a
// restart); the next is sent once it ends. The consumer's MaxAckPending, not
// the batch, bounds what is in flight: a batch larger than the concurrency
// only means fewer requests.
//
// Not nats.go's Messages (or Consume): in v1.55.0 their refill is skipped
// when it falls due while the goroutine that published the previous request
// has not yet marked it sent, and nothing asks again until the iterator's
// missing-heartbeat timer fires, 30 s later by default. With a quick
// handler on a busy connection that happens every few thousand messages: a
// consumer stops with messages pending, none in flight and no request
// waiting at the server (TestConsumerNeverStallsOnABusyConnection). A
// Fetch ends in every case, so no stale count can stop the reading. A
// message the server sends to a request the client has just given up on
// (lost heartbeats, its own deadline) is redelivered after the ack wait.
const (
	fetchBatch = 64
	// feedBatch is a feed's: nothing in flight to bound, so only the
	// round trip between two requests, when the workers wait, to spread.
	feedBatch      = 512
	fetchExpiry    = 30 * time.Second
	fetchHeartbeat = 2 * time.Second
)

// pull reads the consumer until Close. When a pull request fails (the
// consumer was deleted, say, or the server restarted), the consumer is
// declared again and reading goes on, under the project's backoff.
func (s *subscriber) pull(msgs chan<- pulled) {
	redeclare := retry.Policy{Initial: 100 * time.Millisecond, Max: 5 * time.Second}
	var cons jetstream.Consumer
	var at epoch
	for s.ctx.Err() == nil {
		err := retry.Do(s.ctx, redeclare, func(int) error {
			if s.js.Conn().IsClosed() {
				return retry.Permanent(nats.ErrConnectionClosed)
			}
			if cons == nil {
				c, err := s.consumer(s.ctx)
				if err != nil {
					return err
				}
				if s.c.InOrder {
					if at, err = s.rewind(c, at); err != nil {
						return err
					}
				}
				cons = c
			}
			err := s.fetch(cons, at, msgs)
			if s.c.InOrder && s.order.resync.Swap(false) {
				cons = nil // rewind, at once
				return nil
			}
			if err != nil {
				if s.ctx.Err() == nil {
					s.log.Warn("consumer read failed; declaring it again", "err", err)
				}
				cons = nil
				return err
			}
			return nil
		})
		if err != nil {
			return // closing
		}
	}
}

// fetch sends one pull request and hands the workers what it brings, until
// it ends. Messages it brought after Close began are given back at once; an
// in-order consumer's worker may also end it, to rewind (see takeInOrder).
func (s *subscriber) fetch(cons jetstream.Consumer, at epoch, msgs chan<- pulled) error {
	ctx, cancel := context.WithTimeout(s.ctx, fetchExpiry)
	defer cancel()
	if s.c.InOrder {
		s.order.setCancel(cancel)
		defer s.order.setCancel(nil)
	}
	n := fetchBatch
	if s.c.atMostOnce {
		n = feedBatch
	}
	batch, err := cons.Fetch(n, jetstream.FetchContext(ctx), jetstream.FetchHeartbeat(fetchHeartbeat))
	if err != nil {
		return err
	}
	for m := range batch.Messages() {
		if s.onPull != nil {
			s.onPull(m)
		}
		select {
		case msgs <- pulled{Msg: m, epoch: at}:
		case <-ctx.Done():
			if s.onDrop != nil {
				s.onDrop(m)
			}
			if !s.c.InOrder && !s.c.atMostOnce {
				_ = m.Nak()
			} // an in-order consumer rewinds past it, or starts from it next time
		}
	}
	err = batch.Error()
	if errors.Is(err, context.DeadlineExceeded) && s.ctx.Err() == nil {
		// The request's own deadline, reached before the server's
		// timeout arrived: it ended like any other.
		return nil
	}
	return err
}

// skip acknowledges at once a message of a type the contract knows and no
// handler of this consumer takes (most of a stream, for most consumers): it
// is neither decoded nor handed to the router. A message without a type, or
// of a type this build does not know, goes on to be dead-lettered.
func (s *subscriber) skip(jm jetstream.Msg) bool {
	typ := jm.Headers().Get(eventstore.HeaderEventType)
	if typ == "" || !events.Known(typ) || s.handles(typ) {
		return false
	}
	s.skipped.Add(1)
	_ = jm.Ack()
	return true
}

// deliver hands one message to the router and settles it with the server
// once the router has: ack after success (or a dead letter), nak with a
// growing delay after a failure.
func (s *subscriber) deliver(jm jetstream.Msg, out chan<- *message.Message) {
	switch acked, deliveries := s.handOver(jm, out); {
	case acked:
		_ = jm.Ack()
	case s.ctx.Err() != nil:
		_ = jm.Nak() // closing: another instance, or the next start, takes it at once
	default:
		_ = jm.NakWithDelay(nakDelay(int(deliveries)))
	}
}

// deliverInOrder is deliver for an in-order consumer, whose later messages
// are already on their way: a failed message is not given back (it would
// come again after them) but handed to the router again, here, after the
// same delay, until it is settled or the subscriber closes.
func (s *subscriber) deliverInOrder(jm jetstream.Msg, out chan<- *message.Message) (acked bool) {
	for attempt := 1; ; attempt++ {
		if acked, _ := s.handOver(jm, out); acked {
			_ = jm.Ack()
			return true
		}
		if s.ctx.Err() != nil || !s.wait(jm, nakDelay(attempt)) {
			_ = jm.Nak()
			return false
		}
	}
}

// nakDelay is how long a failed message waits before it is handled again.
func nakDelay(deliveries int) time.Duration {
	return min(time.Duration(deliveries)*500*time.Millisecond, 10*time.Second)
}

// handOver gives one message to the router and waits for its verdict,
// telling the server the message is in progress every third of the ack
// wait meanwhile. It reports whether the router acknowledged it (false
// also when the subscriber closes first), and how often the server has
// delivered it.
func (s *subscriber) handOver(jm jetstream.Msg, out chan<- *message.Message) (acked bool, deliveries uint64) {
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	wm, err := toMessage(ctx, jm, s.c.Name)
	if err != nil {
		s.log.Error("not a JetStream message; dropped", "subject", jm.Subject(), "err", err)
		_ = jm.Term()
		return true, 0
	}
	d := deliveryOf(wm)
	s.inFlight.add(jm)
	defer s.inFlight.remove(jm)
	select {
	case out <- wm:
	case <-s.ctx.Done():
		return false, d.deliveries
	}
	select {
	case <-wm.Acked():
		return true, d.deliveries
	case <-wm.Nacked():
		return false, d.deliveries
	}
}

// wait waits d, with jm in progress meanwhile; false if the subscriber
// closes first.
func (s *subscriber) wait(jm jetstream.Msg, d time.Duration) bool {
	s.inFlight.add(jm)
	defer s.inFlight.remove(jm)
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-s.ctx.Done():
		return false
	}
}

// beat tells the server, every third of the ack wait, that the messages in
// the handlers are in progress, until the subscriber closes: one ticker for
// the consumer, not one per message.
func (s *subscriber) beat() {
	t := time.NewTicker(max(s.c.AckWait/3, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.inFlight.each(func(m jetstream.Msg) { _ = m.InProgress() })
		}
	}
}

// messages is a set of messages in progress.
type messages struct {
	mu sync.Mutex
	m  map[jetstream.Msg]int
}

func (ms *messages) add(m jetstream.Msg) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.m == nil {
		ms.m = map[jetstream.Msg]int{}
	}
	ms.m[m]++
}

func (ms *messages) remove(m jetstream.Msg) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.m[m]--; ms.m[m] <= 0 {
		delete(ms.m, m)
	}
}

// each calls fn for every message, outside the lock.
func (ms *messages) each(fn func(jetstream.Msg)) {
	ms.mu.Lock()
	all := make([]jetstream.Msg, 0, len(ms.m))
	for m := range ms.m {
		all = append(all, m)
	}
	ms.mu.Unlock()
	for _, m := range all {
		fn(m)
	}
}

// Close stops pulling and ends the contexts of the messages in flight.
func (s *subscriber) Close() error {
	s.once.Do(func() {
		if s.cancel != nil {
			s.cancel()
		}
	})
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(closeTimeout):
		return fmt.Errorf("bus: consumer %s did not stop within %s", s.c.Name, closeTimeout)
	}
}

// delivery is where a message came from. It rides in the message's
// context (every middleware's context derives from it).
type delivery struct {
	stream, consumer, subject string
	sequence, deliveries      uint64
	time                      time.Time
	// header is the message's headers as stored.
	header nats.Header
}

type deliveryKey struct{}

// toMessage makes a Watermill message of a stored event, its delivery in
// the context ctx is derived from. The event id becomes the message id;
// the headers are also its metadata, where the trace propagator reads them.
func toMessage(ctx context.Context, m jetstream.Msg, consumer string) (*message.Message, error) {
	d, err := deliveryFrom(m, consumer)
	if err != nil {
		return nil, err
	}
	h := d.header
	id := h.Get(eventstore.HeaderMsgID)
	if id == "" {
		id = d.stream + ":" + strconv.FormatUint(d.sequence, 10)
	}
	wm := message.NewMessage(id, m.Data())
	for k, v := range h {
		if len(v) > 0 {
			wm.Metadata[k] = v[0]
		}
	}
	wm.SetContext(context.WithValue(ctx, deliveryKey{}, d))
	return wm, nil
}

// deliveryFrom is where m came from, read by consumer.
func deliveryFrom(m jetstream.Msg, consumer string) (*delivery, error) {
	meta, err := m.Metadata()
	if err != nil {
		return nil, err
	}
	return &delivery{
		stream: meta.Stream, consumer: consumer, subject: m.Subject(),
		sequence: meta.Sequence.Stream, deliveries: meta.NumDelivered, time: meta.Timestamp,
		header: m.Headers(),
	}, nil
}

// deliveryOf is the delivery of a message made by toMessage.
func deliveryOf(msg *message.Message) *delivery {
	if d, ok := msg.Context().Value(deliveryKey{}).(*delivery); ok {
		return d
	}
	return &delivery{header: nats.Header{}}
}
