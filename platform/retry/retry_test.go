package retry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"ballast.dev/platform/retry"
)

var fast = retry.Policy{Initial: time.Millisecond, Max: 2 * time.Millisecond, Budget: time.Second}

func TestDoRetriesUntilSuccess(t *testing.T) {
	calls := 0
	err := retry.Do(context.Background(), fast, func(attempt int) error {
		calls++
		if attempt != calls {
			t.Fatalf("attempt %d on call %d", attempt, calls)
		}
		if calls < 4 {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil || calls != 4 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
}

func TestPermanentStopsAtOnceWithTheRealError(t *testing.T) {
	real := errors.New("bad payload")
	calls := 0
	err := retry.Do(context.Background(), fast, func(int) error { calls++; return retry.Permanent(real) })
	if calls != 1 || err != real {
		t.Fatalf("calls %d, err %v (%T)", calls, err, err)
	}
}

func TestTriesRunOutWithTheLastError(t *testing.T) {
	real := errors.New("conflict")
	p := retry.Policy{Initial: time.Millisecond, Max: time.Millisecond, Tries: 3}
	calls := 0
	err := retry.Do(context.Background(), p, func(int) error { calls++; return real })
	if calls != 3 || !errors.Is(err, real) || !errors.Is(err, retry.ErrExhausted) {
		t.Fatalf("calls %d, err %v", calls, err)
	}
}

func TestBudgetRunsOut(t *testing.T) {
	p := retry.Policy{Initial: 10 * time.Millisecond, Max: 10 * time.Millisecond, Budget: 50 * time.Millisecond}
	start := time.Now()
	err := retry.Do(context.Background(), p, func(int) error { return errors.New("down") })
	if !errors.Is(err, retry.ErrExhausted) {
		t.Fatalf("err %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("a 50 ms budget took %s", d)
	}
}

// A context that ends while waiting reports both the context and the real
// error, so that a dead letter never says only "context canceled".
func TestContextEndKeepsTheRealError(t *testing.T) {
	real := errors.New("nats: no responders")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	p := retry.Policy{Initial: 10 * time.Millisecond, Max: 10 * time.Millisecond}
	err := retry.Do(ctx, p, func(int) error { return real })
	if !errors.Is(err, real) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
}
