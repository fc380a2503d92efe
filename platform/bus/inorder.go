package bus

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"
)

// An in-order consumer has one worker and up to inOrderWindow messages in
// flight from the server. Its order holds while every delivery comes to
// that worker in the order the server numbered it (the consumer sequence):
// a copy of a message then always follows the message, which the worker
// has settled, so the copy is acknowledged and not handled twice.
//
// Two things break that run. A process that died held messages: the server
// would send them again only after the ack wait, behind later ones. And a
// delivery can go astray (sent to a pull request the client had just given
// up on, in a NATS restart): a gap in the consumer sequence. Either way the
// subscriber rewinds the consumer (JetStream's consumer reset, nats-server
// 2.14+) to the first message its worker has not settled, or, at a start,
// to one past the consumer's ack floor. The server forgets every delivery
// outstanding and sends again, in order, from there; what was delivered
// before the rewind is dropped unsettled. A rewind at the start is also
// what brings the messages of a predecessor that died back at once, not
// after the ack wait. An in-order consumer has one reader: a second process
// on it would rewind the first.

// inOrderWindow is how many messages an in-order consumer has in flight
// from the server. Its one worker still handles them one at a time, in
// order; the window only spares it a round trip to the server per message,
// which would otherwise bound the whole stream's rate.
const inOrderWindow = 64

// rewindTimeout bounds one consumer reset request.
const rewindTimeout = 5 * time.Second

// pulled is a message as the puller hands it to the workers.
type pulled struct {
	jetstream.Msg
	epoch epoch
}

// epoch is one run of an in-order consumer's deliveries, from a rewind to
// the next.
type epoch struct {
	n uint64
	// first is the consumer sequence of its first delivery; 0 when the
	// consumer could not be rewound and its order is not known.
	first uint64
	// created is when the consumer was made: a consumer made again (its
	// stream was, say) starts afresh.
	created time.Time
}

// order is an in-order subscriber's place in its stream.
type order struct {
	// next is the stream sequence after the last message the worker
	// settled, where a rewind goes; 0 before it has settled one.
	next atomic.Uint64
	// resync asks the puller to rewind now; cancel ends its fetch.
	resync atomic.Bool
	mu     sync.Mutex
	cancel context.CancelFunc

	// The worker's own.
	epoch   uint64 // of the messages it takes
	dropped uint64 // epochs up to this one are dropped
	expect  uint64 // the consumer sequence of the next delivery; 0 when not known
}

// setCancel records how to end the fetch in progress (nil: none is). A
// rewind asked for before the fetch began ends it at once.
func (o *order) setCancel(cancel context.CancelFunc) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.cancel = cancel
	if cancel != nil && o.resync.Load() {
		cancel()
	}
}

// rewindNow asks the puller to rewind the consumer and ends its fetch.
func (o *order) rewindNow() {
	o.resync.Store(true)
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cancel != nil {
		o.cancel()
	}
}

// rewind resets the consumer cons (just declared) to the first message the
// worker has not settled, and returns the epoch that begins.
func (s *subscriber) rewind(cons jetstream.Consumer, prev epoch) (epoch, error) {
	info := cons.CachedInfo()
	at := epoch{n: prev.n + 1, created: info.Created}
	if !prev.created.IsZero() && !info.Created.Equal(prev.created) {
		s.order.next.Store(0) // a new consumer: its stream may have started over
	}
	if !supportsReset(s.js.Conn().ConnectedServerVersion()) {
		if prev.n == 0 {
			s.log.Warn("nats-server before 2.14 cannot reset a consumer: after a crash, messages come again only after the ack wait, and out of order",
				"server", s.js.Conn().ConnectedServerVersion())
		}
		return at, nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, rewindTimeout)
	defer cancel()
	var resp *jetstream.ConsumerResetResponse
	var err error
	if next := s.order.next.Load(); next == 0 {
		resp, err = s.js.ResetConsumer(ctx, s.c.Stream, s.c.Name)
	} else {
		resp, err = s.js.ResetConsumerToSequence(ctx, s.c.Stream, s.c.Name, next)
	}
	if err != nil {
		return epoch{}, fmt.Errorf("bus: rewind consumer %s on %s: %w", s.c.Name, s.c.Stream, err)
	}
	at.first = 1
	if resp.ConsumerInfo != nil {
		at.first = resp.Delivered.Consumer + 1
	}
	s.log.Debug("consumer rewound", "epoch", at.n, "stream_seq", resp.ResetSeq)
	return at, nil
}

// supportsReset tells whether a nats-server of version v has the consumer
// reset API (2.14 and later).
func supportsReset(v string) bool {
	var major, minor int
	if _, err := fmt.Sscanf(v, "%d.%d", &major, &minor); err != nil {
		return false
	}
	return major > 2 || major == 2 && minor >= 14
}

// takeInOrder is the in-order worker's step for one message: drop it if a
// rewind made the server forget it, rewind if a delivery went astray,
// acknowledge a copy of a message already settled, and otherwise skip or
// handle it.
func (s *subscriber) takeInOrder(m pulled, out chan<- *message.Message) {
	o := &s.order
	if m.epoch.n <= o.dropped {
		return
	}
	if m.epoch.n != o.epoch {
		o.epoch, o.expect = m.epoch.n, m.epoch.first
	}
	meta, err := m.Metadata()
	if err != nil {
		s.deliver(m.Msg, out) // which drops what is not a JetStream message
		return
	}
	seq := meta.Sequence.Stream
	if o.expect != 0 {
		if meta.Sequence.Consumer != o.expect {
			s.log.Warn("a delivery went astray; rewinding the consumer",
				"want_delivery", o.expect, "got_delivery", meta.Sequence.Consumer, "from", o.next.Load())
			o.dropped = m.epoch.n
			o.rewindNow()
			return
		}
		o.expect++
		if seq < o.next.Load() {
			_ = m.Ack() // a copy of a message settled here
			return
		}
	}
	if s.skip(m.Msg) || s.deliverInOrder(m.Msg, out) {
		o.next.Store(seq + 1)
	}
}
