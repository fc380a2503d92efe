package adapters

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"

	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
	"ballast.dev/platform/retry"
	"ballast.dev/services/volume/app"
	"ballast.dev/services/volume/domain"
)

// maxCached bounds the aggregates kept in memory.
const maxCached = 100_000

// Repository keeps Volume histories on the event store. It caches each
// volume it has seen with the sequence of its last event: a stale cache is
// safe, because the append's expected sequence catches it and the volume is
// loaded afresh. Updates of one name are serialized in the process, so that
// its own writers do not conflict with each other.
type Repository struct {
	store *eventstore.Store
	seed  maphash.Seed
	locks [256]sync.Mutex

	mu    sync.Mutex
	cache map[string]*cached
}

type cached struct {
	v   *domain.Volume
	seq uint64
}

var _ app.Repository = (*Repository)(nil)

// NewRepository makes a repository on store.
func NewRepository(store *eventstore.Store) *Repository {
	return &Repository{store: store, seed: maphash.MakeSeed(), cache: map[string]*cached{}}
}

// Update implements app.Repository.
func (r *Repository) Update(ctx context.Context, name, cause string, decide app.Decide) (app.Snapshot, error) {
	lock := &r.locks[maphash.String(r.seed, name)%uint64(len(r.locks))]
	lock.Lock()
	defer lock.Unlock()

	return retry.Value(ctx, retry.Conflict, func(attempt int) (app.Snapshot, error) {
		c, err := r.current(ctx, name, attempt > 1)
		if err != nil {
			return app.Snapshot{}, retry.Permanent(err)
		}
		decided, err := decide(c.v)
		if err != nil || len(decided) == 0 {
			return app.Snapshot{Volume: c.v.Clone(), Sequence: c.seq}, retry.Permanent(err)
		}
		stored, err := encode(c.v, cause, decided)
		if err != nil {
			return app.Snapshot{}, retry.Permanent(err)
		}
		seq, err := r.store.Append(ctx, events.Volume.Subject(name), c.seq, stored...)
		if errors.Is(err, eventstore.ErrConflict) {
			return app.Snapshot{}, err // reload and decide again
		}
		if err != nil {
			r.forget(name)
			return app.Snapshot{}, retry.Permanent(fmt.Errorf("volume %s: %w", name, err))
		}
		for _, e := range decided {
			c.v.Apply(e)
		}
		c.seq = seq
		return app.Snapshot{Volume: c.v.Clone(), Sequence: seq}, nil
	})
}

func encode(v *domain.Volume, cause string, decided []domain.Event) ([]eventstore.Event, error) {
	id, name := v.ID(), v.Name()
	out := make([]eventstore.Event, len(decided))
	for i, e := range decided {
		if req, ok := e.(domain.Requested); ok {
			id, name = req.ID, req.Name
		}
		// The event id ties the event to its cause and the volume, so a
		// cause retried inside the duplicate window is stored once.
		ev, err := events.Encode(fmt.Sprintf("%s/%s/%d", cause, name, i), EventToProto(id, name, e))
		if err != nil {
			return nil, err
		}
		out[i] = ev
	}
	return out, nil
}

// current returns the cached volume, loading it when absent or when fresh.
func (r *Repository) current(ctx context.Context, name string, fresh bool) (*cached, error) {
	r.mu.Lock()
	c, ok := r.cache[name]
	r.mu.Unlock()
	if ok && !fresh {
		return c, nil
	}
	records, last, err := r.store.Load(ctx, events.Volume.Stream, events.Volume.Subject(name))
	if err != nil {
		return nil, fmt.Errorf("load volume %s: %w", name, err)
	}
	history := make([]domain.Event, 0, len(records))
	for _, rec := range records {
		m, err := events.Decode(rec.Type, rec.Data)
		if err != nil {
			return nil, fmt.Errorf("load volume %s at %d: %w", name, rec.Sequence, err)
		}
		e, err := EventFromProto(m)
		if err != nil {
			return nil, fmt.Errorf("load volume %s at %d: %w", name, rec.Sequence, err)
		}
		history = append(history, e)
	}
	c = &cached{v: domain.Replay(history), seq: last}
	r.mu.Lock()
	if len(r.cache) >= maxCached {
		for k := range r.cache { // evict one at random
			delete(r.cache, k)
			break
		}
	}
	r.cache[name] = c
	r.mu.Unlock()
	return c, nil
}

func (r *Repository) forget(name string) {
	r.mu.Lock()
	delete(r.cache, name)
	r.mu.Unlock()
}
