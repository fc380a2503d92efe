package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"ballast.dev/services/placement/balance"
	"ballast.dev/services/placement/domain"
)

type heldList []Held

func (h heldList) HeldAll() []Held { return h }

// A fleet where moves cannot keep up must not queue more: with as many
// volumes moving as the rebalancer lets be in flight, a pass admits none
// (and does not even plan).
func TestARebalancePassWaitsForTheMovesInFlight(t *testing.T) {
	var held heldList
	for i := range 32 {
		held = append(held, Held{VolumeID: fmt.Sprintf("v%d", i), Replicas: 1,
			Set: []Replica{{ID: "a", Placement: domain.Placement{NodeID: "n1"}}, {ID: "b", Placement: domain.Placement{NodeID: "n2"}}}})
	}
	r := Rebalancer{Holdings: held, MaxInFlight: 32} // a nil planner: planning would panic
	n, err := r.Pass(context.Background())
	if err != nil || n != 0 {
		t.Fatalf("pass with 32 moves in flight admitted %d (%v)", n, err)
	}
}

// With routine moves at their bound and every hot node relieved as far as
// it may be, a pass has nothing to admit and does not plan; the nodes it
// found relieved are told, so that news of them does not ask for another.
func TestAPassWithEveryHotNodeRelievedDoesNotPlan(t *testing.T) {
	moving := func(id, from string, kind MoveKind) Held {
		return Held{VolumeID: id, Replicas: 1, MovingFrom: from, MovingKind: kind,
			Set: []Replica{{ID: id + "a", Placement: domain.Placement{NodeID: from}}, {ID: id + "b", Placement: domain.Placement{NodeID: "x"}}}}
	}
	held := heldList{moving("v1", "n1", MoveBalance), moving("h1", "hot", MoveHotspot), moving("h2", "hot", MoveHotspot)}
	hot := map[string]bool{"hot": true}
	// A nil planner: planning would panic.
	r := NewRebalancer(Rebalancer{Holdings: held, MaxInFlight: 1, IsHot: func(n string) bool { return hot[n] },
		Hotspots: func() int { return len(hot) }})
	if n, err := r.Pass(context.Background()); err != nil || n != 0 {
		t.Fatalf("pass admitted %d (%v)", n, err)
	}
	if !r.Relieving("hot") || r.Relieving("n1") || r.Relieving("cold") {
		t.Fatalf("relieving: hot %v, n1 %v, cold %v; want only hot", r.Relieving("hot"), r.Relieving("n1"), r.Relieving("cold"))
	}
	// Another hot node that nothing relieves: the pass plans.
	hot["other"] = true
	defer func() {
		if recover() == nil {
			t.Fatal("a pass with a hot node nothing relieves did not plan")
		}
	}()
	_, _ = r.Pass(context.Background())
}

// Nodes up at the first look are the fleet; one that comes up later is
// joining for the window, and only then.
func TestJoinsAreNodesThatCameUpLater(t *testing.T) {
	j := &joins{}
	t0 := time.Unix(1_800_000_000, 0)
	// A fresh cluster: the rebalancer starts before any node registers.
	if j.observe(nil, t0, nil) != nil || j.observe([]string{"n1", "n2"}, t0, nil) != nil {
		t.Fatal("the fleet at the first look counted as joining")
	}
	if j.observe([]string{"n1", "n2"}, t0.Add(time.Second), nil) != nil {
		t.Fatal("no node joined, yet one was reported")
	}
	if got := j.observe([]string{"n1", "n2", "n3"}, t0.Add(2*time.Second), nil); !slices.Equal(got, []string{"n3"}) {
		t.Fatal("n3 came up and was not reported")
	}
	for _, c := range []struct {
		id   string
		at   time.Duration
		want bool
	}{{"n1", 3 * time.Second, false}, {"n3", 3 * time.Second, true}, {"n3", 10*time.Minute + time.Second, true}, {"n3", 10*time.Minute + 2*time.Second, false}} {
		if got := j.joining(c.id, t0.Add(c.at), 10*time.Minute); got != c.want {
			t.Errorf("%s joining at +%s: %v, want %v", c.id, c.at, got, c.want)
		}
	}
	// Nodes that came up before the first look that found any (a fresh
	// cluster, and nodes added within seconds): those empty in a cluster
	// with data join.
	late := &joins{}
	if got := late.observe([]string{"n1", "n2", "n3"}, t0, func(id string) bool { return id == "n3" }); !slices.Equal(got, []string{"n3"}) {
		t.Fatalf("at the first look, empty n3 in a cluster with data: joined %v", got)
	}
	// A node that went away and came back is not new.
	if j.observe([]string{"n1", "n3"}, t0.Add(3*time.Second), nil) != nil || j.observe([]string{"n1", "n2", "n3"}, t0.Add(4*time.Second), nil) != nil {
		t.Fatal("a node seen before counted as joining")
	}
}

// A node that registers between the rebalancer's look and its pass is
// judged by the pass that finds it: empty in a cluster with data, it is
// joining from that pass on, so neither that pass nor the next fills it as
// an old node, nor trades among the old ones.
func TestANodeFirstFoundByAPassIsJoining(t *testing.T) {
	held := heldList{{VolumeID: "v", Replicas: 2, Set: []Replica{
		{ID: "r1", Placement: domain.Placement{NodeID: "n1"}}, {ID: "r2", Placement: domain.Placement{NodeID: "n2"}}}}}
	t0 := time.Unix(1_800_000_000, 0)
	r := Rebalancer{Holdings: held, joined: &joins{}, Now: func() time.Time { return t0 }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	r.joined.observe([]string{"n1", "n2"}, t0, nil) // the fleet, learned
	joining := r.joining(t0.Add(time.Second))
	if !joining("n3") {
		t.Fatal("n3, new and empty, found first by a pass, is not joining")
	}
	if joining("n1") || joining("n2") {
		t.Fatal("an old node counts as joining")
	}
	if !r.joining(t0.Add(time.Minute))("n3") {
		t.Fatal("n3 stopped joining at the next pass")
	}
	// Before the first look learned the fleet, a pass finds no one new.
	fresh := Rebalancer{Holdings: held, joined: &joins{}, Now: r.Now, Log: r.Log}
	if fresh.joining(t0)("n3") {
		t.Fatal("a node counted as joining before the fleet was learned")
	}
}

// A hotspot does not wait behind routine balancing: moves off hot nodes
// come first, a node nothing relieves yet before another move off one being
// relieved; forced moves are the drainer's.
func TestMovesOffHotspotsJumpTheQueue(t *testing.T) {
	mv := func(from string, why balance.Reason) balance.Move {
		return balance.Move{VolumeID: from + why.String(), From: balance.Location{NodeID: from}, Reason: why}
	}
	plan := []balance.Move{mv("cool", balance.ReasonBalance), mv("hot", balance.ReasonBalance), mv("hot", balance.ReasonDrain),
		mv("cool", balance.ReasonCapacity), mv("hot", balance.ReasonCapacity), mv("new", balance.ReasonBalance)}
	isHot := func(mv balance.Move) bool { return mv.From.NodeID == "hot" || mv.From.NodeID == "new" }
	order := func(moves []balance.Move) (got []string) {
		for _, m := range moves {
			got = append(got, m.From.NodeID+"/"+m.Reason.String())
		}
		return got
	}
	moves, offHot := admissible(plan, isHot, nil)
	if want := []string{"hot/balance", "new/balance", "hot/capacity", "cool/balance", "cool/capacity"}; !slices.Equal(order(moves), want) || offHot != 3 {
		t.Fatalf("order %v (%d off hot nodes), want %v", order(moves), offHot, want)
	}
	// "hot" has a move under way off it: "new" goes first.
	moves, _ = admissible(plan, isHot, map[string]int{"hot": 1})
	if want := []string{"new/balance", "hot/balance", "hot/capacity", "cool/balance", "cool/capacity"}; !slices.Equal(order(moves), want) {
		t.Fatalf("with a move off hot under way: order %v, want %v", order(moves), want)
	}
	if moves, offHot := admissible(plan, nil, nil); len(moves) != 5 || offHot != 0 || moves[0].From.NodeID != "cool" {
		t.Fatalf("with no node hot, the plan's order: %v", moves)
	}
}

// A plan may move two replicas of a volume, the second onto what the
// first left (a zone it emptied); admitted alone, the second would break
// the spread (the admission refused it: "zone already holds a replica").
// Only a volume's first move in the plan is admissible, even when the
// second would be relief and the first routine.
func TestOnlyAVolumesFirstPlannedMoveIsAdmissible(t *testing.T) {
	plan := []balance.Move{
		{VolumeID: "v", ReplicaID: "r1", From: balance.Location{NodeID: "b1"}, To: balance.Location{NodeID: "d1"}, Reason: balance.ReasonBalance},
		{VolumeID: "w", ReplicaID: "w1", From: balance.Location{NodeID: "a1"}, To: balance.Location{NodeID: "c2"}, Reason: balance.ReasonBalance},
		{VolumeID: "v", ReplicaID: "r2", From: balance.Location{NodeID: "hot"}, To: balance.Location{NodeID: "b2"}, Reason: balance.ReasonBalance},
	}
	isHot := func(mv balance.Move) bool { return mv.From.NodeID == "hot" }
	moves, offHot := admissible(plan, isHot, nil)
	var got []string
	for _, m := range moves {
		got = append(got, m.ReplicaID)
	}
	if want := []string{"r1", "w1"}; !slices.Equal(got, want) || offHot != 0 {
		t.Fatalf("admissible %v (%d off hot nodes), want %v", got, offHot, want)
	}
}

// A balance move off a hotspot is recorded as shedding it.
func TestRebalanceMovesAreRecordedByKind(t *testing.T) {
	r := Rebalancer{IsHot: func(n string) bool { return n == "hot" || n == "stuck" },
		ReliefBar: func(n string) float64 { return map[string]float64{"stuck": 0.6}[n] }}
	for _, tc := range []struct {
		why           balance.Reason
		node          string
		before, after float64
		want          MoveKind
	}{
		{balance.ReasonBalance, "cool", 0.35, 0.3, MoveBalance},
		{balance.ReasonBalance, "hot", 0.9, 0.3, MoveHotspot},
		{balance.ReasonCapacity, "hot", 0.9, 0.3, MoveCapacity},
		// A hot node the plan leaves above the bar to clear (the default's
		// for "hot", its own for "stuck"), little less busy: the move is
		// routine.
		{balance.ReasonBalance, "hot", 0.8, balance.DefaultRelief, MoveBalance},
		{balance.ReasonBalance, "stuck", 0.7, 0.65, MoveBalance},
		{balance.ReasonBalance, "stuck", 0.7, 0.55, MoveHotspot},
		// Above the bar, but the plan takes a fifth of its load off: relief
		// too.
		{balance.ReasonBalance, "hot", 1.2, 0.95, MoveHotspot},
		{balance.ReasonBalance, "hot", 1.2, 0.97, MoveBalance},
	} {
		mv := balance.Move{Reason: tc.why, From: balance.Location{NodeID: tc.node}, SourceAfter: tc.after, SourceBefore: tc.before}
		if got := r.kind(mv); got != tc.want {
			t.Errorf("%v off %s, at %.2f after the plan: %v, want %v", tc.why, tc.node, tc.after, got, tc.want)
		}
	}
	if got := (Rebalancer{}).kind(balance.Move{Reason: balance.ReasonBalance, From: balance.Location{NodeID: "hot"}}); got != MoveBalance {
		t.Errorf("no hotspots known: %v", got)
	}
}
