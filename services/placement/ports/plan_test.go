package ports

import (
	"testing"

	"ballast.dev/services/placement/balance"
)

// A dry run's time estimate is its bytes over the bandwidth the throttles
// allow, as configured, not a constant.
func TestPlanEstimateFollowsTheCopyBandwidth(t *testing.T) {
	p := balance.Plan{BytesToCopy: 4 << 30}
	name := func(string) string { return "" }
	if got := PlanToProto(p, 0, 0, name, 2<<30).GetEstimatedSeconds(); got != 2 {
		t.Errorf("4 GiB at 2 GiB/s: estimated %v s, want 2", got)
	}
	if got := PlanToProto(p, 0, 0, name, 0).GetEstimatedSeconds(); got != 0 {
		t.Errorf("no bandwidth known: estimated %v s, want none", got)
	}
}
