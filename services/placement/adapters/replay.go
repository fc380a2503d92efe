package adapters

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
	"ballast.dev/services/placement/app"
	"ballast.dev/services/placement/domain"
)

// Replayer rebuilds the cluster model as it stood at a past position of the
// log, for explain. It implements app.Replayer.
type Replayer struct {
	Store *eventstore.Store
	Log   *slog.Logger
}

var _ app.Replayer = Replayer{}

// errReplayed stops a replay at the position asked for.
var errReplayed = errors.New("replayed up to the position")

// ClusterAt implements app.Replayer. It applies the node stream up to
// at.Node, then the placement stream up to at.Placement, through the same
// applyEvent as the live model, in the order the live model applies them
// when it starts.
func (r Replayer) ClusterAt(ctx context.Context, at app.Position, overcommit float64) (*domain.Cluster, error) {
	if overcommit == 0 {
		overcommit = 1
	}
	c, err := domain.NewCluster(domain.WithOvercommit(overcommit))
	if err != nil {
		return nil, err
	}
	for _, s := range []struct {
		a    events.Aggregate
		upTo uint64
	}{{events.Node, at.Node}, {events.Placement, at.Placement}} {
		if err := r.replay(ctx, s.a, s.upTo, c); err != nil {
			return nil, fmt.Errorf("rebuild the model at %s %d: %w", s.a.Stream, s.upTo, err)
		}
	}
	return c, nil
}

// replay applies the records of one stream up to sequence upTo to c.
func (r Replayer) replay(ctx context.Context, a events.Aggregate, upTo uint64, c *domain.Cluster) error {
	if upTo == 0 {
		return nil
	}
	last, err := r.Store.LastSequence(ctx, a.Stream)
	if err != nil {
		return err
	}
	if last < upTo {
		return fmt.Errorf("the stream ends at sequence %d", last)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sub, err := r.Store.Subscribe(ctx, a.Stream, "", 0, func(_ context.Context, rec eventstore.Record) error {
		if rec.Sequence <= upTo {
			r.apply(c, rec)
		}
		if rec.Sequence >= upTo {
			return errReplayed
		}
		return nil
	})
	if err != nil {
		return err
	}
	<-sub.Done()
	switch err := sub.Err(); {
	case errors.Is(err, errReplayed):
		return nil
	case err != nil:
		return err
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return errors.New("replay stopped early")
}

// apply applies one record as the live model does: what cannot be read
// (or names another aggregate than its subject) or applied is logged and
// passed over, never fatal. The live model has counted what it skipped
// already, so a replay does not count it again.
func (r Replayer) apply(c *domain.Cluster, rec eventstore.Record) {
	if !applies[rec.Type] {
		return
	}
	msg, err := events.Read(rec.Subject, rec.Type, rec.Data)
	if err == nil {
		_, err = applyEvent(c, msg)
	}
	if err != nil && r.Log != nil {
		r.Log.Debug("explain replay skips an event", "subject", rec.Subject, "seq", rec.Sequence, "err", err)
	}
}
