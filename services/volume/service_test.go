package volume_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"ballast.dev/platform/command"
	"ballast.dev/platform/events"
	"ballast.dev/platform/natsconn"
	"ballast.dev/platform/natsserver/natstest"
	"ballast.dev/platform/waitfor"
	pb "ballast.dev/proto/ballast/v1"
	"ballast.dev/services/volume"
)

type env struct {
	t    *testing.T
	conn *natsconn.Conn
}

func start(t *testing.T) env {
	t.Helper()
	ctx := context.Background()
	conn, err := natsconn.Dial(ctx, natsconn.Options{URL: natstest.Start(t), Name: "test", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	svc, err := volume.Start(ctx, volume.Config{Conn: conn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return env{t: t, conn: conn}
}

func spec(replicas uint32) *pb.VolumeSpec {
	return &pb.VolumeSpec{Capacity: &pb.CapacityRange{RequiredBytes: 10 << 30}, Replicas: replicas, Tier: pb.Tier_TIER_SSD, Spread: pb.Spread_SPREAD_ZONE}
}

func (e env) create(name string, s *pb.VolumeSpec, requestID string) *pb.CommandReply {
	e.t.Helper()
	reply := &pb.CommandReply{}
	req := &pb.CreateVolumeRequest{Name: name, Spec: s, RequestId: requestID}
	if err := command.Request(context.Background(), e.conn.NC, command.VolumeCreate, req, reply); err != nil {
		e.t.Fatal(err)
	}
	return reply
}

func (e env) history(name string) []proto.Message {
	e.t.Helper()
	recs, _, err := e.conn.Store.Load(context.Background(), events.Volume.Stream, events.Volume.Subject(name))
	if err != nil {
		e.t.Fatal(err)
	}
	out := make([]proto.Message, len(recs))
	for i, r := range recs {
		if out[i], err = events.Decode(r.Type, r.Data); err != nil {
			e.t.Fatal(err)
		}
	}
	return out
}

func (e env) appendEvent(subject, id string, m proto.Message) {
	e.t.Helper()
	ev, err := events.Encode(id, m)
	if err != nil {
		e.t.Fatal(err)
	}
	_, last, err := e.conn.Store.Load(context.Background(), eventsStream(subject), subject)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.conn.Store.Append(context.Background(), subject, last, ev); err != nil {
		e.t.Fatal(err)
	}
}

func eventsStream(subject string) string {
	for _, a := range events.All {
		if strings.HasPrefix(subject, a.Subject("")) {
			return a.Stream
		}
	}
	panic("no stream for " + subject)
}

func waitHistory(t *testing.T, e env, name string, what string, cond func([]proto.Message) bool) []proto.Message {
	t.Helper()
	var h []proto.Message
	waitfor.Condition(t, 15*time.Second, what, func() bool {
		h = e.history(name)
		return cond(h)
	})
	return h
}

func last[T proto.Message](h []proto.Message) bool {
	if len(h) == 0 {
		return false
	}
	_, ok := h[len(h)-1].(T)
	return ok
}

func TestCreateIsIdempotentAndRefusesAnotherSpec(t *testing.T) {
	e := start(t)
	first := e.create("data", spec(3), "r1")
	if first.GetError() != nil || first.GetVolume().GetState() != pb.VolumeState_VOLUME_STATE_CREATING {
		t.Fatalf("create: %v", first)
	}
	again := e.create("data", spec(3), "r2")
	if again.GetError() != nil || again.GetVolume().GetId() != first.GetVolume().GetId() {
		t.Fatalf("same spec again: %v", again)
	}
	other := e.create("data", spec(2), "r3")
	if codes.Code(other.GetError().GetCode()) != codes.AlreadyExists {
		t.Fatalf("other spec: %v", other)
	}
	if h := e.history("data"); len(h) != 1 {
		t.Fatalf("history has %d events, want one VolumeRequested", len(h))
	}
}

func TestInvalidSpecNamesTheField(t *testing.T) {
	e := start(t)
	r := e.create("data", spec(7), "r1")
	if codes.Code(r.GetError().GetCode()) != codes.InvalidArgument || r.GetError().GetField() != "spec.replicas" {
		t.Fatalf("reply %v", r)
	}
	r = e.create("bad.name", spec(3), "r2")
	if codes.Code(r.GetError().GetCode()) != codes.InvalidArgument || r.GetError().GetField() != "name" {
		t.Fatalf("reply %v", r)
	}
}

func TestConcurrentCreatesOfOneNameMakeOneVolume(t *testing.T) {
	e := start(t)
	const clients = 32
	var wg sync.WaitGroup
	ids := make(chan string, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.create("contended", spec(3), fmt.Sprintf("req-%d", i))
			if r.GetError() != nil {
				t.Errorf("client %d: %v", i, r.GetError())
				return
			}
			ids <- r.GetVolume().GetId()
		}()
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		seen[id] = true
	}
	if len(seen) != 1 {
		t.Fatalf("%d volume ids handed out, want 1: %v", len(seen), seen)
	}
	if h := e.history("contended"); len(h) != 1 {
		t.Fatalf("history has %d events, want 1", len(h))
	}
}

func TestLifecycleFollowsPlacementAndAgents(t *testing.T) {
	e := start(t)
	v := e.create("data", spec(3), "r1").GetVolume()
	placements := []*pb.ReplicaPlacement{
		{ReplicaId: v.GetId() + "-0", NodeId: "n1", DiskId: "n1-d0", Zone: "a"},
		{ReplicaId: v.GetId() + "-1", NodeId: "n2", DiskId: "n2-d0", Zone: "b"},
		{ReplicaId: v.GetId() + "-2", NodeId: "n3", DiskId: "n3-d0", Zone: "c"},
	}
	e.appendEvent(events.Placement.Subject(v.GetId()), "p1", &pb.PlacementDecided{VolumeId: v.GetId(), VolumeName: "data", SizeBytes: v.GetSizeBytes(), Placements: placements})
	waitHistory(t, e, "data", "replicas assigned", last[*pb.ReplicasAssigned])
	for i, p := range placements {
		e.appendEvent(events.Node.Subject(p.GetNodeId()), fmt.Sprintf("n%d", i), &pb.ReplicaProvisioned{NodeId: p.GetNodeId(), ReplicaId: p.GetReplicaId(), VolumeId: v.GetId(), VolumeName: "data", DiskId: p.GetDiskId(), SizeBytes: v.GetSizeBytes()})
	}
	h := waitHistory(t, e, "data", "volume ready", last[*pb.VolumeReady])
	// Each replica is confirmed once: by a ReplicaConfirmed, or, for the
	// last one, by the VolumeReady that completes the set.
	confirmed := map[string]int{}
	for _, m := range h {
		switch m := m.(type) {
		case *pb.ReplicaConfirmed:
			confirmed[m.GetReplicaId()]++
		case *pb.VolumeReady:
			confirmed[m.GetReplicaId()]++
		}
	}
	for _, p := range placements {
		if confirmed[p.GetReplicaId()] != 1 {
			t.Fatalf("replica %s confirmed %d times: %v", p.GetReplicaId(), confirmed[p.GetReplicaId()], confirmed)
		}
	}

	// Delete: every replica must be removed before the volume is gone.
	reply := &pb.CommandReply{}
	if err := command.Request(context.Background(), e.conn.NC, command.VolumeDelete, &pb.DeleteVolumeRequest{Name: "data", RequestId: "d1"}, reply); err != nil || reply.GetError() != nil {
		t.Fatalf("delete: %v %v", err, reply.GetError())
	}
	if reply.GetVolume().GetState() != pb.VolumeState_VOLUME_STATE_DELETING {
		t.Fatalf("after delete: %v", reply.GetVolume().GetState())
	}
	for i, p := range placements {
		e.appendEvent(events.Node.Subject(p.GetNodeId()), fmt.Sprintf("d%d", i), &pb.ReplicaDeleted{NodeId: p.GetNodeId(), ReplicaId: p.GetReplicaId(), VolumeId: v.GetId(), VolumeName: "data"})
	}
	waitHistory(t, e, "data", "volume deleted", last[*pb.VolumeDeleted])
}

func TestPlacementFailureFailsTheVolumeWithTheReason(t *testing.T) {
	e := start(t)
	v := e.create("big", spec(3), "r1").GetVolume()
	e.appendEvent(events.Placement.Subject(v.GetId()), "p1", &pb.PlacementFailed{VolumeId: v.GetId(), VolumeName: "big", Reason: "need 3 zones; only 2 qualify"})
	h := waitHistory(t, e, "big", "volume failed", last[*pb.VolumeFailed])
	f := h[len(h)-1].(*pb.VolumeFailed)
	if codes.Code(f.GetCode()) != codes.ResourceExhausted || f.GetReason() != "need 3 zones; only 2 qualify" {
		t.Fatalf("failure %v", f)
	}
}

// A create of a FAILED volume's name starts a new incarnation and deletes the
// failed one in the same append, so that its replicas are removed and its
// reservations released. The create that failed, sent again, is answered
// with what it made.
func TestCreateOfAFailedNameStartsANewIncarnation(t *testing.T) {
	e := start(t)
	old := e.create("data", spec(3), "r1").GetVolume()
	placements := []*pb.ReplicaPlacement{
		{ReplicaId: old.GetId() + "-0", NodeId: "n1", DiskId: "n1-d0", Zone: "a"},
		{ReplicaId: old.GetId() + "-1", NodeId: "n2", DiskId: "n2-d0", Zone: "b"},
		{ReplicaId: old.GetId() + "-2", NodeId: "n3", DiskId: "n3-d0", Zone: "c"},
	}
	e.appendEvent(events.Placement.Subject(old.GetId()), "p1", &pb.PlacementDecided{VolumeId: old.GetId(), VolumeName: "data", SizeBytes: old.GetSizeBytes(), Placements: placements})
	waitHistory(t, e, "data", "replicas assigned", last[*pb.ReplicasAssigned])
	e.appendEvent(events.Node.Subject("n1"), "n1", &pb.ReplicaProvisioned{NodeId: "n1", ReplicaId: placements[0].GetReplicaId(), VolumeId: old.GetId(), VolumeName: "data", DiskId: "n1-d0", SizeBytes: old.GetSizeBytes()})
	waitHistory(t, e, "data", "replica confirmed", last[*pb.ReplicaConfirmed])
	e.appendEvent(events.Node.Subject("n2"), "n2", &pb.ReplicaProvisionFailed{NodeId: "n2", ReplicaId: placements[1].GetReplicaId(), VolumeId: old.GetId(), VolumeName: "data", DiskId: "n2-d0", Reason: "disk full"})
	failed := len(waitHistory(t, e, "data", "volume failed", last[*pb.VolumeFailed]))

	// The failed create sent again: the same request, answered as before.
	if again := e.create("data", spec(3), "r1"); again.GetError() != nil || again.GetVolume().GetId() != old.GetId() ||
		again.GetVolume().GetState() != pb.VolumeState_VOLUME_STATE_FAILED {
		t.Fatalf("the failed create resent: %v", again)
	}
	if h := e.history("data"); len(h) != failed {
		t.Fatalf("a resent create appended %d events", len(h)-failed)
	}

	fresh := e.create("data", spec(3), "r2")
	if fresh.GetError() != nil || fresh.GetVolume().GetId() == old.GetId() || fresh.GetVolume().GetState() != pb.VolumeState_VOLUME_STATE_CREATING {
		t.Fatalf("create of the failed name: %v", fresh)
	}
	h := e.history("data")[failed:]
	if len(h) != 3 {
		t.Fatalf("appended %v, want the failed incarnation's deletion and the new request", h)
	}
	dr, ok := h[0].(*pb.VolumeDeleteRequested)
	if !ok || dr.GetVolumeId() != old.GetId() || len(dr.GetReplicas()) != 3 {
		t.Fatalf("first %v, want the old incarnation's three replicas to remove", h[0])
	}
	if d, ok := h[1].(*pb.VolumeDeleted); !ok || d.GetVolumeId() != old.GetId() {
		t.Fatalf("second %v, want the old incarnation deleted", h[1])
	}
	if r, ok := h[2].(*pb.VolumeRequested); !ok || r.GetVolumeId() != fresh.GetVolume().GetId() {
		t.Fatalf("third %v, want the new incarnation", h[2])
	}
	// The old incarnation's replicas, removed late, change nothing.
	e.appendEvent(events.Node.Subject("n1"), "n1-del", &pb.ReplicaDeleted{NodeId: "n1", ReplicaId: placements[0].GetReplicaId(), VolumeId: old.GetId(), VolumeName: "data"})
	if again := e.create("data", spec(3), "r3"); again.GetVolume().GetId() != fresh.GetVolume().GetId() ||
		again.GetVolume().GetState() != pb.VolumeState_VOLUME_STATE_CREATING {
		t.Fatalf("after the old replica's removal: %v", again)
	}
}

func TestStaleReportsAboutAnEarlierIncarnationAreIgnored(t *testing.T) {
	e := start(t)
	old := e.create("data", spec(1), "r1").GetVolume()
	reply := &pb.CommandReply{}
	if err := command.Request(context.Background(), e.conn.NC, command.VolumeDelete, &pb.DeleteVolumeRequest{Name: "data", RequestId: "d1"}, reply); err != nil || reply.GetError() != nil {
		t.Fatalf("delete: %v %v", err, reply.GetError())
	}
	fresh := e.create("data", spec(1), "r2").GetVolume()
	if fresh.GetId() == old.GetId() {
		t.Fatal("re-created volume kept the old id")
	}
	e.appendEvent(events.Placement.Subject(old.GetId()), "p-old", &pb.PlacementDecided{VolumeId: old.GetId(), VolumeName: "data", SizeBytes: old.GetSizeBytes(),
		Placements: []*pb.ReplicaPlacement{{ReplicaId: "x", NodeId: "n1", DiskId: "d"}}})
	e.appendEvent(events.Placement.Subject(fresh.GetId()), "p-new", &pb.PlacementFailed{VolumeId: fresh.GetId(), VolumeName: "data", Reason: "short"})
	h := waitHistory(t, e, "data", "the new incarnation failed", last[*pb.VolumeFailed])
	for _, m := range h {
		if _, ok := m.(*pb.ReplicasAssigned); ok {
			t.Fatal("a placement of the old incarnation was applied to the new one")
		}
	}
}

// ready creates name with three replicas and brings it to READY as
// placement and the agents would; it returns the volume and its placements.
func (e env) ready(name string) (*pb.Volume, []*pb.ReplicaPlacement) {
	e.t.Helper()
	v := e.create(name, spec(3), "create-"+name).GetVolume()
	placements := []*pb.ReplicaPlacement{
		{ReplicaId: v.GetId() + "-0", NodeId: "n1", DiskId: "n1-d0", Zone: "a"},
		{ReplicaId: v.GetId() + "-1", NodeId: "n2", DiskId: "n2-d0", Zone: "b"},
		{ReplicaId: v.GetId() + "-2", NodeId: "n3", DiskId: "n3-d0", Zone: "c"},
	}
	e.appendEvent(events.Placement.Subject(v.GetId()), "place-"+name, &pb.PlacementDecided{VolumeId: v.GetId(), VolumeName: name, SizeBytes: v.GetSizeBytes(), Placements: placements})
	waitHistory(e.t, e, name, "replicas assigned", last[*pb.ReplicasAssigned])
	for _, p := range placements {
		e.appendEvent(events.Node.Subject(p.GetNodeId()), "provision-"+p.GetReplicaId(), &pb.ReplicaProvisioned{NodeId: p.GetNodeId(), ReplicaId: p.GetReplicaId(), VolumeId: v.GetId(), VolumeName: name, DiskId: p.GetDiskId(), SizeBytes: v.GetSizeBytes()})
	}
	waitHistory(e.t, e, name, "volume ready", last[*pb.VolumeReady])
	return v, placements
}

func (e env) resize(name string, required uint64, requestID string) *pb.CommandReply {
	e.t.Helper()
	reply := &pb.CommandReply{}
	req := &pb.ResizeVolumeRequest{Name: name, Capacity: &pb.CapacityRange{RequiredBytes: required}, RequestId: requestID}
	if err := command.Request(context.Background(), e.conn.NC, command.VolumeResize, req, reply); err != nil {
		e.t.Fatal(err)
	}
	return reply
}

// A resize is done when every replica has grown, not when placement
// approves it: the volume follows each agent's ReplicaExpanded.
func TestResizeIsDoneWhenEveryReplicaHasGrown(t *testing.T) {
	e := start(t)
	v, placements := e.ready("data")
	const bigger = 20 << 30
	if r := e.resize("data", bigger, "grow"); r.GetError() != nil || r.GetVolume().GetResizingToBytes() != bigger {
		t.Fatalf("resize: %v", r)
	}
	e.appendEvent(events.Placement.Subject(v.GetId()), "approve", &pb.ResizeApproved{VolumeId: v.GetId(), VolumeName: "data", SizeBytes: bigger})
	waitHistory(t, e, "data", "resize approved", last[*pb.VolumeResizeApproved])
	for i, p := range placements {
		e.appendEvent(events.Node.Subject(p.GetNodeId()), "expand-"+p.GetReplicaId(), &pb.ReplicaExpanded{NodeId: p.GetNodeId(), ReplicaId: p.GetReplicaId(), VolumeId: v.GetId(), VolumeName: "data", SizeBytes: bigger})
		if i == len(placements)-1 {
			break
		}
		h := waitHistory(t, e, "data", fmt.Sprintf("replica %d grown", i), func(h []proto.Message) bool {
			n := 0
			for _, m := range h {
				if _, ok := m.(*pb.ReplicaGrown); ok {
					n++
				}
			}
			return n == i+1
		})
		if g, ok := h[len(h)-1].(*pb.ReplicaGrown); !ok || g.GetReplicaId() != p.GetReplicaId() || g.GetSizeBytes() != bigger {
			t.Fatalf("recorded %v", g)
		}
		// Not done yet: the same resize asked again shows it on its way.
		if r := e.resize("data", bigger, fmt.Sprintf("ask-%d", i)); r.GetVolume().GetSizeBytes() != v.GetSizeBytes() || r.GetVolume().GetResizingToBytes() != bigger {
			t.Fatalf("after %d of 3 replicas grew: %v", i+1, r.GetVolume())
		}
	}
	h := waitHistory(t, e, "data", "volume resized", last[*pb.VolumeResized])
	if d := h[len(h)-1].(*pb.VolumeResized); d.GetSizeBytes() != bigger || d.GetReplicaId() != placements[2].GetReplicaId() {
		t.Fatalf("completion %v", d)
	}
	r := e.resize("data", bigger, "ask-done")
	if r.GetVolume().GetSizeBytes() != bigger || r.GetVolume().GetResizingToBytes() != 0 {
		t.Fatalf("after every replica grew: %v", r.GetVolume())
	}
	for _, rep := range r.GetVolume().GetReplicas() {
		if rep.GetSizeBytes() != bigger {
			t.Fatalf("replica %v", rep)
		}
	}
}

// A command on a name with no volume is NOT_FOUND spelled as the gateway's
// read model spells it, whichever answers.
func TestNotFoundIsSpelledOneWay(t *testing.T) {
	e := start(t)
	reply := &pb.CommandReply{}
	if err := command.Request(context.Background(), e.conn.NC, command.VolumeDelete, &pb.DeleteVolumeRequest{Name: "ghost", RequestId: "d1"}, reply); err != nil {
		t.Fatal(err)
	}
	if codes.Code(reply.GetError().GetCode()) != codes.NotFound || reply.GetError().GetMessage() != `volume "ghost" not found` {
		t.Fatalf("delete of an unknown volume: %v", reply.GetError())
	}
	if r := e.resize("ghost", 1<<30, "r1"); codes.Code(r.GetError().GetCode()) != codes.NotFound || r.GetError().GetMessage() != `volume "ghost" not found` {
		t.Fatalf("resize of an unknown volume: %v", r.GetError())
	}
}

// The volume service takes a command only with a request id the command
// protocol allows: every change's cause is built from it.
func TestRequestIDIsRequiredAndBounded(t *testing.T) {
	e := start(t)
	for _, id := range []string{"", "two words", strings.Repeat("r", 129), "a/b"} {
		r := e.create("data", spec(3), id)
		if codes.Code(r.GetError().GetCode()) != codes.InvalidArgument || r.GetError().GetField() != "request_id" {
			t.Fatalf("request id %q: %v", id, r)
		}
		if r := e.resize("data", 1<<30, id); r.GetError().GetField() != "request_id" {
			t.Fatalf("resize with request id %q: %v", id, r)
		}
	}
	if h := e.history("data"); len(h) != 0 {
		t.Fatalf("history %v", h)
	}
}
