package bench

import (
	"bufio"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkMemoryWithManyVolumes creates BALLAST_BENCH_VOLUMES volumes
// (default 100,000) of 3 replicas on 1,000 simulated nodes, with everything
// in this process as `ballast up` runs it, and reports the process's
// resident memory and Go heap once they are all ready, and again after
// the system has stood idle for 30 s. Goal: under 1 GiB. GOMEMLIMIT (or
// `ballast up --memory-limit`) sets the collector's soft limit.
//
//	BALLAST_BENCH_VOLUMES=100000 go test -run '^$' -bench MemoryWithManyVolumes -benchtime 1x -timeout 60m ./test/bench
func BenchmarkMemoryWithManyVolumes(b *testing.B) {
	const settle = 30 * time.Second
	volumes := 100_000
	if v, err := strconv.Atoi(os.Getenv("BALLAST_BENCH_VOLUMES")); err == nil && v > 0 {
		volumes = v
	}
	for range b.N {
		ctx, client, _ := up(b, 1000)
		began := time.Now()
		if err := createAll(ctx, client, volumeNames(volumes), nil); err != nil {
			b.Fatal(err)
		}
		b.Logf("%d volumes ready in %s", volumes, time.Since(began).Round(time.Second))
		runtime.GC()
		if path := os.Getenv("BALLAST_BENCH_HEAPPROFILE"); path != "" {
			f, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			_ = pprof.WriteHeapProfile(f)
			f.Close()
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(rssBytes(b))/(1<<20), "rss-MiB")
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-inuse-MiB")
		// And once the burst is over: the server's block caches expire
		// after 10 s idle, the collector's scavenger gives back what the
		// heap no longer needs.
		time.Sleep(settle)
		runtime.GC()
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(rssBytes(b))/(1<<20), "idle-rss-MiB")
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "idle-heap-inuse-MiB")
	}
}

// rssBytes is the process's resident set, from /proc.
func rssBytes(b *testing.B) uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmRSS in /proc/self/status")
	return 0
}
