package domain

import (
	"errors"
	"testing"
)

// must fails the test on a refusal, and returns what was decided.
func must(t *testing.T) func([]Event, error) []Event {
	return func(events []Event, err error) []Event {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return events
	}
}

func roles(v *Volume) map[string]Role {
	out := map[string]Role{}
	for _, r := range v.Replicas() {
		out[r.ID] = r.Role
	}
	return out
}

var r4 = Replica{ID: "r4", NodeID: "n4", DiskID: "n4-d0", Zone: "d"}

// addFilled adds r4 as rebuilding and has its agent provision it.
func addFilled(t *testing.T, v *Volume) {
	t.Helper()
	apply(v, must(t)(v.AddReplica(r4, v.Generation(), "m1", t0)))
	apply(v, v.ConfirmReplica("r4", "n4", t0))
}

func TestAPlacedVolumeIsAtGenerationOneWithHealthyReplicas(t *testing.T) {
	v := mustReady(t)
	if v.Generation() != 1 || v.Healthy() != 3 || v.Changing() {
		t.Fatalf("generation %d, healthy %d, changing %v", v.Generation(), v.Healthy(), v.Changing())
	}
	for id, r := range roles(v) {
		if r != RoleHealthy {
			t.Errorf("replica %s is %s", id, r)
		}
	}
}

func TestAMoveAddsBeforeItRemovesAndBumpsTheGenerationAtEveryChange(t *testing.T) {
	v := mustReady(t)
	addFilled(t, v)
	if v.Generation() != 2 || roles(v)["r4"] != RoleRebuilding || v.Healthy() != 3 || v.State() != StateReady {
		t.Fatalf("after add: generation %d, roles %v, healthy %d, %s", v.Generation(), roles(v), v.Healthy(), v.State())
	}
	if _, err := v.RequestResize(CapacityRange{RequiredBytes: 20 * GiB}, t0); !errors.Is(err, ErrFailedPrecondition) {
		t.Errorf("resize during a move: %v, want failed precondition", err)
	}
	apply(v, must(t)(v.PromoteReplica("r4", "r1", 2, "m1", t0)))
	if v.Generation() != 3 || roles(v)["r4"] != RoleHealthy || roles(v)["r1"] != RoleLeaving || v.Healthy() != 3 {
		t.Fatalf("after cut-over: generation %d, roles %v, healthy %d", v.Generation(), roles(v), v.Healthy())
	}
	// The agent removes the source: it leaves the set.
	apply(v, v.ConfirmRemoved("r1", "n1", t0))
	if _, ok := v.replica("r1"); ok || len(v.Replicas()) != 3 || v.Generation() != 3 || v.Changing() {
		t.Fatalf("after removal: %+v, generation %d", v.Replicas(), v.Generation())
	}
}

func TestAChangeDecidedOnAnotherGenerationIsRefusedAndAResendIsNot(t *testing.T) {
	v := mustReady(t)
	addFilled(t, v)
	// A stale actor, deciding on generation 1, is fenced.
	if _, err := v.RetireReplica("r2", "stale", 1, "m0", t0); !errors.Is(err, ErrFailedPrecondition) {
		t.Fatalf("stale retire: %v", err)
	}
	if _, err := v.AddReplica(Replica{ID: "r5", NodeID: "n5", DiskID: "n5-d0"}, 1, "m0", t0); !errors.Is(err, ErrFailedPrecondition) {
		t.Fatalf("stale add: %v", err)
	}
	// The add resent, with the generation it was decided on, is answered
	// as done; so is the promotion once made.
	if got := must(t)(v.AddReplica(r4, 1, "m1", t0)); len(got) != 0 {
		t.Fatalf("resent add decided %v", got)
	}
	apply(v, must(t)(v.PromoteReplica("r4", "r1", 2, "m1", t0)))
	if got := must(t)(v.PromoteReplica("r4", "r1", 2, "m1", t0)); len(got) != 0 {
		t.Fatalf("resent promotion decided %v", got)
	}
}

func TestAHealthyReplicaGoesOnlyIfTheVolumeKeepsItsReplicaCount(t *testing.T) {
	v := mustReady(t)
	if _, err := v.RetireReplica("r1", "spare", 1, "", t0); !errors.Is(err, ErrFailedPrecondition) {
		t.Fatalf("retire of one of three healthy replicas of a 3-replica volume: %v", err)
	}
	// A rebuilding replica does not count until promoted.
	addFilled(t, v)
	if _, err := v.RetireReplica("r1", "spare", 2, "", t0); !errors.Is(err, ErrFailedPrecondition) {
		t.Fatalf("retire with the fourth replica still rebuilding: %v", err)
	}
	// A move rolled back lets the rebuilding replica go.
	apply(v, must(t)(v.RetireReplica("r4", "move cancelled", 2, "m1", t0)))
	if roles(v)["r4"] != RoleLeaving || v.Healthy() != 3 {
		t.Fatalf("roles %v", roles(v))
	}
	apply(v, v.ConfirmRemoved("r4", "n4", t0))
	if len(v.Replicas()) != 3 {
		t.Fatalf("replicas %+v", v.Replicas())
	}
}

func TestALostReplicaDegradesTheVolumeUntilAReplacementIsPromoted(t *testing.T) {
	v := mustReady(t)
	apply(v, must(t)(v.LoseReplica("r2", "node n2 is down", 0, t0)))
	if v.State() != StateDegraded || v.Healthy() != 2 || roles(v)["r2"] != RoleLost || v.Generation() != 2 {
		t.Fatalf("after loss: %s, healthy %d, roles %v, generation %d", v.State(), v.Healthy(), roles(v), v.Generation())
	}
	if got := must(t)(v.LoseReplica("r2", "again", 0, t0)); len(got) != 0 {
		t.Fatalf("a replica lost twice: %v", got)
	}
	if _, err := v.RequestResize(CapacityRange{RequiredBytes: 20 * GiB}, t0); !errors.Is(err, ErrFailedPrecondition) {
		t.Errorf("resize of a degraded volume: %v", err)
	}
	addFilled(t, v)
	if v.State() != StateDegraded {
		t.Fatalf("a rebuilding replica repaired the volume: %s", v.State())
	}
	apply(v, must(t)(v.PromoteReplica("r4", "r2", 3, "m1", t0)))
	if v.State() != StateReady || v.Healthy() != 3 || roles(v)["r2"] != RoleLeaving {
		t.Fatalf("after repair: %s, healthy %d, roles %v", v.State(), v.Healthy(), roles(v))
	}
}

func TestAReplicaThatCannotBeProvisionedFailsItsMoveNotTheVolume(t *testing.T) {
	v := mustReady(t)
	apply(v, must(t)(v.AddReplica(r4, 1, "m1", t0)))
	apply(v, v.FailReplica("r4", "n4", "disk full", t0))
	if v.State() != StateReady {
		t.Fatalf("state %s", v.State())
	}
	if _, err := v.PromoteReplica("r4", "r1", 2, "m1", t0); !errors.Is(err, ErrFailedPrecondition) {
		t.Fatalf("promotion of a replica never provisioned: %v", err)
	}
}

func TestAddRefusesWhatWouldBreakTheSet(t *testing.T) {
	cases := []struct {
		name string
		r    Replica
		want error
	}{
		{"a node holding a replica already", Replica{ID: "r9", NodeID: "n1", DiskID: "n1-d1"}, ErrFailedPrecondition},
		{"an id in use", Replica{ID: "r1", NodeID: "n9", DiskID: "n9-d0"}, ErrAlreadyExists},
		{"no disk", Replica{ID: "r9", NodeID: "n9"}, ErrInvalidArgument},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := mustReady(t)
			if _, err := v.AddReplica(c.r, 1, "", t0); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	t.Run("a creating volume", func(t *testing.T) {
		v := mustCreate(t)
		if _, err := v.AddReplica(r4, 0, "", t0); !errors.Is(err, ErrFailedPrecondition) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("more spares than a volume may hold", func(t *testing.T) {
		v := mustReady(t)
		for i, n := range []string{"n4", "n5", "n6"} {
			apply(v, must(t)(v.AddReplica(Replica{ID: "s" + n, NodeID: n, DiskID: n + "-d0"}, uint64(i+1), "", t0)))
		}
		if _, err := v.AddReplica(Replica{ID: "s7", NodeID: "n7", DiskID: "n7-d0"}, 4, "", t0); !errors.Is(err, ErrFailedPrecondition) {
			t.Fatalf("a seventh replica of a 3-replica volume: %v", err)
		}
	})
}

func TestADeletedVolumesReplicaSetDoesNotChange(t *testing.T) {
	v := mustReady(t)
	apply(v, must(t)(v.AddReplica(r4, 1, "m1", t0)))
	apply(v, must(t)(v.RequestDelete(t0)))
	// The rebuilding replica is removed with the rest.
	for _, r := range v.Replicas() {
		if r.State != ReplicaStateRemoving {
			t.Errorf("replica %s is %v while the volume is deleted", r.ID, r.State)
		}
	}
	if _, err := v.PromoteReplica("r4", "r1", 2, "m1", t0); !errors.Is(err, ErrFailedPrecondition) {
		t.Fatalf("promotion in a deleting volume: %v", err)
	}
}

func TestReplicaSetChangesSurviveARepair(t *testing.T) {
	v := mustReady(t)
	addFilled(t, v)
	f := v.Fields()
	w := Restore(f)
	if w.Generation() != 2 || roles(w)["r4"] != RoleRebuilding || w.State() != StateReady {
		t.Fatalf("restored: generation %d, roles %v, %s", w.Generation(), roles(w), w.State())
	}
}
