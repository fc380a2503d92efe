package domain

import (
	"errors"
	"math"
	"reflect"
	"testing"
	"time"
	"unsafe"
)

// t0 is the start of a window of every interval used here.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const interval = 30 * time.Second

func at(d time.Duration) time.Time { return t0.Add(d) }

func disk(read, write, rbps, wbps, util float64, lat time.Duration) DiskSample {
	return DiskSample{ReadIOPS: read, WriteIOPS: write, ReadBytesPerSecond: rbps, WriteBytesPerSecond: wbps, Utilization: util, Latency: lat}
}

// step is one call on a window: a sample arriving at now, or, with no
// sample, a Flush at now.
type step struct {
	sample *Sample
	now    time.Duration
	// want is the summary the step must produce, nil for none.
	want *Summary
	err  error
}

func add(sampleAt, now time.Duration, disks ...DiskSample) step {
	return step{sample: &Sample{At: at(sampleAt), Disks: disks}, now: now}
}

func flush(now time.Duration) step { return step{now: now} }

func (s step) emits(sum Summary) step { s.want = &sum; return s }
func (s step) fails(err error) step   { s.err = err; return s }

func TestWindow(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name  string
		floor time.Time
		steps []step
	}{
		{
			name: "averages sum over disks, peak utilisation, closes on a later window",
			steps: []step{
				add(1*time.Second, 1*time.Second, disk(100, 10, 1000, 100, 0.2, 1*ms), disk(300, 30, 3000, 300, 0.4, 2*ms)),
				add(5*time.Second, 5*time.Second, disk(200, 20, 2000, 200, 0.9, 3*ms), disk(0, 0, 0, 0, 0.1, 4*ms)),
				add(31*time.Second, 31*time.Second, disk(1, 1, 1, 1, 0, 0)).emits(Summary{
					Node: "n1", Start: t0, End: at(interval), Samples: 2,
					ReadIOPS: 300, WriteIOPS: 30, ReadBytesPerSecond: 3000, WriteBytesPerSecond: 300,
					Utilization: 0.9, Latency: 4 * ms,
				}),
			},
		},
		{
			name: "no summary without samples, however long the wait",
			steps: []step{
				flush(0),
				flush(time.Hour),
			},
		},
		{
			name: "a quiet node's window is flushed after an interval without samples, once",
			steps: []step{
				add(2*time.Second, 2*time.Second, disk(10, 0, 0, 0, 0.5, ms)),
				flush(31 * time.Second),
				flush(32 * time.Second).emits(Summary{Node: "n1", Start: t0, End: at(interval), Samples: 1, ReadIOPS: 10, Utilization: 0.5, Latency: ms}),
				flush(time.Hour),
			},
		},
		{
			name: "skipped windows produce nothing; the next summary is the next window with samples",
			steps: []step{
				add(0, 0, disk(10, 0, 0, 0, 0, 0)),
				add(95*time.Second, 95*time.Second, disk(20, 0, 0, 0, 0, 0)).emits(Summary{Node: "n1", Start: t0, End: at(interval), Samples: 1, ReadIOPS: 10}),
				flush(200 * time.Second).emits(Summary{Node: "n1", Start: at(90 * time.Second), End: at(120 * time.Second), Samples: 1, ReadIOPS: 20}),
			},
		},
		{
			name: "out of order inside the open window counts",
			steps: []step{
				add(20*time.Second, 20*time.Second, disk(10, 0, 0, 0, 0, 0)),
				add(10*time.Second, 21*time.Second, disk(30, 0, 0, 0, 0, 0)),
				flush(60 * time.Second).emits(Summary{Node: "n1", Start: t0, End: at(interval), Samples: 2, ReadIOPS: 20}),
			},
		},
		{
			name: "a report delivered twice counts once",
			steps: []step{
				add(10*time.Second, 10*time.Second, disk(10, 0, 0, 0, 0.5, 0)),
				add(10*time.Second, 11*time.Second, disk(10, 0, 0, 0, 0.5, 0)).fails(ErrDuplicate),
				add(20*time.Second, 20*time.Second, disk(40, 0, 0, 0, 0.5, 0)),
				flush(60 * time.Second).emits(Summary{Node: "n1", Start: t0, End: at(interval), Samples: 2, ReadIOPS: 25, Utilization: 0.5}),
			},
		},
		{
			name: "a sample before the open window is late and dropped",
			steps: []step{
				add(0, 0, disk(10, 0, 0, 0, 0, 0)),
				add(31*time.Second, 31*time.Second, disk(20, 0, 0, 0, 0, 0)).emits(Summary{Node: "n1", Start: t0, End: at(interval), Samples: 1, ReadIOPS: 10}),
				add(29*time.Second, 32*time.Second, disk(1000, 0, 0, 0, 0, 0)).fails(ErrLate),
				flush(70 * time.Second).emits(Summary{Node: "n1", Start: at(interval), End: at(2 * interval), Samples: 1, ReadIOPS: 20}),
			},
		},
		{
			name: "a sample of a window already summarized is late",
			steps: []step{
				add(1*time.Second, 1*time.Second, disk(10, 0, 0, 0, 0, 0)),
				flush(40 * time.Second).emits(Summary{Node: "n1", Start: t0, End: at(interval), Samples: 1, ReadIOPS: 10}),
				add(29*time.Second, 41*time.Second, disk(10, 0, 0, 0, 0, 0)).fails(ErrLate),
				flush(time.Hour),
			},
		},
		{
			name:  "the floor from the log makes older samples late after a restart",
			floor: at(interval),
			steps: []step{
				add(10*time.Second, 40*time.Second, disk(10, 0, 0, 0, 0, 0)).fails(ErrLate),
				add(interval, 40*time.Second, disk(10, 0, 0, 0, 0, 0)),
				flush(80 * time.Second).emits(Summary{Node: "n1", Start: at(interval), End: at(2 * interval), Samples: 1, ReadIOPS: 10}),
			},
		},
		{
			name: "a sample from beyond the clock skew is refused and opens nothing",
			steps: []step{
				add(time.Hour, 0, disk(10, 0, 0, 0, 0, 0)).fails(ErrFuture),
				add(MaxClockSkew, 0, disk(10, 0, 0, 0, 0, 0)),
				flush(2 * MaxClockSkew).emits(Summary{Node: "n1", Start: at(MaxClockSkew), End: at(MaxClockSkew + interval), Samples: 1, ReadIOPS: 10}),
			},
		},
		{
			name: "invalid samples are refused",
			steps: []step{
				{sample: &Sample{}, err: ErrInvalidSample},
				add(0, 0, disk(-1, 0, 0, 0, 0, 0)).fails(ErrInvalidSample),
				add(0, 0, disk(math.NaN(), 0, 0, 0, 0, 0)).fails(ErrInvalidSample),
				add(0, 0, disk(0, 0, math.Inf(1), 0, 0, 0)).fails(ErrInvalidSample),
				add(0, 0, disk(0, 0, 0, 0, 0, -ms)).fails(ErrInvalidSample),
				flush(time.Hour),
			},
		},
		{
			name: "a sample without disks counts as an idle sample",
			steps: []step{
				add(0, 0, disk(40, 0, 0, 0, 0, 0)),
				add(1*time.Second, 1*time.Second),
				flush(time.Minute).emits(Summary{Node: "n1", Start: t0, End: at(interval), Samples: 2, ReadIOPS: 20}),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := NewWindow("n1", interval, tt.floor)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tt.steps {
				var (
					got Summary
					ok  bool
					err error
				)
				if s.sample != nil {
					got, ok, err = w.Add(*s.sample, at(s.now))
				} else {
					got, ok = w.Flush(at(s.now))
				}
				if !errors.Is(err, s.err) {
					t.Fatalf("step %d: error %v, want %v", i, err, s.err)
				}
				switch {
				case s.want == nil && ok:
					t.Fatalf("step %d: unexpected summary %+v", i, got)
				case s.want != nil && !ok:
					t.Fatalf("step %d: no summary, want %+v", i, *s.want)
				case s.want != nil && !reflect.DeepEqual(got, *s.want):
					t.Fatalf("step %d: summary\n got %+v\nwant %+v", i, got, *s.want)
				}
			}
		})
	}
}

func TestWindowLatencyIsTheTail(t *testing.T) {
	tests := []struct {
		name      string
		latencies []time.Duration
		want      time.Duration
	}{
		{"one", []time.Duration{5}, 5},
		{"few: the worst", []time.Duration{3, 9, 1, 4}, 9},
		{"two hundred: the top percent ignored", append(repeat(10, 197), 11, 1000, 1000), 11},
		{"a hundred: the worst", append(repeat(10, 99), 7), 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, _ := NewWindow("n1", interval, time.Time{})
			s := Sample{At: t0}
			for _, l := range tt.latencies {
				s.Disks = append(s.Disks, DiskSample{Latency: l})
			}
			if _, _, err := w.Add(s, t0); err != nil {
				t.Fatal(err)
			}
			got, ok := w.Flush(t0.Add(interval))
			if !ok || got.Latency != tt.want {
				t.Fatalf("latency %v (ok %v), want %v", got.Latency, ok, tt.want)
			}
		})
	}
}

func repeat(d time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}

func TestNewWindowRefusesInvalid(t *testing.T) {
	for _, tc := range []struct {
		node     string
		interval time.Duration
	}{{"", interval}, {"n1", 0}, {"n1", -time.Second}} {
		if _, err := NewWindow(tc.node, tc.interval, time.Time{}); !errors.Is(err, ErrInvalidWindow) {
			t.Errorf("NewWindow(%q, %v): %v, want ErrInvalidWindow", tc.node, tc.interval, err)
		}
	}
}

// A window averages each replica's load over the samples that counted it:
// the planner balances on it.
func TestAWindowSummarizesEachReplica(t *testing.T) {
	w, err := NewWindow("n1", 10*time.Second, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, rs := range [][]ReplicaSample{
		{{ID: "r1", ReadIOPS: 100, WriteBytesPerSecond: 10}, {ID: "r2", WriteIOPS: 40}},
		{{ID: "r1", ReadIOPS: 300, WriteBytesPerSecond: 30}},
	} {
		if _, _, err := w.Add(Sample{At: at.Add(time.Duration(i) * time.Second), Replicas: rs}, at.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	sum, ok := w.Flush(at.Add(time.Minute))
	want := []ReplicaLoad{{ID: "r1", ReadIOPS: 200, WriteBytesPerSecond: 20}, {ID: "r2", WriteIOPS: 40}}
	if !ok || !reflect.DeepEqual(sum.Replicas, want) {
		t.Fatalf("replicas %+v, want %+v", sum.Replicas, want)
	}
	if _, _, err := w.Add(Sample{At: at.Add(time.Hour), Replicas: []ReplicaSample{{ID: "r3", ReadIOPS: math.NaN()}}}, at.Add(time.Hour)); !errors.Is(err, ErrInvalidSample) {
		t.Fatalf("a NaN replica load: %v", err)
	}
}

// A window's replicas are kept from one window to the next and found by
// their place in the sample: whatever order the samples list them in, and
// whichever come and go, each window sums exactly the replicas it saw. The
// ids of a sample may share the bytes of its report, which are then free:
// the window keeps copies.
func TestAWindowFollowsReplicasThatComeGoAndChangePlace(t *testing.T) {
	w, err := NewWindow("n1", 10*time.Second, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	report := []byte("r1r2r3")
	id := func(i int) string { return unsafe.String(&report[2*(i-1)], 2) }
	type rep struct {
		id   int
		iops float64
	}
	windows := [][][]rep{
		{{{2, 40}, {1, 30}}, {{1, 10}, {2, 20}}},             // swapped
		{{{1, 50}}, {{3, 80}}},                               // r2 gone (and still in place 2), r3 new
		{{{3, 100}, {2, 300}}, {{3, 100}, {2, 1}, {1, 200}}}, // r2 back in place 2
	}
	want := [][]ReplicaLoad{
		{{ID: "r1", ReadIOPS: 20}, {ID: "r2", ReadIOPS: 30}},
		{{ID: "r1", ReadIOPS: 50}, {ID: "r3", ReadIOPS: 80}},
		{{ID: "r1", ReadIOPS: 200}, {ID: "r2", ReadIOPS: 150.5}, {ID: "r3", ReadIOPS: 100}},
	}
	for i, samples := range windows {
		for j, reps := range samples {
			s := Sample{At: at.Add(time.Duration(10*i+j) * time.Second)}
			for _, r := range reps {
				s.Replicas = append(s.Replicas, ReplicaSample{ID: id(r.id), ReadIOPS: r.iops})
			}
			if _, _, err := w.Add(s, s.At); err != nil {
				t.Fatal(err)
			}
		}
		copy(report, "xxxxxx") // the report's bytes reused
		sum, ok := w.Flush(at.Add(time.Duration(10*i+25) * time.Second))
		if !ok || !reflect.DeepEqual(sum.Replicas, want[i]) {
			t.Fatalf("window %d: replicas %+v, want %+v", i, sum.Replicas, want[i])
		}
		copy(report, "r1r2r3")
	}
}
