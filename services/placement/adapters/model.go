// Package adapters connects placement to the event log: the cluster model
// rebuilt from the node and placement histories, and the journal that records
// decisions.
package adapters

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"google.golang.org/protobuf/proto"

	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
	"ballast.dev/platform/snapshot"
	"ballast.dev/services/placement/app"
	"ballast.dev/services/placement/domain"
)

// Model is the cluster model, fed in order from the node and placement
// streams. It implements app.Model.
type Model struct {
	store *eventstore.Store
	log   *slog.Logger

	mu      sync.Mutex
	cluster *domain.Cluster
	applied map[string]uint64 // stream → last sequence applied
	last    map[string]uint64 // volume id → sequence of its last placement event
	changed chan struct{}     // closed and replaced on every apply
	held    holdings
	subs    []eventstore.Subscription
	events  modelEvents
}

var _ app.Model = (*Model)(nil)

// NewModel restores the model from its latest snapshot (snaps may be nil:
// none), replays the log after it, and keeps following the log until Close.
func NewModel(ctx context.Context, store *eventstore.Store, snaps *snapshot.Store, overcommit float64, log *slog.Logger) (*Model, error) {
	cluster, err := domain.NewCluster(domain.WithOvercommit(overcommit))
	if err != nil {
		return nil, err
	}
	m := &Model{store: store, log: log, cluster: cluster, applied: map[string]uint64{}, last: map[string]uint64{}, changed: make(chan struct{}), held: holdings{}}
	if snaps != nil {
		m.restore(ctx, snaps, overcommit)
	}
	// Nodes first: a reservation needs its node.
	for _, a := range []events.Aggregate{events.Node, events.Placement} {
		// The whole stream: placement's holds node states beside the
		// decisions, and the model's position is a sequence of it.
		sub, err := store.Subscribe(ctx, a.Stream, "", m.applied[a.Stream], m.applier(a.Stream))
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("placement model: %w", err)
		}
		m.subs = append(m.subs, sub)
		if err := m.caughtUp(ctx, a); err != nil {
			m.Close()
			return nil, err
		}
	}
	return m, nil
}

// Close stops following the log.
func (m *Model) Close() {
	for _, s := range m.subs {
		s.Stop()
	}
}

// applier applies the records of one stream.
func (m *Model) applier(stream string) func(context.Context, eventstore.Record) error {
	return func(_ context.Context, rec eventstore.Record) error {
		m.apply(stream, rec)
		return nil
	}
}

func (m *Model) apply(stream string, rec eventstore.Record) {
	var msg proto.Message
	var err error
	if applies[rec.Type] {
		msg, err = events.Read(rec.Subject, rec.Type, rec.Data)
	}
	if err != nil {
		// A record this build cannot read, or one that names another
		// aggregate than its subject, must not stop the model, and
		// reserves nothing.
		events.Skip(err, rec.Type)
		m.log.Error("placement model skips an event", "subject", rec.Subject, "seq", rec.Sequence, "err", err)
		msg = nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if rec.Sequence <= m.applied[stream] {
		return // applied already, as Recorded
	}
	m.advance(stream, rec.Sequence, msg)
}

// advance applies msg (nil: nothing to apply) as the stream's event at seq.
// m.mu is held.
func (m *Model) advance(stream string, seq uint64, msg proto.Message) {
	if msg != nil {
		if err := m.applyMsg(seq, msg); err != nil {
			m.log.Error("placement model cannot apply an event", "stream", stream, "seq", seq, "err", err)
		}
	}
	m.applied[stream] = seq
	m.events.n.Add(1)
	close(m.changed)
	m.changed = make(chan struct{})
}

// Recorded applies an event this process has just stored in the placement
// stream at seq, when it directly follows what the model has applied: the
// next decision then sees it without waiting for the log to deliver it
// back, and the delivery is passed over. An event with others between it
// and the model's position (another instance's) waits for the log, so the
// model never applies the stream out of order.
func (m *Model) Recorded(seq uint64, msg proto.Message) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if seq == m.applied[events.Placement.Stream]+1 {
		m.advance(events.Placement.Stream, seq, msg)
	}
}

func (m *Model) applyMsg(seq uint64, msg proto.Message) error {
	volumeID, err := applyEvent(m.cluster, msg)
	if err == nil {
		m.held.apply(msg)
	}
	if volumeID != "" {
		m.last[volumeID] = seq
	}
	return err
}

// CaughtUp implements app.Model: one cheap request per stream for its last
// sequence, then a wait until the model has applied it.
func (m *Model) CaughtUp(ctx context.Context) error {
	for _, a := range []events.Aggregate{events.Node, events.Placement} {
		if err := m.caughtUp(ctx, a); err != nil {
			return err
		}
	}
	return nil
}

func (m *Model) caughtUp(ctx context.Context, a events.Aggregate) error {
	seq, err := m.store.LastSequence(ctx, a.Stream)
	if err != nil {
		return fmt.Errorf("placement model: %w", err)
	}
	return m.wait(ctx, a.Stream, seq)
}

// Applied implements app.Model.
func (m *Model) Applied(ctx context.Context, seq uint64) error {
	return m.wait(ctx, events.Placement.Stream, seq)
}

func (m *Model) wait(ctx context.Context, stream string, seq uint64) error {
	for {
		m.mu.Lock()
		done, changed := m.applied[stream] >= seq, m.changed
		m.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("placement model waiting for %s %d: %w", stream, seq, ctx.Err())
		}
		for _, s := range m.subs {
			select {
			case <-s.Done():
				return errors.Join(errors.New("placement model stopped following the log"), s.Err())
			default:
			}
		}
	}
}

// HeldAll implements app.AllHoldings.
func (m *Model) HeldAll() []app.Held {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.held.all()
}

// HeldOn implements app.Holdings.
func (m *Model) HeldOn(nodeID string) []app.Held {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.held.on(nodeID)
}

// View implements app.Model.
func (m *Model) View(fn func(c *domain.Cluster, at app.Position, last func(volumeID string) uint64)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	at := app.Position{Node: m.applied[events.Node.Stream], Placement: m.applied[events.Placement.Stream]}
	fn(m.cluster, at, func(id string) uint64 { return m.last[id] })
}
