package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"ballast.dev/platform/retry"
	"ballast.dev/services/migration/domain"
)

// ErrRefused marks a refusal that no retry can change (the volume's set
// moved on, the replica is gone): the step fails and the move rolls back.
var ErrRefused = errors.New("refused")

// ErrStale: an append whose expected sequence had moved on. It is a
// *StaleError.
var ErrStale = errors.New("stale")

// StaleError is an append refused because the history had moved on to
// Actual.
type StaleError struct{ Actual uint64 }

func (e *StaleError) Error() string {
	return fmt.Sprintf("stale: the history is at sequence %d", e.Actual)
}

// Is makes errors.Is(err, ErrStale) hold.
func (e *StaleError) Is(target error) bool { return target == ErrStale }

// Journal appends the moves' events.
type Journal interface {
	// Append appends e to the move's history if its last event is still
	// at expected; it returns the event's sequence. A conflict is ErrStale.
	Append(ctx context.Context, cause, id string, expected uint64, e domain.Event) (uint64, error)
	// Admit appends the move's start to the admission queue if the queue's
	// last event is still at expected. A conflict is ErrStale.
	Admit(ctx context.Context, id string, expected, requestedSeq uint64) (uint64, error)
}

// Volumes changes volumes' replica sets for moves: each call is
// idempotent, and a refusal wraps ErrRefused.
type Volumes interface {
	// Add adds the move's target as a rebuilding replica.
	Add(ctx context.Context, m domain.Migration) error
	// Promote promotes the target and retires the source.
	Promote(ctx context.Context, m domain.Migration) error
	// Retire lets the target go, rolling the move back.
	Retire(ctx context.Context, m domain.Migration, reason string) error
}

// Copier asks the target's agent to fill the target from the source, at
// most at rate bytes per second (0: no limit). A copy already running for
// the move is not started again.
type Copier interface {
	Copy(ctx context.Context, m domain.Migration, rate uint64) error
}

// Timeouts bound the steps that wait on someone else.
type Timeouts struct {
	// Provision: the target's agent creates it.
	Provision time.Duration
	// Stall: a copy with no progress for this long is asked for again
	// (its agent may have restarted).
	Stall time.Duration
	// Step: a command (add, promote, retire) is sent again when its step
	// has not moved for this long.
	Step time.Duration
}

// DefaultTimeouts are what an operator would accept.
var DefaultTimeouts = Timeouts{Provision: 2 * time.Minute, Stall: 30 * time.Second, Step: 15 * time.Second}

// Engine drives every move from the state: it admits queued moves under
// the limits and takes each admitted move's next step. What happened is
// learnt from the log (the volume's and the agents' events), never assumed
// from a command's reply, so a restarted engine carries on from the log.
type Engine struct {
	State    *State
	Journal  Journal
	Volumes  Volumes
	Copier   Copier
	Limits   domain.Limits
	Timeouts Timeouts
	Log      *slog.Logger
	Now      func() time.Time
	// Tick is how often the engine looks again without a change.
	Tick time.Duration

	mu       sync.Mutex
	inflight map[string]attempt // move id → the action in flight or last sent
}

type attempt struct {
	step    domain.Step
	at      time.Time
	running bool
}

// Run drives moves until ctx ends.
func (e *Engine) Run(ctx context.Context) {
	if e.Tick == 0 {
		e.Tick = time.Second
	}
	e.inflight = map[string]attempt{}
	var wg sync.WaitGroup
	defer wg.Wait()
	t := time.NewTicker(e.Tick)
	defer t.Stop()
	for {
		changed := e.State.Changed()
		e.admit(ctx)
		for _, m := range e.State.All() {
			if m.Step.Terminal() || m.Step == domain.StepQueued {
				continue
			}
			if act := e.next(m); act != nil {
				wg.Go(func() { act(ctx) })
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-t.C:
		}
	}
}

// admit starts the queued moves the limits let in.
func (e *Engine) admit(ctx context.Context) {
	all := e.State.All()
	var queued, active []*domain.Migration
	for i := range all {
		switch m := &all[i]; {
		case m.Step == domain.StepQueued:
			queued = append(queued, m)
		case m.Step.Active():
			active = append(active, m)
		}
	}
	if len(queued) == 0 {
		return
	}
	for _, m := range domain.Admit(queued, active, e.Limits) {
		_, reqSeq, _ := e.State.Get(m.ID)
		if _, err := e.Journal.Admit(ctx, m.ID, e.State.QueueSequence(), reqSeq); err != nil {
			// Another instance admitted meanwhile, or the log is away:
			// decide again on the next look.
			if !errors.Is(err, ErrStale) && ctx.Err() == nil {
				e.Log.Warn("move not admitted", "migration", m.ID, "err", err)
			}
			return
		}
	}
}

// next is the action that takes m's next step, nil when there is none to
// take now (one is in flight, or the step waits on someone else and has not
// timed out).
func (e *Engine) next(m domain.Migration) func(ctx context.Context) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.Now()
	last, seen := e.inflight[m.ID]
	if seen && last.running {
		return nil
	}
	fresh := !seen || last.step != m.Step
	since := now.Sub(m.Updated)
	if seen && last.step == m.Step {
		since = now.Sub(last.at)
	}
	var act func(ctx context.Context) error
	switch m.Step {
	case domain.StepAdding:
		if fresh || since > e.Timeouts.Step {
			act = func(ctx context.Context) error { return e.Volumes.Add(ctx, m) }
		}
	case domain.StepProvisioning:
		if now.Sub(m.Updated) > e.Timeouts.Provision {
			act = func(ctx context.Context) error {
				return e.fail(ctx, m, fmt.Sprintf("the target's agent did not create replica %s on node %s within %s", m.Target.ReplicaID, m.Target.NodeID, e.Timeouts.Provision))
			}
		}
	case domain.StepCopying:
		stalled := since > e.Timeouts.Stall
		if p, ok := e.State.Progress(m.ID); ok && now.Sub(p.At) < e.Timeouts.Stall {
			stalled = false
		}
		if fresh || stalled {
			act = func(ctx context.Context) error { return e.Copier.Copy(ctx, m, e.Limits.Share(e.copying())) }
		}
	case domain.StepCuttingOver:
		if m.Generation < 2 {
			return nil // the volume's ReplicaAdded is not in yet: promote fenced, not blind
		}
		if fresh || since > e.Timeouts.Step {
			act = func(ctx context.Context) error { return e.Volumes.Promote(ctx, m) }
		}
	case domain.StepRollingBack:
		if fresh || since > e.Timeouts.Step {
			act = func(ctx context.Context) error { return e.rollBack(ctx, m) }
		}
	}
	if act == nil {
		return nil
	}
	e.inflight[m.ID] = attempt{step: m.Step, at: now, running: true}
	return func(ctx context.Context) {
		err := retry.Do(ctx, retry.Transient, func(int) error {
			err := act(ctx)
			if errors.Is(err, ErrRefused) {
				return retry.Permanent(err)
			}
			return err
		})
		e.mu.Lock()
		e.inflight[m.ID] = attempt{step: m.Step, at: e.Now()}
		e.mu.Unlock()
		switch {
		case err == nil || ctx.Err() != nil:
		case m.Step == domain.StepRollingBack:
			// A rollback is tried until it is done.
			e.Log.Warn("move not rolled back yet; trying again", "migration", m.ID, "err", err)
		default:
			if ferr := e.fail(ctx, m, err.Error()); ferr != nil && ctx.Err() == nil {
				e.Log.Warn("move's failure not recorded; trying again", "migration", m.ID, "err", ferr)
			}
		}
	}
}

// copying counts the copies running, for the bandwidth share.
func (e *Engine) copying() int {
	n := 0
	for _, m := range e.State.All() {
		if m.Step == domain.StepCopying {
			n++
		}
	}
	return n
}

// fail records that m's step failed: it rolls back next.
func (e *Engine) fail(ctx context.Context, m domain.Migration, reason string) error {
	e.Log.Warn("move failed; rolling back", "migration", m.ID, "volume", m.VolumeName, "step", m.Step.String(), "reason", reason)
	return e.record(ctx, fmt.Sprintf("failed/%s/%d", m.ID, m.Step), m.ID, func(cur domain.Migration) []domain.Event {
		if cur.Step != m.Step {
			return nil // it moved on meanwhile
		}
		return []domain.Event{domain.Failed{Step: m.Step, Reason: reason, At: e.Now()}}
	})
}

// rollBack retires the target (which may have been added even if the move
// never learnt so: the retirement of a replica not in the set changes
// nothing) and records the move rolled back.
func (e *Engine) rollBack(ctx context.Context, m domain.Migration) error {
	if err := e.Volumes.Retire(ctx, m, m.Failure); err != nil && !errors.Is(err, ErrRefused) {
		return err
	} else if err != nil {
		// Refused: the volume is gone, or the move cut over after all
		// (its promotion was in flight), which the log will tell.
		cur, _, _ := e.State.Get(m.ID)
		if cur.Step != domain.StepRollingBack {
			return nil
		}
		e.Log.Info("target could not be retired", "migration", m.ID, "err", err)
	}
	return e.record(ctx, "rolledback/"+m.ID, m.ID, func(cur domain.Migration) []domain.Event {
		if cur.Step != domain.StepRollingBack {
			return nil
		}
		return []domain.Event{domain.RolledBack{Reason: cur.Failure, At: e.Now()}}
	})
}

// Record appends what decide makes of the move as the log has it, after
// the state has caught up on a conflict.
func (e *Engine) record(ctx context.Context, cause, id string, decide func(cur domain.Migration) []domain.Event) error {
	return Record(ctx, e.State, e.Journal, cause, id, decide)
}

// Record appends what decide makes of move id, deciding again on a
// conflict once the state has caught up with the log.
func Record(ctx context.Context, s *State, j Journal, cause, id string, decide func(cur domain.Migration) []domain.Event) error {
	return retry.Do(ctx, retry.Conflict, func(int) error {
		cur, seq, ok := s.Get(id)
		if !ok {
			return retry.Permanent(fmt.Errorf("migration %q %w", id, domain.ErrNotFound))
		}
		for i, ev := range decide(cur) {
			got, err := j.Append(ctx, fmt.Sprintf("%s/%d", cause, i), id, seq, ev)
			var stale *StaleError
			if errors.As(err, &stale) {
				// Catch up with the log and decide again.
				if werr := s.Wait(ctx, stale.Actual); werr != nil {
					return retry.Permanent(werr)
				}
				return err
			}
			if err != nil {
				return retry.Permanent(err)
			}
			seq = got
		}
		return nil
	})
}
