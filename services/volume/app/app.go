// Package app holds the volume service's use cases: the commands users send
// and the reactions to what other services report. Each loads the Volume
// aggregate, lets it decide, and appends what it decided.
package app

import (
	"context"
	"time"

	"ballast.dev/services/volume/domain"
)

// Decide looks at the current volume (never changing it) and returns the
// events to append. It may be called more than once when a concurrent writer
// got in first.
type Decide func(v *domain.Volume) ([]domain.Event, error)

// Snapshot is a volume and the stream sequence of its last event.
type Snapshot struct {
	Volume   *domain.Volume
	Sequence uint64
}

// Repository keeps Volume histories. Update loads the volume under name,
// decides, and appends with optimistic concurrency, deciding again on a
// conflict. cause identifies what made the change (a command id, or the
// event reacted to), so that a retried cause is applied once.
type Repository interface {
	Update(ctx context.Context, name, cause string, decide Decide) (Snapshot, error)
	// Create is Update for a name that most likely has no history yet (a
	// volume asked for by a new name): a name the repository has not seen
	// is taken to be new, and the append's expectation of an empty history
	// checks it, instead of a load.
	Create(ctx context.Context, name, cause string, decide Decide) (Snapshot, error)
}

// Clock gives the time stamped on events.
type Clock func() time.Time
