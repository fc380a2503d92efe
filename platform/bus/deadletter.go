package bus

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"ballast.dev/platform/events"
)

// Headers of a dead letter. Its payload is the original message's; its
// other headers are the original's, but for the server's control headers.
const (
	HeaderDeadService    = "Ballast-Dead-Service"
	HeaderDeadReason     = "Ballast-Dead-Reason"
	HeaderDeadStream     = "Ballast-Dead-Stream"
	HeaderDeadConsumer   = "Ballast-Dead-Consumer"
	HeaderDeadSubject    = "Ballast-Dead-Subject"
	HeaderDeadSequence   = "Ballast-Dead-Sequence"
	HeaderDeadDeliveries = "Ballast-Dead-Deliveries"
	HeaderDeadMsgID      = "Ballast-Dead-Msg-Id"
	HeaderDeadTime       = "Ballast-Dead-Time"
)

// maxReason bounds the reason kept with a dead letter: a handler's error can
// carry a whole payload.
const maxReason = 4096

// deadLetter records a message that could not be handled and acknowledges
// it, so that the stream moves on. A message whose context ended (the
// router is closing) is not dead: it goes back for redelivery.
func (r *Router) deadLetter(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		out, err := h(msg)
		if err == nil || msg.Context().Err() != nil {
			return out, err
		}
		d := deliveryOf(msg)
		if perr := publishDeadLetter(r.js, r.service, d, msg.Payload, err); perr != nil {
			r.log.Error("dead letter not recorded; the message will be redelivered", "subject", d.subject, "seq", d.sequence, "reason", err, "err", perr)
			return nil, err
		}
		r.stats.deadLettered.Add(1)
		r.log.Warn("event dead-lettered", "subject", d.subject, "seq", d.sequence, "dead_letter_subject", events.DeadLetterSubject(r.service), "reason", err)
		return nil, nil
	}
}

// publishDeadLetter records the message of d, whose payload is payload, as
// service's dead letter for cause.
func publishDeadLetter(js jetstream.JetStream, service string, d *delivery, payload []byte, cause error) error {
	h := nats.Header{}
	for k, v := range d.header {
		// The original's control headers must not travel on: an
		// expectation would refuse the dead letter, its message id would
		// deduplicate it against the dead letters of other services.
		if !strings.HasPrefix(k, "Nats-") {
			h[k] = v
		}
	}
	reason := cause.Error()
	if len(reason) > maxReason {
		reason = reason[:maxReason] + "…"
	}
	h.Set(HeaderDeadService, service)
	h.Set(HeaderDeadReason, reason)
	h.Set(HeaderDeadStream, d.stream)
	h.Set(HeaderDeadConsumer, d.consumer)
	h.Set(HeaderDeadSubject, d.subject)
	h.Set(HeaderDeadSequence, strconv.FormatUint(d.sequence, 10))
	h.Set(HeaderDeadDeliveries, strconv.FormatUint(d.deliveries, 10))
	h.Set(HeaderDeadTime, time.Now().UTC().Format(time.RFC3339Nano))
	if id := d.header.Get(jetstream.MsgIDHeader); id != "" {
		h.Set(HeaderDeadMsgID, id)
	}
	// One dead letter per service and event: a retried publish is stored
	// once, and two services that both give up on an event keep one each.
	h.Set(jetstream.MsgIDHeader, fmt.Sprintf("dead/%s/%s/%d", service, d.stream, d.sequence))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := js.PublishMsg(ctx, &nats.Msg{Subject: events.DeadLetterSubject(service), Header: h, Data: payload})
	return err
}
