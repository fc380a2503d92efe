// Package waitfor lets tests wait for a condition with a deadline, the way
// nats-server's tests use checkFor: poll, and fail naming what never
// happened, never sleep and hope.
package waitfor

import (
	"testing"
	"time"
)

// Step is how often a condition is polled.
const Step = 5 * time.Millisecond

// Condition polls cond until it holds. If it still does not after total, the
// test fails, naming what it waited for.
func Condition(t testing.TB, total time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(total)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", total, what)
		}
		time.Sleep(Step)
	}
}
