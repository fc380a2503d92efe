package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"ballast.dev/agent/sim"
	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
	"ballast.dev/platform/retry"
	ballastv1 "ballast.dev/proto/ballast/v1"
)

// node is one simulated node and what its history on the log says.
//
// The sim may run ahead of the log (a replica created whose event was not
// yet appended); the handlers decide from the logged state, so a retried
// event appends what is missing instead of skipping it.
type node struct {
	sim     *sim.Node
	subject string

	// mu serializes everything done to the node, so that its events are
	// appended in the order the sim saw the changes, each expecting the
	// previous one's sequence.
	mu sync.Mutex
	// last is the sequence of the last event on subject: the expected
	// sequence of the next append.
	last uint64
	// unsure: an append to subject failed in a way that leaves its outcome
	// unknown (a lost acknowledgement, a cancelled wait), so the history
	// may hold an event after last that the state above lacks. A snapshot
	// covers no further than last until an append succeeds again.
	unsure bool
	// replicas are the live replicas the log records, by id.
	replicas map[string]loggedReplica
	// deleted are replica ids with a ReplicaDeleted on the log, so that a
	// late or redelivered assignment does not bring them back.
	deleted map[string]struct{}
	// registered is the node's last NodeRegistered, nil if none.
	registered *ballastv1.NodeRegistered
	// copies are the moves whose copy onto this node runs now.
	copies map[string]bool
	// failed: the simulated node is down; backlog is the work it missed,
	// done when it recovers.
	failed  bool
	backlog []func(context.Context) error
}

// deferred queues work for a failed node, to be done when it recovers, and
// reports whether the node is failed. n.mu is held.
func (n *node) deferred(work func(context.Context) error) bool {
	if !n.failed {
		return false
	}
	n.backlog = append(n.backlog, work)
	return true
}

// loggedReplica is what the log says about a live replica: enough to find
// it by volume and to tell whether a resize is already done.
type loggedReplica struct {
	volumeID   string
	volumeName string // what its simulated load is drawn from; empty in old snapshots
	disk       string
	size       uint64
}

func newNode(s *sim.Node) *node {
	return &node{
		sim:      s,
		subject:  events.Node.Subject(s.ID()),
		replicas: map[string]loggedReplica{},
		deleted:  map[string]struct{}{},
	}
}

// replay restores the nodes from the agent's snapshot, if it has one, and
// reads the node stream after it, up to its last sequence as of now,
// applying our nodes' events to the sims. One ordered consumer over the
// whole stream is far cheaper than a load per node when there are a
// thousand of them. Nodes this agent registered that its fleet lacks (it
// grew since it was configured) join the fleet, and their histories are
// read again from their registration.
func (a *Agent) replay(ctx context.Context) error {
	target, err := a.store.LastSequence(ctx, events.Node.Stream)
	if err != nil {
		return err
	}
	after, err := a.restore(ctx)
	if err != nil {
		return err
	}
	if target <= after {
		return nil
	}
	joined, from, err := a.replayRange(ctx, after, target)
	if err != nil || len(joined) == 0 {
		return err
	}
	if err := a.keep(joined); err != nil {
		return err
	}
	_, _, err = a.replayRange(ctx, from-1, target)
	return err
}

// replayRange applies our nodes' events after sequence after, through
// target. It returns the nodes outside the fleet that this agent
// registered, and the sequence of the first such registration.
func (a *Agent) replayRange(ctx context.Context, after, target uint64) (joined []string, from uint64, err error) {
	reached := make(chan struct{})
	var (
		applied, skipped int
		done             bool
	)
	sub, err := a.store.Subscribe(ctx, events.Node.Stream, events.Node.Filter(), after, func(_ context.Context, rec eventstore.Record) error {
		// Later records were appended after we looked: not ours to
		// replay; earlier ones of a node the snapshot covers are in it.
		id := events.Node.ID(rec.Subject)
		n, ok := a.node(id)
		switch {
		case ok && rec.Sequence <= target && rec.Sequence > n.last:
			n.last = rec.Sequence
			if a.apply(n, rec) {
				applied++
				a.model.events.Add(1)
			} else {
				skipped++
			}
		case !ok && rec.Sequence <= target && !slices.Contains(joined, id) && a.ownRegistration(rec.Subject, rec.Type, rec.Data):
			if len(joined) == 0 {
				from = rec.Sequence
			}
			joined = append(joined, id)
		}
		if rec.Sequence >= target && !done {
			done = true
			close(reached)
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	// Stop and wait before returning so that the callback's writes to the
	// nodes happen before anyone else reads them.
	defer func() {
		sub.Stop()
		<-sub.Done()
	}()
	select {
	case <-reached:
	case <-sub.Done():
		if err := sub.Err(); err != nil {
			return nil, 0, err
		}
		return nil, 0, fmt.Errorf("node stream ended before sequence %d", target)
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
	a.log.Info("node histories replayed", "from", after, "through", target, "applied", applied, "skipped", skipped, "joined", len(joined))
	return joined, from, nil
}

// apply brings n up to date with one of its recorded events and reports
// whether it changed anything. Events are facts: a sim that refuses one
// (its spec changed since) is logged, not fatal, so the agent still starts.
func (a *Agent) apply(n *node, rec eventstore.Record) bool {
	msg, err := events.Read(rec.Subject, rec.Type, rec.Data)
	if err != nil {
		events.Skip(err, rec.Type)
		a.log.Warn("node event skipped", "subject", rec.Subject, "seq", rec.Sequence, "err", err)
		return false
	}
	var simErr error
	switch ev := msg.(type) {
	case *ballastv1.NodeRegistered:
		n.registered = ev
	case *ballastv1.ReplicaProvisioned:
		simErr = n.sim.CreateReplica(ev.GetReplicaId(), ev.GetVolumeId(), ev.GetDiskId(), ev.GetSizeBytes())
		if simErr == nil {
			a.simulate(n, ev.GetReplicaId(), ev.GetVolumeId(), ev.GetVolumeName())
		}
		a.recordProvisioned(n, ev.GetReplicaId(), loggedReplica{volumeID: ev.GetVolumeId(), volumeName: ev.GetVolumeName(), disk: ev.GetDiskId(), size: ev.GetSizeBytes()})
	case *ballastv1.ReplicaExpanded:
		simErr = n.sim.ResizeReplica(ev.GetReplicaId(), ev.GetSizeBytes())
		if r, ok := n.replicas[ev.GetReplicaId()]; ok {
			r.size = ev.GetSizeBytes()
			n.replicas[ev.GetReplicaId()] = r
		}
	case *ballastv1.ReplicaDeleted:
		simErr = n.sim.DeleteReplica(ev.GetReplicaId())
		a.recordDeleted(n, ev.GetReplicaId())
	default:
		return false
	}
	if simErr != nil {
		a.log.Warn("node history does not fit the simulated node", "node", n.sim.ID(), "seq", rec.Sequence, "type", rec.Type, "err", simErr)
	}
	return true
}

// recordProvisioned notes a logged replica. n.mu is held (or replay owns n).
func (a *Agent) recordProvisioned(n *node, id string, r loggedReplica) {
	n.replicas[id] = r
	delete(n.deleted, id)
	a.idxMu.Lock()
	defer a.idxMu.Unlock()
	ref := replicaRef{node: n.sim.ID(), replica: id}
	if refs := a.byVolume[r.volumeID]; !slices.Contains(refs, ref) {
		a.byVolume[r.volumeID] = append(refs, ref)
	}
}

// recordDeleted notes a logged deletion. n.mu is held (or replay owns n).
func (a *Agent) recordDeleted(n *node, id string) {
	r, ok := n.replicas[id]
	delete(n.replicas, id)
	n.deleted[id] = struct{}{}
	if !ok {
		return
	}
	a.idxMu.Lock()
	defer a.idxMu.Unlock()
	refs := slices.DeleteFunc(a.byVolume[r.volumeID], func(x replicaRef) bool { return x == replicaRef{node: n.sim.ID(), replica: id} })
	if len(refs) == 0 {
		delete(a.byVolume, r.volumeID)
	} else {
		a.byVolume[r.volumeID] = refs
	}
}

// volumeReplicas returns our logged replicas of a volume.
func (a *Agent) volumeReplicas(volumeID string) []replicaRef {
	a.idxMu.Lock()
	defer a.idxMu.Unlock()
	return slices.Clone(a.byVolume[volumeID])
}

// registerWindow bounds the registrations in flight, well under the
// client's limit of pending acknowledgements.
const registerWindow = 512

// register appends NodeRegistered for every node of ids whose last
// registration differs from its spec (or that has none), pipelined because
// the subjects are distinct. It returns how many it registered.
func (a *Agent) register(ctx context.Context, ids []string) (int, error) {
	type pending struct {
		n   *node
		ev  eventstore.Event
		msg *ballastv1.NodeRegistered
		f   *eventstore.AppendFuture
	}
	var todo []pending
	for _, id := range ids {
		n := a.mustNode(id)
		want := registration(n.sim.Spec(), a.cfg.Name)
		if sameRegistration(n.registered, want) {
			continue
		}
		want.OccurTime = now()
		ev, err := events.Encode(a.registerID(n), want)
		if err != nil {
			return 0, err
		}
		todo = append(todo, pending{n: n, ev: ev, msg: want})
	}
	for start := 0; start < len(todo); start += registerWindow {
		batch := todo[start:min(start+registerWindow, len(todo))]
		for i := range batch {
			p := &batch[i]
			f, err := a.store.AppendAsync(ctx, p.n.subject, p.n.last, p.ev)
			if err != nil {
				return 0, err
			}
			p.f = f
		}
		for i := range batch {
			p := &batch[i]
			seq, err := p.f.Wait(ctx)
			if errors.Is(err, eventstore.ErrConflict) {
				// Someone wrote to the node since the replay: append
				// again after its event, with an id for the new position.
				p.n.mu.Lock()
				err = a.appendNode(ctx, p.n, func() string { return a.registerID(p.n) }, p.msg)
				p.n.mu.Unlock()
			} else if err == nil {
				p.n.last = max(p.n.last, seq)
			}
			if err != nil {
				return 0, err
			}
			p.n.registered = p.msg
		}
	}
	return len(todo), nil
}

// registerID is the id of a node's registration at its current position:
// a retry at the same position is deduplicated, a later one is new.
func (a *Agent) registerID(n *node) string {
	return fmt.Sprintf("agent/%s/register/%s/%d", a.cfg.Name, n.sim.ID(), n.last)
}

// sameRegistration compares registrations without their time.
func sameRegistration(have, want *ballastv1.NodeRegistered) bool {
	if have == nil {
		return false
	}
	h := proto.Clone(have).(*ballastv1.NodeRegistered)
	h.OccurTime = nil
	return proto.Equal(h, want)
}

// appendNode appends msg to n's history after n.last, and on a conflict
// refreshes n.last from the store and tries again under retry.Conflict. id
// gives the event id for the current n.last, so most callers ignore the
// position. n.mu is held.
func (a *Agent) appendNode(ctx context.Context, n *node, id func() string, msg proto.Message) error {
	return retry.Do(ctx, retry.Conflict, func(attempt int) error {
		if attempt > 1 {
			actual, err := a.lastSequence(ctx, n.subject)
			if err != nil {
				return err
			}
			a.log.Warn("node history moved under us; retrying", "node", n.sim.ID(), "expected", n.last, "actual", actual, "attempt", attempt)
			n.last = actual
		}
		ev, err := events.Encode(id(), msg)
		if err != nil {
			return retry.Permanent(err)
		}
		seq, err := a.store.Append(ctx, n.subject, n.last, ev)
		switch {
		case err == nil:
			// A duplicate is acknowledged with its original sequence, which
			// may be behind what we know.
			n.last = max(n.last, seq)
			n.unsure = false
			a.model.events.Add(1)
			return nil
		case errors.Is(err, eventstore.ErrConflict):
			return err
		}
		n.unsure = true
		return retry.Permanent(err)
	})
}

// lastSequence is the sequence of subject's last message, 0 if it has none.
func (a *Agent) lastSequence(ctx context.Context, subject string) (uint64, error) {
	m, err := a.stream.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("last sequence of %s: %w", subject, err)
	}
	return m.Sequence, nil
}
