package volume_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"ballast.dev/platform/command"
	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
	pb "ballast.dev/proto/ballast/v1"
	"ballast.dev/services/volume"
)

// appendRaw appends a stored event as is, after the subject's last.
func (e env) appendRaw(name string, ev eventstore.Event) uint64 {
	e.t.Helper()
	subject := events.Volume.Subject(name)
	_, last, err := e.conn.Store.Load(context.Background(), events.Volume.Stream, subject)
	if err != nil {
		e.t.Fatal(err)
	}
	seq, err := e.conn.Store.Append(context.Background(), subject, last, ev)
	if err != nil {
		e.t.Fatal(err)
	}
	return seq
}

func (e env) send(subject string, req proto.Message) *pb.CommandReply {
	e.t.Helper()
	reply := &pb.CommandReply{}
	if err := command.Request(context.Background(), e.conn.NC, subject, req, reply); err != nil {
		e.t.Fatal(err)
	}
	return reply
}

// An event of a type this version does not know, and one that names
// another volume than its subject, are passed over: the volume still takes
// commands.
func TestUnknownAndForgedEventsDoNotBrickAVolume(t *testing.T) {
	e := start(t)
	if r := e.create("data", spec(3), "c1"); r.GetError() != nil {
		t.Fatal(r)
	}
	e.appendRaw("data", eventstore.Event{Type: "ballast.v2.VolumeTeleported", Data: []byte{0x0a, 0x01, 0x78}, ID: "future"})
	forged, err := events.Encode("forged", &pb.VolumeDeleted{VolumeId: "x", VolumeName: "other"})
	if err != nil {
		t.Fatal(err)
	}
	e.appendRaw("data", forged)
	r := e.send(command.VolumeDelete, &pb.DeleteVolumeRequest{Name: "data", RequestId: "d1"})
	if r.GetError() != nil {
		t.Fatalf("delete after an unknown and a forged event: %v", r.GetError())
	}
	if s := r.GetVolume().GetState(); s != pb.VolumeState_VOLUME_STATE_DELETED && s != pb.VolumeState_VOLUME_STATE_DELETING {
		t.Fatalf("after delete: %v", r.GetVolume())
	}
	counts := events.SkippedCounts()
	if counts["unknown type: ballast.v2.VolumeTeleported"] == 0 || counts["subject mismatch: ballast.v1.VolumeDeleted"] == 0 {
		t.Fatalf("skipped events not counted: %v", counts)
	}
}

// An event that cannot be decoded damages its own volume, not another: the
// volume refuses changes naming the sequence, and a repair makes it whole.
func TestACorruptEventIsRepaired(t *testing.T) {
	e := start(t)
	if r := e.create("data", spec(3), "c1"); r.GetError() != nil {
		t.Fatal(r)
	}
	if r := e.create("other", spec(3), "c2"); r.GetError() != nil {
		t.Fatal(r)
	}
	bad := e.appendRaw("data", eventstore.Event{Type: "ballast.v1.VolumeResized", Data: []byte{0xff, 0xff, 0xff}, ID: "garbage"})
	for _, r := range []*pb.CommandReply{
		// The delete's append finds the history moved on and reloads it;
		// from then on every command sees the damage.
		e.send(command.VolumeDelete, &pb.DeleteVolumeRequest{Name: "data", RequestId: "d1"}),
		e.create("data", spec(3), "c3"),
		e.send(command.VolumeResize, &pb.ResizeVolumeRequest{Name: "data", Capacity: &pb.CapacityRange{RequiredBytes: 20 << 30}, RequestId: "r1"}),
	} {
		ce := r.GetError()
		if codes.Code(ce.GetCode()) != codes.FailedPrecondition || !strings.Contains(ce.GetMessage(), "sequence "+strconv.FormatUint(bad, 10)) ||
			!strings.Contains(ce.GetMessage(), "ballast volume repair data") {
			t.Fatalf("command on a damaged volume: %v", ce)
		}
	}
	// Another volume is untouched.
	if r := e.send(command.VolumeDelete, &pb.DeleteVolumeRequest{Name: "other", RequestId: "d2"}); r.GetError() != nil {
		t.Fatalf("delete of another volume: %v", r.GetError())
	}

	r := e.send(command.VolumeRepair, &pb.RepairVolumeRequest{Name: "data", RequestId: "fix1"})
	if r.GetError() != nil || len(r.GetSkippedSequences()) != 1 || r.GetSkippedSequences()[0] != bad {
		t.Fatalf("repair: %v", r)
	}
	if v := r.GetVolume(); v.GetName() != "data" || v.GetState() != pb.VolumeState_VOLUME_STATE_CREATING || v.GetSpec().GetReplicas() != 3 {
		t.Fatalf("repaired volume %v", v)
	}
	// Whole again: a second repair has nothing to do, and the volume takes
	// commands.
	if r := e.send(command.VolumeRepair, &pb.RepairVolumeRequest{Name: "data", RequestId: "fix2"}); r.GetError() != nil || len(r.GetSkippedSequences()) != 0 {
		t.Fatalf("second repair: %v", r)
	}
	if r := e.send(command.VolumeDelete, &pb.DeleteVolumeRequest{Name: "data", RequestId: "d3"}); r.GetError() != nil {
		t.Fatalf("delete after repair: %v", r.GetError())
	}
}

// A command resent with its request id after it was applied (its reply was
// lost) gets the outcome, not a refusal: a delete that already completed is
// not NOT_FOUND to the caller who asked for it.
func TestAResentCommandIsAppliedOnce(t *testing.T) {
	e := start(t)
	if r := e.create("data", spec(3), "c1"); r.GetError() != nil {
		t.Fatal(r)
	}
	first := e.send(command.VolumeDelete, &pb.DeleteVolumeRequest{Name: "data", RequestId: "d1"})
	again := e.send(command.VolumeDelete, &pb.DeleteVolumeRequest{Name: "data", RequestId: "d1"})
	if first.GetError() != nil || again.GetError() != nil || again.GetVolume().GetId() != first.GetVolume().GetId() {
		t.Fatalf("first %v, again %v", first, again)
	}
	other := e.send(command.VolumeDelete, &pb.DeleteVolumeRequest{Name: "data", RequestId: "d2"})
	if codes.Code(other.GetError().GetCode()) != codes.NotFound {
		t.Fatalf("a new delete of a deleted volume: %v", other)
	}
}

// A create of a name the service has not seen since it started is tried as
// new, and the log's answer (the name has a history) is what decides: the
// same spec is the same volume, another is ALREADY_EXISTS.
func TestACreateOfAKnownNameAfterARestart(t *testing.T) {
	e := start(t)
	first := e.create("data", spec(3), "c1")
	if first.GetError() != nil {
		t.Fatal(first)
	}
	svc, err := volume.Start(context.Background(), volume.Config{Conn: e.conn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	// Two services serve now; each command reaches one of them, so ask a
	// few times: whichever answers must know the volume.
	for i := range 8 {
		again := e.create("data", spec(3), fmt.Sprintf("again-%d", i))
		if again.GetError() != nil || again.GetVolume().GetId() != first.GetVolume().GetId() {
			t.Fatalf("same spec again: %v", again)
		}
		other := e.create("data", spec(2), fmt.Sprintf("other-%d", i))
		if codes.Code(other.GetError().GetCode()) != codes.AlreadyExists {
			t.Fatalf("another spec: %v", other)
		}
	}
	if h := e.history("data"); len(h) != 1 {
		t.Fatalf("history has %d events, want one VolumeRequested", len(h))
	}
}

// A create sent again after its first attempt was stored but not answered,
// to a service that has not seen the volume, gets the volume the log holds:
// not a second id decided by the resend, which later events would carry
// and every reader would ignore.
func TestAResentCreateGetsTheVolumeTheLogHolds(t *testing.T) {
	e := start(t)
	first := e.create("data", spec(3), "c1")
	if first.GetError() != nil {
		t.Fatal(first)
	}
	// A service that has not seen the volume answers the resend: start
	// another, and ask often enough that it answers some.
	svc, err := volume.Start(context.Background(), volume.Config{Conn: e.conn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	for range 8 {
		if again := e.create("data", spec(3), "c1"); again.GetVolume().GetId() != first.GetVolume().GetId() {
			t.Fatalf("resent create answered volume %q; the log holds %q", again.GetVolume().GetId(), first.GetVolume().GetId())
		}
	}
	e.send(command.VolumeDelete, &pb.DeleteVolumeRequest{Name: "data", RequestId: "d1"})
	h := e.history("data")
	if del, ok := h[len(h)-1].(*pb.VolumeDeleted); !ok || del.GetVolumeId() != first.GetVolume().GetId() {
		t.Fatalf("the delete recorded %v; the volume is %q", h[len(h)-1], first.GetVolume().GetId())
	}
}
