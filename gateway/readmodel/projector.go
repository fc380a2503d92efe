package readmodel

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
)

// retryDelay is how long a projector waits before it subscribes again after
// its subscription failed (a consumer lost with the server, a store error).
const retryDelay = time.Second

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

// feed subscribes to stream from what proj has applied, and again from
// there whenever the subscription fails, until ctx ends.
func feed(ctx context.Context, store *eventstore.Store, logger *slog.Logger, proj Projection, stream string) {
	for ctx.Err() == nil {
		err := subscribeOnce(ctx, store, logger, proj, stream)
		if err == nil || ctx.Err() != nil {
			continue
		}
		logger.Warn("projection subscription failed; resubscribing", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(retryDelay):
		}
	}
}

func subscribeOnce(ctx context.Context, store *eventstore.Store, logger *slog.Logger, proj Projection, stream string) error {
	after, err := proj.Applied(ctx, stream)
	if err != nil {
		return err
	}
	// The whole stream, not a filter: every sequence must be applied, or a
	// read waiting for the stream's last sequence would wait forever.
	sub, err := store.Subscribe(ctx, stream, "", after, func(ctx context.Context, rec eventstore.Record) error {
		return proj.Apply(ctx, decode(logger, stream, rec))
	})
	if err != nil {
		return err
	}
	<-sub.Done()
	if err := sub.Err(); err != nil {
		return err
	}
	if ctx.Err() == nil {
		return errors.New("subscription ended")
	}
	return nil
}

// decode makes a projection event of a record. An undecodable payload is
// logged and passed on without a message, so that its sequence is applied.
func decode(logger *slog.Logger, stream string, rec eventstore.Record) Event {
	ev := Event{Stream: stream, Subject: rec.Subject, Sequence: rec.Sequence, Time: rec.Time, Type: rec.Type}
	m, err := events.Decode(rec.Type, rec.Data)
	if err != nil {
		logger.Warn("skipping undecodable event", "subject", rec.Subject, "seq", rec.Sequence, "err", err)
		return ev
	}
	ev.Message = m
	return ev
}
