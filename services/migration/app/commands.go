package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"ballast.dev/services/migration/domain"
)

// Commands are what placement and operators ask of moves.
type Commands struct {
	State   *State
	Journal Journal
	Now     func() time.Time
}

// Request records a move, queued until the throttles admit it. A move
// already requested under the id is answered as it stands.
func (c Commands) Request(ctx context.Context, requestID string, m domain.Migration) (domain.Migration, error) {
	if err := m.Validate(); err != nil {
		return domain.Migration{}, err
	}
	if have, _, ok := c.State.Get(m.ID); ok {
		return have, nil
	}
	seq, err := c.Journal.Append(ctx, "request/"+requestID, m.ID, 0, domain.Requested{Migration: m, At: c.Now()})
	var stale *StaleError
	if errors.As(err, &stale) {
		// Requested already, by a resend that got here first.
		seq, err = stale.Actual, nil
	}
	if err != nil {
		return domain.Migration{}, err
	}
	if err := c.State.Wait(ctx, seq); err != nil {
		return domain.Migration{}, err
	}
	return c.get(ctx, m.ID)
}

// Cancel rolls a move back, if it has not cut over.
func (c Commands) Cancel(ctx context.Context, requestID, id, reason string) (domain.Migration, error) {
	if _, _, ok := c.State.Get(id); !ok {
		return domain.Migration{}, fmt.Errorf("migration %q %w", id, domain.ErrNotFound)
	}
	var refusal error
	err := Record(ctx, c.State, c.Journal, "cancel/"+requestID, id, func(m domain.Migration) []domain.Event {
		evs, err := m.Cancel(reason, c.Now())
		refusal = err
		return evs
	})
	if err != nil {
		return domain.Migration{}, err
	}
	if refusal != nil {
		return domain.Migration{}, refusal
	}
	if err := c.State.Wait(ctx, c.State.Applied()); err != nil {
		return domain.Migration{}, err
	}
	return c.get(ctx, id)
}

// get returns a move once the state has applied the log's end as of now.
func (c Commands) get(ctx context.Context, id string) (domain.Migration, error) {
	m, _, ok := c.State.Get(id)
	if !ok {
		return domain.Migration{}, fmt.Errorf("migration %q %w", id, domain.ErrNotFound)
	}
	return m, nil
}
