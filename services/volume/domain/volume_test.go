package domain

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func spec3() Spec {
	return Spec{Capacity: CapacityRange{RequiredBytes: 10 * GiB}, Replicas: 3, Tier: TierSSD, Spread: SpreadZone}
}

func apply(v *Volume, events []Event) *Volume {
	for _, e := range events {
		v.Apply(e)
	}
	return v
}

func mustCreate(t *testing.T) *Volume {
	t.Helper()
	v := &Volume{}
	events, err := v.Create("id-1", "data", spec3(), t0)
	if err != nil {
		t.Fatal(err)
	}
	return apply(v, events)
}

func threeReplicas() []Replica {
	return []Replica{
		{ID: "r1", NodeID: "n1", DiskID: "n1-d0", Zone: "a"},
		{ID: "r2", NodeID: "n2", DiskID: "n2-d0", Zone: "b"},
		{ID: "r3", NodeID: "n3", DiskID: "n3-d0", Zone: "c"},
	}
}

func mustReady(t *testing.T) *Volume {
	t.Helper()
	v := mustCreate(t)
	apply(v, v.AssignReplicas(10*GiB, threeReplicas(), t0))
	for _, r := range threeReplicas() {
		apply(v, v.ConfirmReplica(r.ID, r.NodeID, t0))
	}
	if v.State() != StateReady {
		t.Fatalf("state %s, want ready", v.State())
	}
	return v
}

func TestSpecValidateNamesTheField(t *testing.T) {
	cases := []struct {
		name  string
		mod   func(*Spec)
		field string
	}{
		{"zero replicas", func(s *Spec) { s.Replicas = 0 }, "spec.replicas"},
		{"six replicas", func(s *Spec) { s.Replicas = 6 }, "spec.replicas"},
		{"no tier", func(s *Spec) { s.Tier = 0 }, "spec.tier"},
		{"no spread", func(s *Spec) { s.Spread = 0 }, "spec.spread"},
		{"required over limit", func(s *Spec) { s.Capacity = CapacityRange{RequiredBytes: 2 * GiB, LimitBytes: GiB} }, "spec.capacity"},
		{"too large", func(s *Spec) { s.Capacity = CapacityRange{RequiredBytes: 65 * TiB} }, "spec.capacity"},
		// Sizes that would wrap around when rounded up to whole MiB.
		{"largest uint64", func(s *Spec) { s.Capacity = CapacityRange{RequiredBytes: math.MaxUint64} }, "spec.capacity"},
		{"one MiB short of 2^64", func(s *Spec) { s.Capacity = CapacityRange{RequiredBytes: math.MaxUint64 - MiB + 2} }, "spec.capacity"},
		{"wrapping limit and required", func(s *Spec) {
			s.Capacity = CapacityRange{RequiredBytes: math.MaxUint64 - 5, LimitBytes: math.MaxUint64}
		}, "spec.capacity"},
		{"bad label key", func(s *Spec) { s.Labels = map[string]string{"-x": "y"} }, "spec.labels"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := spec3()
			c.mod(&s)
			_, err := s.Validate()
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != c.field {
				t.Fatalf("err = %v, want field %s", err, c.field)
			}
			if !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("err %v is not ErrInvalidArgument", err)
			}
		})
	}
}

func TestCapacityResolve(t *testing.T) {
	cases := []struct {
		in   CapacityRange
		want uint64
		err  bool
	}{
		{CapacityRange{}, DefaultSizeBytes, false},
		{CapacityRange{LimitBytes: 100 * MiB}, 100 * MiB, false},
		{CapacityRange{RequiredBytes: 1}, MiB, false},
		{CapacityRange{RequiredBytes: 10 * GiB}, 10 * GiB, false},
		{CapacityRange{RequiredBytes: MiB + 1, LimitBytes: 2 * MiB}, 2 * MiB, false},
		{CapacityRange{RequiredBytes: MiB + 1, LimitBytes: MiB + 2}, 0, true},
		{CapacityRange{RequiredBytes: 3, LimitBytes: 2}, 0, true},
		{CapacityRange{RequiredBytes: MaxSizeBytes}, MaxSizeBytes, false},
		{CapacityRange{RequiredBytes: MaxSizeBytes + 1}, 0, true},
		{CapacityRange{RequiredBytes: math.MaxUint64}, 0, true},
		{CapacityRange{RequiredBytes: math.MaxUint64 - MiB + 1}, 0, true},
		{CapacityRange{LimitBytes: math.MaxUint64}, DefaultSizeBytes, false},
		{CapacityRange{RequiredBytes: 1, LimitBytes: math.MaxUint64}, MiB, false},
	}
	for _, c := range cases {
		got, err := c.in.Resolve()
		if (err != nil) != c.err || got != c.want {
			t.Errorf("Resolve(%+v) = %d, %v; want %d, err %v", c.in, got, err, c.want, c.err)
		}
	}
}

// Messages count bytes as bytes, show exact bytes beside a rounded size, and
// spell NOT_FOUND one way: as the gateway's read model does.
func TestMessages(t *testing.T) {
	long := strings.Repeat("é", 65) // 65 characters, 130 bytes
	if err := ValidateName(long); err == nil || !strings.Contains(err.Error(), "is 130 bytes long; at most 128 bytes") {
		t.Errorf("long name: %v", err)
	}
	for _, c := range []struct {
		n    uint64
		want string
	}{
		{0, "0 B"},
		{1, "1 B"},
		{10 * GiB, "10 GiB"},
		{1536 * MiB, "1.5 GiB"},
		{19074 * MiB, "18.6 GiB (20000538624 bytes)"},
		{MaxSizeBytes, "64 TiB"},
		{math.MaxUint64, "16.0 EiB (18446744073709551615 bytes)"},
	} {
		if got := formatBytes(c.n); got != c.want {
			t.Errorf("formatBytes(%d) = %q, want %q", c.n, got, c.want)
		}
	}

	v := mustReady(t)
	apply(v, mustEvents(v.RequestResize(CapacityRange{RequiredBytes: 20_000_000_000}, t0)))
	apply(v, v.ApproveResize(19074*MiB, t0))
	for _, r := range threeReplicas() {
		apply(v, v.GrowReplica(r.ID, r.NodeID, 19074*MiB, t0))
	}
	_, err := v.RequestResize(CapacityRange{RequiredBytes: 10 * GiB, LimitBytes: 10 * GiB}, t0)
	if err == nil || !strings.Contains(err.Error(), "volumes only grow: 10 GiB is less than the current 18.6 GiB (20000538624 bytes)") {
		t.Errorf("shrink: %v", err)
	}
	other := spec3()
	other.Replicas = 1
	if _, err := v.Create("id-2", "data", other, t0); err == nil || !strings.Contains(err.Error(), "(18.6 GiB (20000538624 bytes), 3 replicas") {
		t.Errorf("conflicting create: %v", err)
	}

	ghost := Replay("ghost", nil)
	_, resizeErr := ghost.RequestResize(CapacityRange{RequiredBytes: GiB}, t0)
	_, deleteErr := ghost.RequestDelete(t0)
	for _, err := range []error{resizeErr, deleteErr} {
		if !errors.Is(err, ErrNotFound) || err.Error() != `volume "ghost" not found` {
			t.Errorf("unknown volume: %v, want volume \"ghost\" not found", err)
		}
	}
}

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"data", "pvc-0f3a", "sanity-Node-Full_1"} {
		if err := ValidateName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a.b", "a b", "-a", "a>", strings.Repeat("x", 129)} {
		if err := ValidateName(bad); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%q: err %v, want invalid argument", bad, err)
		}
	}
}

func TestCreateIsIdempotentByName(t *testing.T) {
	v := mustCreate(t)
	events, err := v.Create("id-2", "data", spec3(), t0)
	if err != nil || len(events) != 0 {
		t.Fatalf("same spec: events %v err %v; want none", events, err)
	}
	other := spec3()
	other.Replicas = 2
	if _, err := v.Create("id-2", "data", other, t0); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("other spec: err %v, want already exists", err)
	}
	// A range that the existing size satisfies is the same intent (CSI).
	ranged := spec3()
	ranged.Capacity = CapacityRange{RequiredBytes: 5 * GiB, LimitBytes: 20 * GiB}
	if events, err := v.Create("id-2", "data", ranged, t0); err != nil || len(events) != 0 {
		t.Fatalf("compatible range: events %v err %v", events, err)
	}
}

func TestLifecycleToReady(t *testing.T) {
	v := mustCreate(t)
	if v.State() != StateCreating || v.ID() != "id-1" || v.SizeBytes() != 10*GiB {
		t.Fatalf("after create: %s %s %d", v.State(), v.ID(), v.SizeBytes())
	}
	apply(v, v.AssignReplicas(10*GiB, threeReplicas(), t0))
	if again := v.AssignReplicas(10*GiB, threeReplicas(), t0); again != nil {
		t.Fatalf("second assignment not ignored: %v", again)
	}
	if e := v.ConfirmReplica("r1", "n1", t0); len(e) != 1 {
		t.Fatalf("first confirm: %v", e)
	} else {
		apply(v, e)
	}
	if e := v.ConfirmReplica("r1", "n1", t0); e != nil {
		t.Fatalf("duplicate confirm not ignored: %v", e)
	}
	apply(v, v.ConfirmReplica("r2", "n2", t0))
	if v.State() != StateCreating {
		t.Fatal("ready before every replica was confirmed")
	}
	last := v.ConfirmReplica("r3", "n3", t0)
	if ready, ok := last[0].(Ready); len(last) != 1 || !ok || ready.ReplicaID != "r3" {
		t.Fatalf("last confirm: %v, want one Ready carrying r3", last)
	}
	if apply(v, last).State() != StateReady {
		t.Fatalf("state %s", v.State())
	}
	for _, r := range v.Replicas() {
		if r.State != ReplicaStateReady {
			t.Fatalf("replica %s is %v after ready", r.ID, r.State)
		}
	}
}

func TestPlacementFailure(t *testing.T) {
	v := mustCreate(t)
	apply(v, v.FailPlacement("need 3 zones; only 2 qualify", t0))
	kind, reason := v.Failure()
	if v.State() != StateFailed || kind != FailureNoCapacity || !strings.Contains(reason, "only 2") {
		t.Fatalf("%s %v %q", v.State(), kind, reason)
	}
}

func TestReplicaFailureFailsCreation(t *testing.T) {
	v := mustCreate(t)
	apply(v, v.AssignReplicas(10*GiB, threeReplicas(), t0))
	apply(v, v.FailReplica("r2", "n2", "disk full", t0))
	if _, reason := v.Failure(); v.State() != StateFailed || !strings.Contains(reason, "n2") {
		t.Fatalf("%s %q", v.State(), reason)
	}
}

func TestResize(t *testing.T) {
	v := mustReady(t)
	if _, err := v.RequestResize(CapacityRange{RequiredBytes: 5 * GiB}, t0); err != nil {
		// 5 GiB is satisfied by 10 GiB: nothing to do, not an error.
		t.Fatalf("smaller required: %v", err)
	}
	if _, err := v.RequestResize(CapacityRange{RequiredBytes: 1 * GiB, LimitBytes: 5 * GiB}, t0); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("shrink: %v, want invalid argument", err)
	}
	events, err := v.RequestResize(CapacityRange{RequiredBytes: 20 * GiB}, t0)
	if err != nil || len(events) != 1 {
		t.Fatalf("grow: %v %v", events, err)
	}
	apply(v, events)
	if again, err := v.RequestResize(CapacityRange{RequiredBytes: 20 * GiB}, t0); err != nil || again != nil {
		t.Fatalf("retry of the same resize: %v %v", again, err)
	}
	if _, err := v.RequestResize(CapacityRange{RequiredBytes: 30 * GiB}, t0); !errors.Is(err, ErrFailedPrecondition) {
		t.Fatalf("second resize while one runs: %v", err)
	}
	apply(v, v.ApproveResize(20*GiB, t0))
	for _, r := range threeReplicas() {
		apply(v, v.GrowReplica(r.ID, r.NodeID, 20*GiB, t0))
	}
	if v.SizeBytes() != 20*GiB || v.ResizingTo() != 0 {
		t.Fatalf("after resize: %d, resizing to %d", v.SizeBytes(), v.ResizingTo())
	}
	// A rejected resize leaves the size and records why.
	apply(v, mustEvents(v.RequestResize(CapacityRange{RequiredBytes: 40 * GiB}, t0)))
	apply(v, v.RejectResize(40*GiB, "disk n2-d0 has 5 GiB free", t0))
	if v.SizeBytes() != 20*GiB || v.ResizeFailure() == "" {
		t.Fatalf("after rejection: %d %q", v.SizeBytes(), v.ResizeFailure())
	}
}

// Placement's approval does not finish a resize: the agents grow the
// replicas, and the volume has its new size when the last one has grown.
func TestResizeIsDoneWhenEveryReplicaHasGrown(t *testing.T) {
	v := mustReady(t)
	apply(v, mustEvents(v.RequestResize(CapacityRange{RequiredBytes: 20 * GiB}, t0)))
	approved := v.ApproveResize(20*GiB, t0)
	if a, ok := approved[0].(ResizeApproved); len(approved) != 1 || !ok || a.SizeBytes != 20*GiB {
		t.Fatalf("approval: %v, want one ResizeApproved", approved)
	}
	apply(v, approved)
	if again := v.ApproveResize(20*GiB, t0); again != nil {
		t.Fatalf("a second approval was recorded: %v", again)
	}
	if v.SizeBytes() != 10*GiB || v.ResizingTo() != 20*GiB {
		t.Fatalf("after approval: size %d, resizing to %d; want 10 GiB, resizing to 20 GiB", v.SizeBytes(), v.ResizingTo())
	}
	done := false
	for _, c := range []struct {
		replica, node string
		size          uint64
		want          string // the event type decided, "" for none
	}{
		{"r1", "n1", 15 * GiB, ""}, // not grown far enough
		{"r1", "n1", 20 * GiB, "ReplicaGrown"},
		{"r1", "n1", 20 * GiB, ""}, // a report seen again
		{"rx", "n9", 20 * GiB, ""}, // no such replica
		{"r2", "n2", 20 * GiB, "ReplicaGrown"},
		{"r3", "n3", 20 * GiB, "Resized"},
		{"r3", "n3", 20 * GiB, ""},
	} {
		events := v.GrowReplica(c.replica, c.node, c.size, t0)
		got := ""
		if len(events) == 1 {
			got = strings.TrimPrefix(fmt.Sprintf("%T", events[0]), "domain.")
		}
		if got != c.want || len(events) > 1 {
			t.Fatalf("%s on %s grown to %d: %v, want %q", c.replica, c.node, c.size, events, c.want)
		}
		if !done && v.SizeBytes() != 10*GiB {
			t.Fatalf("size %d before every replica grew", v.SizeBytes())
		}
		if c.want == "Resized" {
			if d := events[0].(Resized); d.SizeBytes != 20*GiB || d.ReplicaID != "r3" || d.NodeID != "n3" {
				t.Fatalf("completion %+v, want 20 GiB carrying r3 on n3", d)
			}
			done = true
		}
		apply(v, events)
	}
	if v.SizeBytes() != 20*GiB || v.ResizingTo() != 0 || v.Spec().Capacity.RequiredBytes != 20*GiB {
		t.Fatalf("after every replica grew: size %d, resizing to %d, spec %+v", v.SizeBytes(), v.ResizingTo(), v.Spec().Capacity)
	}
	for _, r := range v.Replicas() {
		if r.SizeBytes != 20*GiB {
			t.Fatalf("replica %s is %d bytes", r.ID, r.SizeBytes)
		}
	}
}

// A size that is not a whole MiB is rounded up, as CSI drivers round up to
// their allocation unit, and the spec records what was asked: asking the
// same again is satisfied, not a shrink.
func TestResizeRoundsUpAndRecordsWhatWasAsked(t *testing.T) {
	const gb20 = 20_000_000_000
	v := mustReady(t)
	events, err := v.RequestResize(CapacityRange{RequiredBytes: gb20}, t0)
	if err != nil || len(events) != 1 {
		t.Fatalf("resize to 20 GB: %v %v", events, err)
	}
	rr := events[0].(ResizeRequested)
	if rr.SizeBytes != 19074*MiB || rr.Capacity != (CapacityRange{RequiredBytes: gb20}) {
		t.Fatalf("requested %+v, want 19074 MiB asked as 20 GB", rr)
	}
	apply(v, events)
	apply(v, v.ApproveResize(19074*MiB, t0))
	var last []Event
	for _, r := range threeReplicas() {
		last = v.GrowReplica(r.ID, r.NodeID, 19074*MiB, t0)
		apply(v, last)
	}
	if d, ok := last[0].(Resized); !ok || d.Capacity != (CapacityRange{RequiredBytes: gb20}) {
		t.Fatalf("completion %v, want it to carry the range asked", last)
	}
	if v.SizeBytes() != 19074*MiB || v.Spec().Capacity != (CapacityRange{RequiredBytes: gb20}) {
		t.Fatalf("size %d, spec %+v", v.SizeBytes(), v.Spec().Capacity)
	}
	if again, err := v.RequestResize(CapacityRange{RequiredBytes: gb20}, t0); err != nil || again != nil {
		t.Fatalf("the same size again: %v %v", again, err)
	}
}

// Logs written before the volume followed each replica's growth have
// VolumeResized at placement's approval: it still means the volume grew.
func TestAnOldResizeHistoryStillReads(t *testing.T) {
	v := Replay("data", []Event{
		Requested{ID: "id-1", Name: "data", Spec: spec3(), SizeBytes: 10 * GiB, At: t0},
		ReplicasAssigned{SizeBytes: 10 * GiB, Replicas: threeReplicas(), At: t0},
		Ready{ReplicaID: "r3", NodeID: "n3", At: t0},
		ResizeRequested{SizeBytes: 20 * GiB, At: t0},
		Resized{SizeBytes: 20 * GiB, At: t0},
	})
	if v.SizeBytes() != 20*GiB || v.ResizingTo() != 0 || v.State() != StateReady || v.Spec().Capacity != (CapacityRange{RequiredBytes: 20 * GiB}) {
		t.Fatalf("size %d, resizing to %d, %s, spec %+v", v.SizeBytes(), v.ResizingTo(), v.State(), v.Spec().Capacity)
	}
	for _, r := range v.Replicas() {
		if r.SizeBytes != 20*GiB {
			t.Fatalf("replica %s is %d bytes", r.ID, r.SizeBytes)
		}
	}
	// Agents that grow a replica after it change nothing.
	if e := v.GrowReplica("r1", "n1", 20*GiB, t0); e != nil {
		t.Fatalf("late growth recorded: %v", e)
	}
}

// A resize names the field of ResizeVolumeRequest at fault, capacity, and
// refuses a size that would wrap around when rounded up rather than reading
// it as a shrink to 0 B.
func TestResizeRefusesImpossibleSizesNamingCapacity(t *testing.T) {
	cases := []struct {
		name string
		c    CapacityRange
		not  string
	}{
		{"largest uint64", CapacityRange{RequiredBytes: math.MaxUint64}, "only grow"},
		{"just under 2^64", CapacityRange{RequiredBytes: math.MaxUint64 - MiB + 2}, "only grow"},
		{"past the largest volume", CapacityRange{RequiredBytes: 65 * TiB}, "only grow"},
		{"required over limit", CapacityRange{RequiredBytes: 30 * GiB, LimitBytes: 20 * GiB}, "only grow"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := mustReady(t)
			events, err := v.RequestResize(c.c, t0)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != "capacity" || events != nil {
				t.Fatalf("events %v, err %v; want an invalid argument naming capacity", events, err)
			}
			if strings.Contains(err.Error(), c.not) || strings.Contains(err.Error(), "spec.") {
				t.Fatalf("err %q", err)
			}
		})
	}
}

func mustEvents(e []Event, err error) []Event {
	if err != nil {
		panic(err)
	}
	return e
}

func TestDeleteRemovesEveryReplica(t *testing.T) {
	v := mustReady(t)
	events, err := v.RequestDelete(t0)
	if err != nil || len(events) != 1 {
		t.Fatalf("%v %v", events, err)
	}
	if got := len(events[0].(DeleteRequested).Replicas); got != 3 {
		t.Fatalf("delete lists %d replicas, want 3", got)
	}
	apply(v, events)
	if again, err := v.RequestDelete(t0); err != nil || again != nil {
		t.Fatalf("retried delete: %v %v", again, err)
	}
	if _, err := v.RequestResize(CapacityRange{RequiredBytes: 20 * GiB}, t0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("resize while deleting: %v", err)
	}
	apply(v, v.ConfirmRemoved("r1", "n1", t0))
	apply(v, v.ConfirmRemoved("r2", "n2", t0))
	if v.State() != StateDeleting {
		t.Fatal("deleted before every replica was removed")
	}
	last := v.ConfirmRemoved("r3", "n3", t0)
	if d, ok := last[0].(Deleted); len(last) != 1 || !ok || d.ReplicaID != "r3" {
		t.Fatalf("last removal: %v, want one Deleted carrying r3", last)
	}
	apply(v, last)
	if v.State() != StateDeleted || v.Live() {
		t.Fatalf("state %s", v.State())
	}
	if _, err := v.RequestDelete(t0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete of deleted: %v", err)
	}
}

func TestDeleteOfUnplacedVolumeIsImmediate(t *testing.T) {
	v := mustCreate(t)
	events, err := v.RequestDelete(t0)
	if _, ok := events[0].(Deleted); err != nil || len(events) != 1 || !ok {
		t.Fatalf("%v %v, want one Deleted", events, err)
	}
	if apply(v, events).State() != StateDeleted {
		t.Fatal("not deleted")
	}
	// A placement that arrives after the delete is ignored.
	if e := v.AssignReplicas(10*GiB, threeReplicas(), t0); e != nil {
		t.Fatalf("late placement applied: %v", e)
	}
}

// A FAILED volume does not hold its name: a create of it, with the same spec
// or another, starts a new incarnation, as CSI's retries of a failed
// CreateVolume expect. The failed incarnation is deleted in the same append,
// first: its replicas are to be removed (agents act on DeleteRequested) and
// its reservations released (placement acts on Deleted).
func TestCreateOfAFailedNameIsANewIncarnation(t *testing.T) {
	cases := []struct {
		name    string
		fail    func(v *Volume)
		removed []string
	}{
		{"no placement", func(v *Volume) { apply(v, v.FailPlacement("need 3 zones; only 2 qualify", t0)) }, nil},
		{"a replica failed", func(v *Volume) {
			apply(v, v.AssignReplicas(10*GiB, threeReplicas(), t0))
			apply(v, v.ConfirmReplica("r1", "n1", t0))
			apply(v, v.FailReplica("r2", "n2", "disk full", t0))
		}, []string{"r1", "r2", "r3"}},
	}
	other := spec3()
	other.Replicas = 2
	for _, c := range cases {
		for _, s := range []Spec{spec3(), other} {
			t.Run(fmt.Sprintf("%s, %d replicas", c.name, s.Replicas), func(t *testing.T) {
				v := mustCreate(t)
				c.fail(v)
				if v.State() != StateFailed {
					t.Fatalf("state %s, want failed", v.State())
				}
				events, err := v.Create("id-2", "data", s, t0)
				if err != nil || len(events) == 0 {
					t.Fatalf("events %v, err %v; want a new incarnation", events, err)
				}
				var removed []string
				if len(c.removed) > 0 {
					dr, ok := events[0].(DeleteRequested)
					if !ok {
						t.Fatalf("events %v: want DeleteRequested first", events)
					}
					for _, r := range dr.Replicas {
						removed = append(removed, r.ID)
					}
					events = events[1:]
				}
				if !slices.Equal(removed, c.removed) {
					t.Fatalf("replicas to remove %v, want %v", removed, c.removed)
				}
				if len(events) != 2 {
					t.Fatalf("events %v: want Deleted, Requested", events)
				}
				if _, ok := events[0].(Deleted); !ok {
					t.Fatalf("events %v: want Deleted", events)
				}
				if r, ok := events[1].(Requested); !ok || r.ID != "id-2" || r.Spec.Replicas != s.Replicas {
					t.Fatalf("events %v: want Requested of id-2", events)
				}
				apply(v, events)
				if v.ID() != "id-2" || v.State() != StateCreating || len(v.Replicas()) != 0 {
					t.Fatalf("new incarnation: %s %s %d replicas", v.ID(), v.State(), len(v.Replicas()))
				}
				if kind, reason := v.Failure(); kind != 0 || reason != "" {
					t.Fatalf("new incarnation kept the failure %v %q", kind, reason)
				}
			})
		}
	}
}

func TestCreateAgainAfterDeleteIsANewIncarnation(t *testing.T) {
	v := mustCreate(t)
	apply(v, mustEvents(v.RequestDelete(t0)))
	events, err := v.Create("id-2", "data", spec3(), t0)
	if err != nil || len(events) != 1 {
		t.Fatalf("%v %v", events, err)
	}
	if apply(v, events).ID() != "id-2" || v.State() != StateCreating || len(v.Replicas()) != 0 {
		t.Fatalf("new incarnation: %s %s %d replicas", v.ID(), v.State(), len(v.Replicas()))
	}
}

func TestADamagedVolumeRefusesChangesUntilRepaired(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	spec := Spec{Capacity: CapacityRange{RequiredBytes: GiB}, Replicas: 1, Tier: TierSSD, Spread: SpreadZone}
	v := Replay("db", []Event{
		Requested{ID: "v1", Name: "db", Spec: spec, SizeBytes: GiB, At: now},
		ReplicasAssigned{SizeBytes: GiB, Replicas: []Replica{{ID: "r1", NodeID: "n1", DiskID: "d1", Zone: "z1"}}, At: now},
		Ready{ReplicaID: "r1", NodeID: "n1", At: now},
	})
	v.SetUnreadable([]Unreadable{{Sequence: 42, Reason: "decode ballast.v1.VolumeResized: bad wire format"}})
	for name, decide := range map[string]func() ([]Event, error){
		"create": func() ([]Event, error) { return v.Create("v2", "db", spec, now) },
		"resize": func() ([]Event, error) { return v.RequestResize(CapacityRange{RequiredBytes: 2 * GiB}, now) },
		"delete": func() ([]Event, error) { return v.RequestDelete(now) },
	} {
		_, err := decide()
		var de *DamagedError
		if !errors.As(err, &de) || !errors.Is(err, ErrFailedPrecondition) {
			t.Fatalf("%s of a damaged volume: %v", name, err)
		}
		if msg := err.Error(); !strings.Contains(msg, "sequence 42") || !strings.Contains(msg, "ballast volume repair db") {
			t.Fatalf("%s: %q names neither the sequence nor the way out", name, msg)
		}
	}
	evs := v.Repair("db", now)
	if len(evs) != 1 {
		t.Fatalf("repair decided %v", evs)
	}
	rep := evs[0].(Repaired)
	if len(rep.Skipped) != 1 || rep.Skipped[0] != 42 || rep.Volume.State != StateReady || rep.Volume.Name != "db" {
		t.Fatalf("repair %+v", rep)
	}
	// The repaired history folds from the repair on: the volume is whole
	// again, and can be changed.
	fixed := Replay("db", []Event{rep})
	if fixed.Damaged() != nil || fixed.State() != StateReady || len(fixed.Replicas()) != 1 || fixed.ID() != "v1" {
		t.Fatalf("repaired volume %+v", fixed.Fields())
	}
	if _, err := fixed.RequestDelete(now); err != nil {
		t.Fatalf("delete after repair: %v", err)
	}
	if evs := fixed.Repair("db", now); len(evs) != 0 {
		t.Fatalf("a whole volume repaired again: %v", evs)
	}
}
