// Package retry is Ballast's one backoff policy: exponential backoff with
// jitter (github.com/cenkalti/backoff/v5), bounded by a time budget or a
// number of tries, and always by the caller's context. Every loop in Ballast
// that tries something again goes through Do, so that the whole system
// behaves the same way under a fault: a NATS restart is ridden out, a lost
// race is retried at once with a little jitter, and the error that is finally
// reported is the last real one, never the context that ran out meanwhile.
package retry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Policy says how often and for how long to try.
type Policy struct {
	// Initial is the first pause; each later one grows by half, with
	// jitter, up to Max.
	Initial, Max time.Duration
	// Budget bounds the time spent on all tries; 0 means until the
	// context ends or Tries runs out.
	Budget time.Duration
	// Tries bounds the attempts, the first included; 0 means no bound.
	Tries uint
}

// The policies Ballast uses. They differ in their numbers, not in their
// shape.
var (
	// Transient is for work that fails while a dependency is away: a NATS
	// restart or a leader election takes seconds to tens of seconds, so it
	// keeps trying for a minute before it gives up with the real error.
	Transient = Policy{Initial: 50 * time.Millisecond, Max: 2 * time.Second, Budget: time.Minute}
	// Conflict is for optimistic writes that lost a race: the loser
	// reloads and decides again at once, with a pause of a millisecond or
	// so that keeps writers that collided from colliding again in step.
	Conflict = Policy{Initial: time.Millisecond, Max: 50 * time.Millisecond, Tries: 10}
)

// ErrExhausted wraps the last error when a policy's budget or tries ran out.
var ErrExhausted = errors.New("retries exhausted")

type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent marks an error that trying again cannot cure: Do returns it at
// once.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err}
}

// IsPermanent reports whether err was marked Permanent.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}

// Do calls op until it succeeds, returns a Permanent error, the policy runs
// out, or ctx ends. op gets the attempt number, from 1. The error returned is
// op's last (unwrapped from Permanent), wrapped with ErrExhausted when the
// policy ran out; if ctx ended while waiting, it is ctx's error joined with
// op's last, so that the real cause is never hidden.
func Do(ctx context.Context, p Policy, op func(attempt int) error) error {
	_, err := Value(ctx, p, func(attempt int) (struct{}, error) { return struct{}{}, op(attempt) })
	return err
}

// Value is Do for an operation that returns a value.
func Value[T any](ctx context.Context, p Policy, op func(attempt int) (T, error)) (T, error) {
	b := &backoff.ExponentialBackOff{
		InitialInterval:     p.Initial,
		RandomizationFactor: 0.5,
		Multiplier:          1.5,
		MaxInterval:         p.Max,
	}
	opts := []backoff.RetryOption{backoff.WithBackOff(b), backoff.WithMaxElapsedTime(p.Budget)}
	if p.Tries > 0 {
		opts = append(opts, backoff.WithMaxTries(p.Tries))
	}
	attempt := 0
	var last error
	v, err := backoff.Retry(ctx, func() (T, error) {
		attempt++
		v, err := op(attempt)
		last = err
		if IsPermanent(err) {
			return v, backoff.Permanent(err)
		}
		return v, err
	}, opts...)
	var p2 permanent
	switch {
	case err == nil:
		return v, nil
	case errors.As(err, &p2):
		return v, p2.err
	case ctx.Err() != nil:
		// The context ended: say so, and what failed before it did.
		if last == nil || errors.Is(last, ctx.Err()) {
			return v, err
		}
		return v, errors.Join(context.Cause(ctx), last)
	}
	return v, fmt.Errorf("%w after %d attempts: %w", ErrExhausted, attempt, err)
}
