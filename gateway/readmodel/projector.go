package readmodel

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
	"ballast.dev/platform/retry"
)

// Projector keeps projections up to date with the log: one ordered consumer
// per stream and projection, from the sequence the projection has applied.
type Projector struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// StartProjector feeds each projection from its streams until Stop. It does
// not wait for the projections to catch up: Sync does.
func StartProjector(store *eventstore.Store, logger *slog.Logger, ps ...Projection) *Projector {
	if logger == nil {
		logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Projector{cancel: cancel}
	for _, proj := range ps {
		for _, stream := range proj.Streams() {
			p.wg.Go(func() { feed(ctx, store, logger.With("stream", stream), proj, stream) })
		}
	}
	return p
}

// Stop stops feeding and waits until no event is being applied.
func (p *Projector) Stop() {
	p.cancel()
	p.wg.Wait()
}

// resubscribe is how a projector comes back after its subscription failed
// (a consumer lost with the server, a store error): it keeps trying for as
// long as the gateway runs.
var resubscribe = retry.Policy{Initial: 100 * time.Millisecond, Max: 5 * time.Second}

// feed subscribes to stream from what proj has applied, and again from
// there whenever the subscription fails, until ctx ends.
func feed(ctx context.Context, store *eventstore.Store, logger *slog.Logger, proj Projection, stream string) {
	for ctx.Err() == nil {
		sub, err := retry.Value(ctx, resubscribe, func(int) (eventstore.Subscription, error) {
			sub, err := subscribe(ctx, store, logger, proj, stream)
			if err != nil && ctx.Err() == nil {
				logger.Warn("projection cannot subscribe; trying again", "err", err)
			}
			return sub, err
		})
		if err != nil {
			return // ctx ended
		}
		<-sub.Done()
		if err := sub.Err(); err != nil && ctx.Err() == nil {
			logger.Warn("projection subscription failed; resubscribing", "err", err)
		}
	}
}

func subscribe(ctx context.Context, store *eventstore.Store, logger *slog.Logger, proj Projection, stream string) (eventstore.Subscription, error) {
	after, err := proj.Applied(ctx, stream)
	if err != nil {
		return nil, err
	}
	// The whole stream, not a filter: every sequence must be applied, or a
	// read waiting for the stream's last sequence would wait forever.
	return store.Subscribe(ctx, stream, "", after, func(ctx context.Context, rec eventstore.Record) error {
		return proj.Apply(ctx, decode(logger, stream, rec))
	})
}

// decode makes a projection event of a record. An undecodable payload is
// logged and passed on without a message, so that its sequence is applied.
func decode(logger *slog.Logger, stream string, rec eventstore.Record) Event {
	ev := Event{Stream: stream, Subject: rec.Subject, Sequence: rec.Sequence, Time: rec.Time, Type: rec.Type}
	m, err := events.Read(rec.Subject, rec.Type, rec.Data)
	if err != nil {
		events.Skip(err, rec.Type)
		logger.Warn("skipping an event this version cannot apply", "subject", rec.Subject, "seq", rec.Sequence, "err", err)
		return ev
	}
	ev.Message = m
	return ev
}
