package adapters

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
	"ballast.dev/platform/retry"
	"ballast.dev/services/volume/app"
	"ballast.dev/services/volume/domain"
)

// maxCached bounds the aggregates kept in memory: the volumes being
// changed now, with room to spare. One evicted is loaded again from its
// history (a few events) when next changed.
const maxCached = 16_384

// Repository keeps Volume histories on the event store. It caches each
// volume it has seen with the sequence of its last event: a stale cache is
// safe, because the append's expected sequence catches it and the volume is
// loaded afresh. Updates of one name are serialized in the process, so that
// its own writers do not conflict with each other.
//
// Loading is forgiving where it can be: an event of a type this version does
// not know (a newer version's, during a rolling upgrade) or one whose payload
// names another volume than its subject is skipped, counted and logged. An
// event of a known type that cannot be decoded damages that volume alone:
// the aggregate refuses changes, naming the sequence, until it is repaired.
type Repository struct {
	store *eventstore.Store
	log   *slog.Logger
	seed  maphash.Seed
	locks [256]sync.Mutex

	mu    sync.Mutex
	cache map[string]*cached
}

type cached struct {
	v   *domain.Volume
	seq uint64
	// causes are the causes of the volume's last events, newest last: a
	// cause seen again (a resent command, a redelivered report) has been
	// applied, and is answered with the volume as it is.
	causes []string
}

// recentCauses bounds the causes remembered per volume.
const recentCauses = 32

func (c *cached) applied(cause string) bool { return slices.Contains(c.causes, cause) }

func (c *cached) noteCause(cause string) {
	if cause == "" || c.applied(cause) {
		return
	}
	if len(c.causes) == recentCauses {
		c.causes = slices.Delete(c.causes, 0, 1)
	}
	c.causes = append(c.causes, cause)
}

var _ app.Repository = (*Repository)(nil)

// NewRepository makes a repository on store.
func NewRepository(store *eventstore.Store, log *slog.Logger) *Repository {
	if log == nil {
		log = slog.Default()
	}
	return &Repository{store: store, log: log, seed: maphash.MakeSeed(), cache: map[string]*cached{}}
}

// Update implements app.Repository.
func (r *Repository) Update(ctx context.Context, name, cause string, decide app.Decide) (app.Snapshot, error) {
	return r.update(ctx, name, cause, false, decide)
}

// Create implements app.Repository.
func (r *Repository) Create(ctx context.Context, name, cause string, decide app.Decide) (app.Snapshot, error) {
	return r.update(ctx, name, cause, true, decide)
}

func (r *Repository) update(ctx context.Context, name, cause string, assumeNew bool, decide app.Decide) (app.Snapshot, error) {
	lock := &r.locks[maphash.String(r.seed, name)%uint64(len(r.locks))]
	lock.Lock()
	defer lock.Unlock()

	return retry.Value(ctx, retry.Conflict, func(attempt int) (app.Snapshot, error) {
		var c *cached
		var err error
		if attempt == 1 && assumeNew {
			c = r.cachedOrNew(name)
		} else {
			c, err = r.current(ctx, name, attempt > 1)
		}
		if err != nil {
			return app.Snapshot{}, retry.Permanent(err)
		}
		if c.applied(cause) {
			return app.Snapshot{Volume: c.v.Clone(), Sequence: c.seq}, nil
		}
		decided, err := decide(c.v)
		if err != nil || len(decided) == 0 {
			return app.Snapshot{Volume: c.v.Clone(), Sequence: c.seq}, retry.Permanent(err)
		}
		stored, err := encode(c.v, cause, decided)
		if err != nil {
			return app.Snapshot{}, retry.Permanent(err)
		}
		seq, fresh, err := r.store.AppendOnce(ctx, events.Volume.Subject(name), c.seq, stored...)
		if errors.Is(err, eventstore.ErrConflict) {
			return app.Snapshot{}, err // reload and decide again
		}
		if err != nil {
			r.forget(name)
			return app.Snapshot{}, retry.Permanent(fmt.Errorf("volume %s: %w", name, err))
		}
		if !fresh {
			// An earlier attempt of this cause stored its events, decided
			// then (another id, another time): the log's are the truth.
			c, err := r.current(ctx, name, true)
			if err != nil {
				return app.Snapshot{}, retry.Permanent(err)
			}
			return app.Snapshot{Volume: c.v.Clone(), Sequence: c.seq}, nil
		}
		for _, e := range decided {
			c.v.Apply(e)
		}
		c.seq = seq
		c.noteCause(cause)
		r.keep(name, c)
		return app.Snapshot{Volume: c.v.Clone(), Sequence: seq}, nil
	})
}

// cachedOrNew is the cached volume, or an empty history for a name not
// seen: an append to it expects an empty subject, so it is checked.
func (r *Repository) cachedOrNew(name string) *cached {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.cache[name]; ok {
		return c
	}
	return &cached{v: &domain.Volume{}}
}

func encode(v *domain.Volume, cause string, decided []domain.Event) ([]eventstore.Event, error) {
	id, name := v.ID(), v.Name()
	out := make([]eventstore.Event, len(decided))
	for i, e := range decided {
		switch e := e.(type) {
		case domain.Requested:
			id, name = e.ID, e.Name
		case domain.Repaired:
			id, name = e.Volume.ID, e.Volume.Name
		}
		// The event id ties the event to its cause and the volume, so a
		// cause retried inside the duplicate window is stored once.
		ev, err := events.Encode(eventID(cause, name, i), EventToProto(id, name, e))
		if err != nil {
			return nil, err
		}
		out[i] = ev
	}
	return out, nil
}

func eventID(cause, name string, i int) string { return fmt.Sprintf("%s/%s/%d", cause, name, i) }

// causeOf is the cause in an event id made by eventID, "" for ids of
// another shape.
func causeOf(id string) string {
	i := strings.LastIndexByte(id, '/')
	if i <= 0 {
		return ""
	}
	j := strings.LastIndexByte(id[:i], '/')
	if j <= 0 {
		return ""
	}
	return id[:j]
}

// current returns the cached volume, loading it when absent or when fresh.
func (r *Repository) current(ctx context.Context, name string, fresh bool) (*cached, error) {
	r.mu.Lock()
	c, ok := r.cache[name]
	r.mu.Unlock()
	if ok && !fresh {
		return c, nil
	}
	c, err := r.load(ctx, name)
	if err != nil {
		return nil, err
	}
	r.keep(name, c)
	return c, nil
}

// keep caches c as name's volume, evicting one at random when full.
func (r *Repository) keep(name string, c *cached) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.cache[name]; ok && old == c {
		return
	}
	if len(r.cache) >= maxCached {
		for k := range r.cache {
			delete(r.cache, k)
			break
		}
	}
	r.cache[name] = c
}

// load folds a volume's history, from its last repair on.
func (r *Repository) load(ctx context.Context, name string) (*cached, error) {
	subject := events.Volume.Subject(name)
	records, last, err := r.store.Load(ctx, events.Volume.Stream, subject)
	if err != nil {
		return nil, fmt.Errorf("load volume %s: %w", name, err)
	}
	c := &cached{seq: last}
	history := make([]domain.Event, 0, len(records))
	var unreadable []domain.Unreadable
	for _, rec := range records {
		c.noteCause(causeOf(rec.ID))
		e, err := decodeRecord(rec)
		switch {
		case err == nil:
			if _, ok := e.(domain.Repaired); ok {
				// The repair supersedes everything before it.
				history, unreadable = history[:0], nil
			}
			history = append(history, e)
		case events.Skip(err, rec.Type), errors.Is(err, errNotVolumeEvent):
			r.log.Warn("volume history: event skipped", "volume", name, "seq", rec.Sequence, "type", rec.Type, "err", err)
		default:
			unreadable = append(unreadable, domain.Unreadable{Sequence: rec.Sequence, Reason: err.Error()})
		}
	}
	c.v = domain.Replay(name, history)
	c.v.SetUnreadable(unreadable)
	if len(unreadable) > 0 {
		r.log.Error("volume history damaged", "volume", name, "err", c.v.Damaged())
	}
	return c, nil
}

func decodeRecord(rec eventstore.Record) (domain.Event, error) {
	m, err := events.Read(rec.Subject, rec.Type, rec.Data)
	if err != nil {
		return nil, err
	}
	return EventFromProto(m)
}

func (r *Repository) forget(name string) {
	r.mu.Lock()
	delete(r.cache, name)
	r.mu.Unlock()
}
