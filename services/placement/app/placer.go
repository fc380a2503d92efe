// Package app holds the placement service's use cases: place a new volume,
// grant or refuse a resize, release a deleted volume's capacity, and explain
// a past decision. Decisions are made on the cluster model and recorded in
// the placement log; the model learns them back from the log, so a restarted
// service rebuilds it exactly, and explain rebuilds it as it stood at any
// past decision.
package app

import (
	"context"
	"errors"
	"fmt"

	"ballast.dev/platform/retry"
	"ballast.dev/services/placement/domain"
)

// Model is the cluster as the log tells it.
type Model interface {
	// CaughtUp waits until the model reflects every event appended before
	// the call.
	CaughtUp(ctx context.Context) error
	// Applied waits until the model reflects the placement log up to seq.
	Applied(ctx context.Context, seq uint64) error
	// View runs fn with the model locked. at is where the model stands in
	// the log; last gives the sequence of a volume's last placement event,
	// 0 when none.
	View(fn func(c *domain.Cluster, at Position, last func(volumeID string) uint64))
}

// Position is where the cluster model stands in the log: the last sequence
// it applied of the node stream and of the placement stream. The model at a
// position is a function of the log, so it can be rebuilt.
type Position struct {
	Node, Placement uint64
}

// Basis is what a decision was computed from. Recorded with the decision,
// it lets explain rebuild the model and compute the decision again.
type Basis struct {
	Request    domain.Request
	At         Position
	Overcommit float64
}

// Journal records decisions in the placement log, one history per volume
// incarnation. A decision is recorded with its basis and the decision's
// summary, never its full table. expected is the sequence of the history's
// last event; a decision whose history moved on is refused with ErrStale.
type Journal interface {
	Decided(ctx context.Context, cause, volumeName string, b Basis, d domain.Decision) (uint64, error)
	Failed(ctx context.Context, cause, volumeName string, b Basis, d domain.Decision, reason string) (uint64, error)
	ResizeDecided(ctx context.Context, cause, volumeID, volumeName string, expected, size uint64, refusal string) (uint64, error)
	Released(ctx context.Context, cause, volumeID, volumeName string, expected uint64) (uint64, error)
}

// ErrStale: another decision was recorded first.
var ErrStale = errors.New("placement: decision already recorded")

// Placer makes placement decisions. It handles one volume event at a time,
// in the order of the volume log, so every decision sees the ones before.
type Placer struct {
	Model   Model
	Journal Journal
}

// VolumeRequest is a volume to place.
type VolumeRequest struct {
	Cause   string
	Name    string
	Request domain.Request
}

// Place places a new volume. A volume that already has a decision (a
// redelivered request) is left alone.
//
// The model is current with every decision already: placement is the only
// writer of the placement log and waits for its own decisions to be applied.
// Only a node that registered a moment ago may be missing from it, so the
// model catches up with the log (a request for each stream's last sequence)
// only when a volume does not fit, and decides again.
func (p *Placer) Place(ctx context.Context, vr VolumeRequest) error {
	var (
		d       domain.Decision
		basis   Basis
		err     error
		decided bool
	)
	decide := func() {
		p.Model.View(func(c *domain.Cluster, at Position, last func(string) uint64) {
			if last(vr.Request.VolumeID) != 0 {
				decided = true
				return
			}
			basis = Basis{Request: vr.Request, At: at, Overcommit: c.Overcommit()}
			d, err = domain.Place(c, vr.Request)
		})
	}
	decide()
	if errors.Is(err, domain.ErrInsufficientCapacity) {
		if cerr := p.Model.CaughtUp(ctx); cerr != nil {
			return cerr
		}
		decide()
	}
	if decided {
		return nil
	}
	var seq uint64
	switch {
	case err == nil:
		seq, err = p.Journal.Decided(ctx, vr.Cause, vr.Name, basis, d)
	case errors.Is(err, domain.ErrInsufficientCapacity), errors.Is(err, domain.ErrInvalidRequest):
		seq, err = p.Journal.Failed(ctx, vr.Cause, vr.Name, basis, d, err.Error())
	default:
		return fmt.Errorf("place %s: %w", vr.Name, err)
	}
	if errors.Is(err, ErrStale) {
		return nil
	}
	if err != nil {
		return err
	}
	// The next decision must see this one.
	return p.Model.Applied(ctx, seq)
}

// Resize grants a volume a new size when every disk holding one of its
// replicas has room, and refuses it naming the disks that lack it.
func (p *Placer) Resize(ctx context.Context, cause, volumeID, name string, size uint64) error {
	return p.record(ctx, volumeID, func(c *domain.Cluster, expected uint64) func() (uint64, error) {
		if expected == 0 {
			return nil // never placed: the volume cannot be ready, nothing to grant
		}
		refusal := ""
		if err := c.CheckResize(volumeID, size); err != nil {
			refusal = err.Error()
		}
		return func() (uint64, error) {
			return p.Journal.ResizeDecided(ctx, cause, volumeID, name, expected, size, refusal)
		}
	})
}

// Release returns a deleted volume's reservations.
func (p *Placer) Release(ctx context.Context, cause, volumeID, name string) error {
	return p.record(ctx, volumeID, func(c *domain.Cluster, expected uint64) func() (uint64, error) {
		if _, held := c.Reservation(volumeID); !held {
			return nil
		}
		return func() (uint64, error) { return p.Journal.Released(ctx, cause, volumeID, name, expected) }
	})
}

// record decides on the model and records the decision, deciding again if
// the volume's history moved on meanwhile.
func (p *Placer) record(ctx context.Context, volumeID string, decide func(c *domain.Cluster, expected uint64) func() (uint64, error)) error {
	return retry.Do(ctx, retry.Conflict, func(attempt int) error {
		// The model knows every decision; only after a conflict may it be
		// behind the log.
		if attempt > 1 {
			if err := p.Model.CaughtUp(ctx); err != nil {
				return retry.Permanent(err)
			}
		}
		var write func() (uint64, error)
		p.Model.View(func(c *domain.Cluster, _ Position, last func(string) uint64) {
			write = decide(c, last(volumeID))
		})
		if write == nil {
			return nil
		}
		seq, err := write()
		if errors.Is(err, ErrStale) {
			return err // decide again on the model as it is now
		}
		if err != nil {
			return retry.Permanent(err)
		}
		return retry.Permanent(p.Model.Applied(ctx, seq))
	})
}
