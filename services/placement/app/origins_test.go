package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"ballast.dev/services/placement/domain"
)

var t0 = time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)

func sec(n float64) time.Time { return t0.Add(time.Duration(n * float64(time.Second))) }

func healthy(ids ...string) []SetReplica {
	out := make([]SetReplica, len(ids))
	for i, id := range ids {
		out[i] = SetReplica{Replica: Replica{ID: id, Placement: domain.Placement{NodeID: "node-" + id}}, Role: RoleHealthy}
	}
	return out
}

// setOf renders a set as "id:role" words, in set order.
func setOf(s []SetReplica) string {
	var parts []string
	for _, r := range s {
		parts = append(parts, fmt.Sprintf("%s:%d", r.ID, r.Role))
	}
	return strings.Join(parts, " ")
}

func TestReplicaSetAtFoldsTheVolumeLogUpToATime(t *testing.T) {
	added := healthy("r4")
	changes := []SetChange{
		{Kind: SetRequested, Time: sec(0)},
		{Kind: SetAssigned, Time: sec(1), Replicas: healthy("r1", "r2", "r3")},
		{Kind: SetAdded, Time: sec(2), Replicas: added},
		{Kind: SetPromoted, Time: sec(3), ReplicaID: "r4", RetiredID: "r1"},
		{Kind: SetRemoved, Time: sec(4), ReplicaID: "r1"},
		{Kind: SetLost, Time: sec(5), ReplicaID: "r2"},
		{Kind: SetRetired, Time: sec(6), ReplicaID: "r3"},
		{Kind: SetDeleted, Time: sec(7)},
	}
	for _, tc := range []struct {
		at       float64
		want     string
		recorded bool
	}{
		{-1, "", false},
		{0.5, "", false},
		{1, "r1:1 r2:1 r3:1", true}, // an event at the time asked counts
		{2.5, "r1:1 r2:1 r3:1 r4:2", true},
		{3.5, "r1:3 r2:1 r3:1 r4:1", true},
		{4.5, "r2:1 r3:1 r4:1", true},
		{5.5, "r2:4 r3:1 r4:1", true},
		{6.5, "r2:4 r3:3 r4:1", true},
		{8, "", true},
	} {
		s := replicaSetAt(changes, sec(tc.at))
		if got := setOf(s.Replicas); got != tc.want || s.Recorded != tc.recorded {
			t.Errorf("at %vs: set %q (recorded %v), want %q (%v)", tc.at, got, s.Recorded, tc.want, tc.recorded)
		}
		if wantReq := tc.at >= 0; s.Requested.IsZero() == wantReq {
			t.Errorf("at %vs: requested %v", tc.at, s.Requested)
		}
		if s.Deleted.IsZero() != (tc.at < 7) {
			t.Errorf("at %vs: deleted %v", tc.at, s.Deleted)
		}
	}
	if added[0].Role != RoleHealthy {
		t.Fatal("the fold changed the log's replicas")
	}
	// A repair states the whole set.
	repaired := append(changes[:3:3], SetChange{Kind: SetRepaired, Time: sec(3), Replicas: healthy("r2", "r9")})
	if got := setOf(replicaSetAt(repaired, sec(9)).Replicas); got != "r2:1 r9:1" {
		t.Fatalf("after a repair: %q", got)
	}
}

func TestOriginsNameTheDecisionOrTheLatestMove(t *testing.T) {
	rec := RecordedDecision{VolumeID: "v", Sequence: 5, Time: sec(0), Replicas: []Replica{{ID: "r1"}, {ID: "r2"}}}
	moves := []RecordedMove{
		{Move: Move{MigrationID: "m1", Target: Replica{ID: "r3"}}, Sequence: 8, Time: sec(2)},
		{Move: Move{MigrationID: "m2", Target: Replica{ID: "r4"}}, Sequence: 9, Time: sec(3)},
		// The same target id admitted again (a move sent again after a
		// rollback settled): the latest is the one that stands.
		{Move: Move{MigrationID: "m3", Target: Replica{ID: "r4"}}, Sequence: 11, Time: sec(4)},
	}
	got := originsOf(rec, moves, healthy("r2", "r4", "r7"))
	want := []struct {
		kind OriginKind
		seq  uint64
		mig  string
	}{{OriginDecision, 5, ""}, {OriginMove, 11, "m3"}, {OriginUnknown, 0, ""}}
	for i, w := range want {
		if got[i].Kind != w.kind || got[i].Sequence != w.seq || got[i].Move.MigrationID != w.mig {
			t.Errorf("replica %s: %+v, want %+v", got[i].Replica.ID, got[i], w)
		}
	}
}

// A move to a node the planner would not have picked records that node as
// chosen and keeps its row among the best.
func TestMoveSummaryMarksTheTargetWhereverItRanks(t *testing.T) {
	c := cluster(t, 30, 0)
	d, err := domain.Place(c, domain.Request{VolumeID: "v", SizeBytes: gib, Replicas: 1, Tier: domain.TierSSD, Spread: domain.SpreadZone}, domain.WithCandidates())
	if err != nil {
		t.Fatal(err)
	}
	ranked := d.Ranked()
	last := ranked[len(ranked)-1]
	s := moveSummary(d, domain.Placement{NodeID: last.NodeID, DiskID: last.DiskID})
	chosen := 0
	for _, b := range s.Best {
		if b.Chosen {
			chosen++
			if b.NodeID != last.NodeID {
				t.Errorf("%s marked chosen", b.NodeID)
			}
		}
	}
	if chosen != 1 || len(s.Best) != len(d.Best)+1 || s.Best[len(s.Best)-1].NodeID != last.NodeID || len(s.Candidates) != 0 {
		t.Fatalf("best %+v", s.Best)
	}
	markTarget(ranked, domain.Placement{NodeID: last.NodeID})
	rows, rank := moveRows(ranked)
	if rank != len(ranked) || len(rows) != domain.BestCandidates+1 || !rows[len(rows)-1].Chosen {
		t.Fatalf("rank %d, %d rows", rank, len(rows))
	}
}

// fakeHistory is a volume that moved: its moves and its volume's log.
type fakeHistory struct {
	fakeDecisions
	moves []RecordedMove
	set   []SetChange
}

func (f fakeHistory) Moves(context.Context, string) ([]RecordedMove, error) { return f.moves, nil }
func (f fakeHistory) ReplicaSet(context.Context, string, string) ([]SetChange, error) {
	return f.set, nil
}

// movedVolume is volume v1 placed at sec(0) on a 9-node cluster (model at
// node sequence 9) and its replica 1 drained away at sec(2), admitted on
// the model with the decision applied (placement sequence 10); build gives
// the cluster at a position, and the volume's log has it as the volume
// service writes it.
func movedVolume(t *testing.T) (fakeHistory, func(Position) *domain.Cluster) {
	t.Helper()
	rec := decide(t, cluster(t, 9, 0), "v1", Position{Node: 9}, 10)
	rec.Time = sec(0)
	build := func(p Position) *domain.Cluster {
		c := cluster(t, 9, 0)
		if p.Placement >= 10 {
			if err := c.Reserve("v1", rec.Decision.Placements, 10*gib); err != nil {
				t.Fatal(err)
			}
		}
		return c
	}
	src := rec.Replicas[1]
	m, err := admit(build(Position{Node: 9, Placement: 10}), Position{Node: 9, Placement: 10}, MoveReplica{
		RequestID: "drain:1", VolumeID: "v1", VolumeName: "vol", Source: src,
		Tier: domain.TierSSD, Spread: domain.SpreadZone, Reason: "drain of " + src.NodeID, Kind: MoveDrain})
	if err != nil {
		t.Fatal(err)
	}
	var assigned []SetReplica
	for _, r := range rec.Replicas {
		assigned = append(assigned, SetReplica{Replica: r, Role: RoleHealthy})
	}
	return fakeHistory{
		fakeDecisions: fakeDecisions{"v1": rec},
		moves:         []RecordedMove{{Move: m, Sequence: 12, Time: sec(2), Summarized: true}},
		set: []SetChange{
			{Kind: SetRequested, Time: sec(-1)},
			{Kind: SetAssigned, Time: sec(1), Replicas: assigned},
			{Kind: SetAdded, Time: sec(3), Replicas: []SetReplica{{Replica: m.Target}}},
			{Kind: SetPromoted, Time: sec(4), ReplicaID: m.Target.ID, RetiredID: src.ID},
			{Kind: SetRemoved, Time: sec(5), ReplicaID: src.ID},
		},
	}, build
}

// originWords renders origins as "replica:decision" or
// "replica:move/kind/rank".
func originWords(os []Origin) string {
	var parts []string
	for _, o := range os {
		switch o.Kind {
		case OriginDecision:
			parts = append(parts, o.Replica.ID+":decision")
		case OriginMove:
			parts = append(parts, fmt.Sprintf("%s:move/%s", o.Replica.ID, o.Move.Kind))
		default:
			parts = append(parts, o.Replica.ID+":unknown")
		}
	}
	return strings.Join(parts, " ")
}

func TestExplainSaysWhereEachReplicaCameFromAtAnyTime(t *testing.T) {
	h, build := movedVolume(t)
	rec, m := h.fakeDecisions["v1"], h.moves[0]
	rep := &fakeReplayer{build: build}
	x := NewExplainer(t.Context(), h, rep, WithClock(func() time.Time { return sec(3600) }))
	r0, r1, r2, target := rec.Replicas[0].ID, rec.Replicas[1].ID, rec.Replicas[2].ID, m.Target.ID

	for _, tc := range []struct {
		name string
		at   time.Time
		want string
	}{
		{"now", time.Time{}, fmt.Sprintf("%s:decision %s:decision %s:move/drain", r0, r2, target)},
		{"placed, before the move", sec(1.5), fmt.Sprintf("%s:decision %s:decision %s:decision", r0, r1, r2)},
		{"admitted, not yet added", sec(2.5), fmt.Sprintf("%s:decision %s:decision %s:decision", r0, r1, r2)},
		{"copying", sec(3.5), fmt.Sprintf("%s:decision %s:decision %s:decision %s:move/drain", r0, r1, r2, target)},
		{"cut over", sec(4.5), fmt.Sprintf("%s:decision %s:decision %s:decision %s:move/drain", r0, r1, r2, target)},
		// Placed, but the volume service has not recorded the set yet.
		{"decided, not assigned", sec(0.5), fmt.Sprintf("%s:decision %s:decision %s:decision", r0, r1, r2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := x.Handle(t.Context(), ExplainPlacement{VolumeID: "v1", At: tc.at})
			if err != nil {
				t.Fatal(err)
			}
			if got := originWords(e.Origins); got != tc.want {
				t.Fatalf("origins %s, want %s", got, tc.want)
			}
			if wantAt := tc.at; !wantAt.IsZero() && !e.At.Equal(wantAt) || tc.at.IsZero() && !e.At.Equal(sec(3600)) {
				t.Fatalf("explained at %v", e.At)
			}
			if e.Decision.Sequence != 10 || e.Total != 9 {
				t.Fatalf("decision %d, %d rows", e.Decision.Sequence, e.Total)
			}
			for _, o := range e.Origins {
				if o.Kind != OriginMove {
					continue
				}
				if o.Source != TableRecomputed || o.Mismatch != "" || o.Total != 9 || o.TargetRank < 1 || o.Sequence != 12 {
					t.Fatalf("move origin: source %v, mismatch %q, %d rows, rank %d", o.Source, o.Mismatch, o.Total, o.TargetRank)
				}
				if o.Move.Source.ID != r1 || o.Move.Reason != "drain of "+rec.Replicas[1].NodeID {
					t.Fatalf("move %+v", o.Move)
				}
				chosen := 0
				for _, r := range o.Rows {
					if r.Chosen {
						chosen++
						if r.NodeID != m.Target.NodeID {
							t.Fatalf("row %s chosen, the target is %s", r.NodeID, m.Target.NodeID)
						}
					}
				}
				if chosen != 1 {
					t.Fatalf("%d rows chosen", chosen)
				}
			}
			roles := map[string]ReplicaRole{}
			for _, o := range e.Origins {
				roles[o.Replica.ID] = o.Replica.Role
			}
			if tc.name == "copying" && roles[target] != RoleRebuilding || tc.name == "cut over" && roles[r1] != RoleLeaving {
				t.Fatalf("roles %v", roles)
			}
		})
	}
	// The decision's table and the move's, each computed once.
	if n := rep.calls.Load(); n != 2 {
		t.Fatalf("%d tables computed", n)
	}

	// A later page is the decision's table only.
	first, _ := x.Handle(t.Context(), ExplainPlacement{VolumeID: "v1", PageSize: 4})
	next, err := x.Handle(t.Context(), ExplainPlacement{VolumeID: "v1", PageSize: 4, PageToken: first.NextPageToken})
	if err != nil || len(first.Origins) != 3 || len(next.Origins) != 0 {
		t.Fatalf("origins on pages: %d, %d (%v)", len(first.Origins), len(next.Origins), err)
	}
}

func TestExplainRefusesATimeItCannotAnswerFor(t *testing.T) {
	h, build := movedVolume(t)
	x := NewExplainer(t.Context(), h, &fakeReplayer{build: build}, WithClock(func() time.Time { return sec(3600) }))
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{sec(-2), "volume vol did not exist at 2026-03-01T09:29:58Z; it was created at 2026-03-01T09:29:59Z"},
		{sec(-0.5), "volume vol was not placed yet at 2026-03-01T09:29:59.5Z; it was created at 2026-03-01T09:29:59Z and placed at 2026-03-01T09:30:00Z"},
	} {
		_, err := x.Handle(t.Context(), ExplainPlacement{VolumeID: "v1", At: tc.at})
		var te *TooEarlyError
		if !errors.As(err, &te) || !errors.Is(err, ErrNotPlaced) || err.Error() != tc.want {
			t.Errorf("at %v: %v, want %q", tc.at, err, tc.want)
		}
	}
	_, err := x.Handle(t.Context(), ExplainPlacement{VolumeID: "v1", At: sec(3600 + 120)})
	var ae *ArgumentError
	if !errors.As(err, &ae) || ae.Field != "at" || !strings.Contains(err.Error(), "2026-03-01T10:32:00Z is in the future") {
		t.Fatalf("a time in the future: %v", err)
	}
	// Within the clocks' skew: now.
	e, err := x.Handle(t.Context(), ExplainPlacement{VolumeID: "v1", At: sec(3600 + 10)})
	if err != nil || !e.At.Equal(sec(3600)) {
		t.Fatalf("a time a few seconds ahead: at %v, %v", e.At, err)
	}
}

// A move recomputed on a model that no longer gives it back is reported;
// one recorded before moves kept their scores is shown as recorded.
func TestExplainReportsMovesItCannotRecompute(t *testing.T) {
	h, build := movedVolume(t)
	bigger := func(p Position) *domain.Cluster {
		c := build(p)
		// A node the move was not decided on, emptier than any: the
		// planner now picks it.
		if err := c.UpsertNode(domain.Node{ID: "node-late", Zone: h.moves[0].Target.Zone, Region: "r", State: domain.NodeUp,
			Disks: []domain.Disk{{ID: "d0", Tier: domain.TierSSD, CapacityBytes: 1000 * gib}}}); err != nil {
			t.Fatal(err)
		}
		return c
	}
	x := NewExplainer(t.Context(), h, &fakeReplayer{build: bigger})
	e, err := x.Handle(t.Context(), ExplainPlacement{VolumeID: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	o := e.Origins[2]
	if o.Kind != OriginMove || !strings.Contains(o.Mismatch, "the planner now chooses node-late") {
		t.Fatalf("origin %+v", o)
	}

	h.moves[0].Summarized = false
	x = NewExplainer(t.Context(), h, &fakeReplayer{build: func(Position) *domain.Cluster { t.Error("an old move needs no replay"); return nil }})
	// The decision's table, recomputed once, is another matter.
	x.tables[tableKey{"v1", 10}] = &tableEntry{ready: closed(), t: &table{source: TableRecomputed}}
	e, err = x.Handle(t.Context(), ExplainPlacement{VolumeID: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	if o := e.Origins[2]; o.Kind != OriginMove || o.Source != 0 || len(o.Rows) != 0 || o.Move.Kind != MoveDrain {
		t.Fatalf("an old move: %+v", o)
	}
}

func closed() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}
