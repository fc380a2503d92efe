package bus

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// delivered is one delivery of a stored message, as a pull brings it.
type delivered struct {
	stream, consumer uint64
	acked            atomic.Bool
}

func (d *delivered) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{Stream: "S", Sequence: jetstream.SequencePair{Stream: d.stream, Consumer: d.consumer}, NumDelivered: 1}, nil
}
func (d *delivered) Data() []byte                       { return nil }
func (d *delivered) Headers() nats.Header               { return nats.Header{} }
func (d *delivered) Subject() string                    { return "s." + strconv.FormatUint(d.stream, 10) }
func (d *delivered) Reply() string                      { return "" }
func (d *delivered) Ack() error                         { d.acked.Store(true); return nil }
func (d *delivered) DoubleAck(context.Context) error    { return d.Ack() }
func (d *delivered) Nak() error                         { return nil }
func (d *delivered) NakWithDelay(time.Duration) error   { return nil }
func (d *delivered) InProgress() error                  { return nil }
func (d *delivered) Term() error                        { return nil }
func (d *delivered) TermWithReason(reason string) error { return nil }

// The in-order worker hands on deliveries in the order the server numbered
// them; on a gap in that numbering it hands on nothing more of that run and
// asks for a rewind; after the rewind, copies of what it settled are
// acknowledged, not handled again.
func TestInOrderWorkerRewindsOnAGapAndHandlesNothingTwice(t *testing.T) {
	s := &subscriber{
		c: Consumer{Name: "c", InOrder: true}, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		handles: func(string) bool { return true }, skipped: &atomic.Uint64{},
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	defer s.cancel()
	out := make(chan *message.Message)
	var handled []uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for wm := range out {
			handled = append(handled, deliveryOf(wm).sequence)
			wm.Ack()
		}
	}()
	take := func(ep epoch, stream, consumer uint64) *delivered {
		d := &delivered{stream: stream, consumer: consumer}
		s.takeInOrder(pulled{Msg: d, epoch: ep}, out)
		return d
	}
	first := epoch{n: 1, first: 1}
	take(first, 10, 1)
	take(first, 11, 2)
	take(first, 13, 4) // delivery 3 went astray
	if !s.order.resync.Load() {
		t.Fatal("no rewind asked for after a gap in the deliveries")
	}
	take(first, 14, 5) // the rest of that run is dropped
	if got := s.order.next.Load(); got != 12 {
		t.Fatalf("rewinds to %d, want 12", got)
	}
	second := epoch{n: 2, first: 1}
	copyOf11 := take(second, 11, 1) // the server had not seen 11's ack
	take(second, 12, 2)
	take(second, 13, 3)
	close(out)
	<-done
	if want := []uint64{10, 11, 12, 13}; !slices.Equal(handled, want) {
		t.Fatalf("handled %v, want %v", handled, want)
	}
	if !copyOf11.acked.Load() {
		t.Fatal("the copy of a settled message was not acknowledged")
	}
}
