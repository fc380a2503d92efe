package adapters

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/types/known/timestamppb"

	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
	pb "ballast.dev/proto/ballast/v1"
	"ballast.dev/services/migration/app"
	"ballast.dev/services/migration/domain"
)

// Journal appends to the moves' histories and the admission queue. It
// implements app.Journal, and applies what it stored to the state at once.
type Journal struct {
	Store *eventstore.Store
	State *app.State
}

var _ app.Journal = Journal{}

// Append implements app.Journal.
func (j Journal) Append(ctx context.Context, cause, id string, expected uint64, e domain.Event) (uint64, error) {
	ev, err := events.Encode(cause+"/"+id, EventToProto(id, e))
	if err != nil {
		return 0, err
	}
	seq, fresh, err := j.Store.AppendOnce(ctx, events.Migration.Subject(id), expected, ev)
	if err != nil {
		return 0, stale(err)
	}
	if fresh {
		j.State.Recorded(seq, id, e, false)
	}
	return seq, nil
}

// Admit implements app.Journal.
func (j Journal) Admit(ctx context.Context, id string, expected, requestedSeq uint64) (uint64, error) {
	m := &pb.MigrationStarted{Queue: Queue, MigrationId: id, RequestedSequence: requestedSeq, OccurTime: timestamppb.New(events.Now())}
	ev, err := events.Encode("admit/"+id, m)
	if err != nil {
		return 0, err
	}
	seq, fresh, err := j.Store.AppendOnce(ctx, events.MigrationQueue.Subject(Queue), expected, ev)
	if err != nil {
		return 0, stale(err)
	}
	if fresh {
		j.State.Recorded(seq, id, domain.Started{At: m.GetOccurTime().AsTime()}, true)
	}
	return seq, nil
}

func stale(err error) error {
	var c *eventstore.ConflictError
	if errors.As(err, &c) {
		return fmt.Errorf("%w", &app.StaleError{Actual: c.Actual})
	}
	return err
}

// Follow feeds the state from the migration stream, from its start, until
// ctx ends. It returns once the state has caught up with the stream's end
// as of the call.
func Follow(ctx context.Context, store *eventstore.Store, s *app.State, log interface {
	Error(msg string, args ...any)
}) (eventstore.Subscription, error) {
	sub, err := store.Subscribe(ctx, events.Migration.Stream, "", s.Applied(), func(_ context.Context, rec eventstore.Record) error {
		queue := rec.Subject == events.MigrationQueue.Subject(Queue)
		m, err := events.Read(rec.Subject, rec.Type, rec.Data)
		if err != nil {
			events.Skip(err, rec.Type)
			log.Error("migration state skips an event", "subject", rec.Subject, "seq", rec.Sequence, "err", err)
			s.Skip(rec.Sequence, queue)
			return nil
		}
		id, e, err := EventFromProto(m)
		if err != nil {
			s.Skip(rec.Sequence, queue)
			return nil
		}
		s.Apply(rec.Sequence, id, e, queue)
		return nil
	})
	if err != nil {
		return nil, err
	}
	last, err := store.LastSequence(ctx, events.Migration.Stream)
	if err != nil {
		sub.Stop()
		return nil, err
	}
	if err := s.Wait(ctx, last); err != nil {
		sub.Stop()
		return nil, err
	}
	return sub, nil
}
