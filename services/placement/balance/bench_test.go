package balance

import (
	"os"
	"strconv"
	"testing"
)

// BenchmarkPlanSkewedFleet plans the rebalancing of a skewed fleet of 1,000
// nodes in 10 zones with 100,000 volumes of 3 replicas
// (BALLAST_BENCH_VOLUMES sets another count), and reports how balanced the
// plan leaves it: IOPS utilisation max/mean before and after, min/mean
// after, the fullest disk, and the bytes copied against the bound of bytes
// that must leave the overloaded disks.
func BenchmarkPlanSkewedFleet(b *testing.B) {
	volumes := 100_000
	if v, err := strconv.Atoi(os.Getenv("BALLAST_BENCH_VOLUMES")); err == nil && v > 0 {
		volumes = v
	}
	m := skewedFleet(20261202, 1000, volumes)
	before := measure(m)
	_, hi0 := spread(before.iops)
	var p Plan
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		p = Propose(m, Config{})
	}
	b.StopTimer()
	bound := float64(Bound(m, Config{}))
	u := measure(Apply(m, p.Moves))
	lo, hi := spread(u.iops)
	_, full := spread(u.fill)
	b.ReportMetric(float64(len(p.Moves)), "moves")
	b.ReportMetric(hi0/before.meanIOPS, "max/mean-before")
	b.ReportMetric(hi/u.meanIOPS, "max/mean-after")
	b.ReportMetric(lo/u.meanIOPS, "min/mean-after")
	b.ReportMetric(100*full, "fullest-%")
	b.ReportMetric(float64(p.BytesToCopy)/bound, "bytes/bound")
	b.ReportMetric(bound/1e12, "bound-TB")
	b.ReportMetric(float64(len(p.Stranded)), "stranded")
}
