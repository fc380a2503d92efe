package app

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"ballast.dev/services/placement/domain"
)

const gib = uint64(1) << 30

type fakeDecisions map[string]RecordedDecision

func (f fakeDecisions) Latest(_ context.Context, id string) (RecordedDecision, error) {
	r, ok := f[id]
	if !ok {
		return RecordedDecision{}, fmt.Errorf("volume %s: %w", id, ErrNotPlaced)
	}
	return r, nil
}

// Moves and ReplicaSet: these volumes never moved, and their volume's log
// has recorded no set (their replicas are the decision's).
func (f fakeDecisions) Moves(context.Context, string) ([]RecordedMove, error) { return nil, nil }
func (f fakeDecisions) ReplicaSet(context.Context, string, string) ([]SetChange, error) {
	return nil, nil
}

// fakeReplayer returns a fresh copy of the cluster built for a position.
type fakeReplayer struct {
	build func(Position) *domain.Cluster
	calls atomic.Int32
	gate  chan struct{} // when set, ClusterAt waits for it
}

func (f *fakeReplayer) ClusterAt(ctx context.Context, at Position, _ float64) (*domain.Cluster, error) {
	f.calls.Add(1)
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return f.build(at), nil
}

// cluster has n up nodes over three zones, with 100 GiB ssds, and m more
// nodes cordoned.
func cluster(t testing.TB, n, cordoned int) *domain.Cluster {
	c, err := domain.NewCluster()
	if err != nil {
		t.Fatal(err)
	}
	for i := range n + cordoned {
		node := domain.Node{ID: fmt.Sprintf("node-%03d", i), Zone: []string{"a", "b", "c"}[i%3], Region: "r", State: domain.NodeUp,
			Disks: []domain.Disk{{ID: "d0", Tier: domain.TierSSD, CapacityBytes: uint64(100+i) * gib}}}
		if i >= n {
			node.State = domain.NodeCordoned
		}
		if err := c.UpsertNode(node); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// decide places a volume as the placer does and records it as the journal
// would: summary and basis only.
func decide(t testing.TB, c *domain.Cluster, id string, at Position, seq uint64) RecordedDecision {
	r := domain.Request{VolumeID: id, SizeBytes: 10 * gib, Replicas: 3, Tier: domain.TierSSD, Spread: domain.SpreadZone}
	d, err := domain.Place(c, r)
	if err != nil {
		t.Fatal(err)
	}
	rec := RecordedDecision{VolumeID: id, VolumeName: "vol", Sequence: seq, Summarized: true,
		Basis: Basis{Request: r, At: at, Overcommit: 1}, Decision: d}
	for i, p := range d.Placements {
		rec.Replicas = append(rec.Replicas, Replica{ID: fmt.Sprintf("%s-%d", id, i), Placement: p})
	}
	return rec
}

func fullTable(t testing.TB, c *domain.Cluster, r domain.Request) []domain.CandidateScore {
	d, err := domain.Place(c, r, domain.WithCandidates())
	if err != nil {
		t.Fatal(err)
	}
	return d.Ranked()
}

func TestExplainPagesThroughTheTableComputedOnce(t *testing.T) {
	at := Position{Node: 40, Placement: 7}
	rep := &fakeReplayer{build: func(p Position) *domain.Cluster {
		if p != at {
			t.Errorf("rebuilt at %+v, want %+v", p, at)
		}
		return cluster(t, 230, 20)
	}}
	rec := decide(t, cluster(t, 230, 20), "v1", at, 99)
	x := NewExplainer(t.Context(), fakeDecisions{"v1": rec}, rep)
	want := fullTable(t, cluster(t, 230, 20), rec.Basis.Request)

	var got []domain.CandidateScore
	token, pages := "", 0
	for {
		e, err := x.Handle(t.Context(), ExplainPlacement{VolumeID: "v1", PageSize: 100, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		if e.Total != 250 || e.Source != TableRecomputed || e.Mismatch != "" || e.Decision.Sequence != 99 {
			t.Fatalf("page %d: total %d, source %v, mismatch %q", pages, e.Total, e.Source, e.Mismatch)
		}
		got = append(got, e.Page...)
		pages++
		if token = e.NextPageToken; token == "" {
			break
		}
	}
	if pages != 3 || !reflect.DeepEqual(got, want) {
		t.Fatalf("%d pages, %d rows; want 3 pages of the %d rows Place computes", pages, len(got), len(want))
	}
	if n := rep.calls.Load(); n != 1 {
		t.Fatalf("the model was rebuilt %d times for one table", n)
	}
	if got[0].Chosen != true || got[len(got)-1].Reason != "node is cordoned" {
		t.Errorf("first row %+v, last row %+v", got[0], got[len(got)-1])
	}
}

func TestExplainRefusesWhatItCannotAnswer(t *testing.T) {
	rec := decide(t, cluster(t, 6, 0), "v1", Position{Node: 6}, 10)
	other := decide(t, cluster(t, 6, 0), "v2", Position{Node: 6}, 11)
	rep := &fakeReplayer{build: func(Position) *domain.Cluster { return cluster(t, 6, 0) }}
	x := NewExplainer(t.Context(), fakeDecisions{"v1": rec, "v2": other}, rep)
	first, err := x.Handle(t.Context(), ExplainPlacement{VolumeID: "v2", PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		q     ExplainPlacement
		field string
	}{
		{"negative page size", ExplainPlacement{VolumeID: "v1", PageSize: -1}, "page_size"},
		{"garbage token", ExplainPlacement{VolumeID: "v1", PageToken: "%%%"}, "page_token"},
		{"another decision's token", ExplainPlacement{VolumeID: "v1", PageToken: first.NextPageToken}, "page_token"},
		{"past the end", ExplainPlacement{VolumeID: "v1", PageToken: encodePageToken(10, 7)}, "page_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := x.Handle(t.Context(), tc.q)
			var ae *ArgumentError
			if !errors.As(err, &ae) || ae.Field != tc.field {
				t.Fatalf("err %v, want an ArgumentError on %s", err, tc.field)
			}
		})
	}
	if _, err := x.Handle(t.Context(), ExplainPlacement{VolumeID: "nope"}); !errors.Is(err, ErrNotPlaced) {
		t.Fatalf("unknown volume: %v", err)
	}
}

// Requests for one table while it is being computed wait for that one
// computation; one that gives up does not stop it.
func TestExplainComputesATableOnceForConcurrentRequests(t *testing.T) {
	rec := decide(t, cluster(t, 9, 0), "v1", Position{Node: 9}, 5)
	rep := &fakeReplayer{build: func(Position) *domain.Cluster { return cluster(t, 9, 0) }, gate: make(chan struct{})}
	x := NewExplainer(t.Context(), fakeDecisions{"v1": rec}, rep)

	impatient, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := x.Handle(impatient, ExplainPlacement{VolumeID: "v1"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("a request that gave up: %v", err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			e, err := x.Handle(t.Context(), ExplainPlacement{VolumeID: "v1"})
			if err == nil && e.Total != 9 {
				err = fmt.Errorf("total %d", e.Total)
			}
			errs <- err
		})
	}
	close(rep.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := rep.calls.Load(); n != 1 {
		t.Fatalf("%d computations for one table", n)
	}
}

func TestExplainCacheIsBounded(t *testing.T) {
	recs := fakeDecisions{}
	for i := range 3 {
		id := fmt.Sprintf("v%d", i)
		recs[id] = decide(t, cluster(t, 30, 0), id, Position{Node: 30}, uint64(i+1))
	}
	rep := &fakeReplayer{build: func(Position) *domain.Cluster { return cluster(t, 30, 0) }}
	// Room for two tables of 30 rows.
	x := NewExplainer(t.Context(), recs, rep, WithCacheRows(60))
	for _, id := range []string{"v0", "v1", "v0", "v2", "v0", "v1"} {
		if _, err := x.Handle(t.Context(), ExplainPlacement{VolumeID: id}); err != nil {
			t.Fatal(err)
		}
	}
	// v0 and v1 computed, v0 kept as the most used, v2 computed and v1
	// evicted, v1 computed again.
	if n := rep.calls.Load(); n != 4 {
		t.Fatalf("%d computations, want 4", n)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.rows > 60 || len(x.tables) != 2 {
		t.Fatalf("cache holds %d rows in %d tables", x.rows, len(x.tables))
	}
}

// A planner that no longer reaches the recorded decision is reported, not
// hidden: the table is what this build computes.
func TestExplainReportsADecisionItCannotReproduce(t *testing.T) {
	rec := decide(t, cluster(t, 9, 0), "v1", Position{Node: 9}, 5)
	// The log gives back a model with a node more than the one decided on.
	rep := &fakeReplayer{build: func(Position) *domain.Cluster { return cluster(t, 10, 0) }}
	x := NewExplainer(t.Context(), fakeDecisions{"v1": rec}, rep)
	e, err := x.Handle(t.Context(), ExplainPlacement{VolumeID: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	if e.Mismatch == "" || e.Total != 10 {
		t.Fatalf("mismatch %q, total %d", e.Mismatch, e.Total)
	}
}

func TestExplainAnswersAnOldDecisionFromItsEvent(t *testing.T) {
	c := cluster(t, 5, 1)
	r := domain.Request{VolumeID: "old", SizeBytes: 10 * gib, Replicas: 3, Tier: domain.TierSSD, Spread: domain.SpreadZone}
	full, err := domain.Place(c, r, domain.WithCandidates())
	if err != nil {
		t.Fatal(err)
	}
	rec := RecordedDecision{VolumeID: "old", Sequence: 3, Decision: domain.Decision{VolumeID: "old", Placements: full.Placements, Candidates: full.Candidates}}
	rep := &fakeReplayer{build: func(Position) *domain.Cluster { t.Error("an old decision needs no replay"); return c }}
	x := NewExplainer(t.Context(), fakeDecisions{"old": rec}, rep)
	e, err := x.Handle(t.Context(), ExplainPlacement{VolumeID: "old"})
	if err != nil {
		t.Fatal(err)
	}
	if e.Source != TableRecorded || !reflect.DeepEqual(e.Page, full.Ranked()) {
		t.Fatalf("source %v, page %+v", e.Source, e.Page)
	}
}

// A page stops short of its size rather than outgrow a message.
func TestExplainPagesStayWithinAMessage(t *testing.T) {
	long := strings.Repeat("x", 4000)
	rows := make([]domain.CandidateScore, 400)
	for i := range rows {
		rows[i] = domain.CandidateScore{NodeID: fmt.Sprintf("n%03d", i), Reason: long}
	}
	rec := RecordedDecision{VolumeID: "v", Sequence: 1, Decision: domain.Decision{Candidates: rows}}
	x := NewExplainer(t.Context(), fakeDecisions{"v": rec}, &fakeReplayer{})
	e, err := x.Handle(t.Context(), ExplainPlacement{VolumeID: "v", PageSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	bytes := 0
	for _, r := range e.Page {
		bytes += RowSize(r)
	}
	if len(e.Page) == 0 || len(e.Page) == 400 || bytes > MaxPageBytes || e.NextPageToken == "" {
		t.Fatalf("page of %d rows, %d bytes, next %q", len(e.Page), bytes, e.NextPageToken)
	}
}
