package cli

import (
	"bytes"
	"strings"
	"testing"

	ballastv1 "ballast.dev/proto/ballast/v1"
)

// The dry run says how long its copies take, and says so when it cannot
// know, rather than "about 0s".
func TestThePlanSaysHowLongItsCopiesTake(t *testing.T) {
	for _, tc := range []struct {
		plan *ballastv1.PlanRebalanceResponse
		want string
	}{
		{&ballastv1.PlanRebalanceResponse{MoveCount: 3, BytesToCopy: 3 << 30, EstimatedSeconds: 92.4}, "3 moves, 3.0 GiB to copy, about 1m32s under the throttles"},
		{&ballastv1.PlanRebalanceResponse{MoveCount: 1, BytesToCopy: 1 << 20, EstimatedSeconds: 0.2}, "1 moves, 1.0 MiB to copy, under a second under the throttles"},
		{&ballastv1.PlanRebalanceResponse{MoveCount: 2, BytesToCopy: 2 << 30}, "2 moves, 2.0 GiB to copy, time to copy not known (no bandwidth budget)"},
		{&ballastv1.PlanRebalanceResponse{Whole: true}, "0 moves, 0 B to copy (planned in"},
	} {
		var out bytes.Buffer
		if err := renderPlan(&out, formatTable, tc.plan); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), tc.want) {
			t.Errorf("plan %v:\n%s\nwant it to say %q", tc.plan, out.String(), tc.want)
		}
	}
}
