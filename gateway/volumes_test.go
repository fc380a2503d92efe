package gateway_test

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"ballast.dev/platform/events"
	snapshots "ballast.dev/platform/snapshot"
	ballastv1 "ballast.dev/proto/ballast/v1"
)

func wantCode(t *testing.T, err error, code codes.Code, inMsg string) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("got %v, want code %v", err, code)
	}
	if !strings.Contains(status.Convert(err).Message(), inMsg) {
		t.Fatalf("message %q does not mention %q", status.Convert(err).Message(), inMsg)
	}
}

func (e *env) get(nameOrID string) *ballastv1.Volume {
	e.t.Helper()
	resp, err := e.volumes.GetVolume(testCtx(e.t), &ballastv1.GetVolumeRequest{Name: nameOrID})
	if err != nil {
		e.t.Fatalf("get %s: %v", nameOrID, err)
	}
	return resp.GetVolume()
}

func replicaStates(v *ballastv1.Volume) []ballastv1.ReplicaState {
	var s []ballastv1.ReplicaState
	for _, r := range v.GetReplicas() {
		s = append(s, r.GetState())
	}
	return s
}

// Every read below comes right after an append, with no wait: the gateway's
// reads are linearizable, so each must already see the event.
func TestVolumeLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const name, id = "db-1", "vol-1"

	seq := e.log.volume(name, requested(id, name, 1<<30, 0))
	v := e.get(name)
	if v.GetId() != id || v.GetState() != ballastv1.VolumeState_VOLUME_STATE_CREATING || v.GetVersion() != seq ||
		v.GetSizeBytes() != 1<<30 || !v.GetCreateTime().AsTime().Equal(epoch) || v.GetSpec().GetReplicas() != 3 {
		t.Fatalf("after request: %v", v)
	}
	if !proto.Equal(e.get(id), v) {
		t.Fatal("get by id differs from get by name")
	}

	e.log.volume(name, &ballastv1.ReplicasAssigned{VolumeId: id, VolumeName: name, SizeBytes: 1 << 30, Replicas: replicas(3), OccurTime: at(1)})
	if s := replicaStates(e.get(name)); len(s) != 3 || s[0] != ballastv1.ReplicaState_REPLICA_STATE_PENDING {
		t.Fatalf("after assign: %v", s)
	}
	for i := range 3 {
		e.log.volume(name, &ballastv1.ReplicaConfirmed{VolumeId: id, VolumeName: name, ReplicaId: fmt.Sprintf("r%d", i), OccurTime: at(2 + i)})
	}
	seq = e.log.volume(name, &ballastv1.VolumeReady{VolumeId: id, VolumeName: name, OccurTime: at(5)})
	v = e.get(name)
	if v.GetState() != ballastv1.VolumeState_VOLUME_STATE_READY || v.GetVersion() != seq || !v.GetUpdateTime().AsTime().Equal(at(5).AsTime()) {
		t.Fatalf("after ready: %v", v)
	}
	for _, s := range replicaStates(v) {
		if s != ballastv1.ReplicaState_REPLICA_STATE_READY {
			t.Fatalf("replica not ready: %v", v)
		}
	}

	e.log.volume(name, &ballastv1.VolumeResizeRequested{VolumeId: id, VolumeName: name, SizeBytes: 2 << 30, OccurTime: at(6)})
	if v := e.get(name); v.GetResizingToBytes() != 2<<30 || v.GetSizeBytes() != 1<<30 {
		t.Fatalf("after resize request: %v", v)
	}
	e.log.volume(name, &ballastv1.VolumeResized{VolumeId: id, VolumeName: name, SizeBytes: 2 << 30, OccurTime: at(7)})
	if v := e.get(name); v.GetResizingToBytes() != 0 || v.GetSizeBytes() != 2<<30 || v.GetSpec().GetCapacity().GetRequiredBytes() != 2<<30 {
		t.Fatalf("after resize: %v", v)
	}

	e.log.volume(name, &ballastv1.VolumeDeleteRequested{VolumeId: id, VolumeName: name, Replicas: replicas(3), OccurTime: at(8)})
	v = e.get(name)
	if v.GetState() != ballastv1.VolumeState_VOLUME_STATE_DELETING || replicaStates(v)[0] != ballastv1.ReplicaState_REPLICA_STATE_REMOVING {
		t.Fatalf("after delete request: %v", v)
	}
	e.log.volume(name, &ballastv1.ReplicaRemoved{VolumeId: id, VolumeName: name, ReplicaId: "r1", OccurTime: at(9)})
	if s := replicaStates(e.get(name)); s[1] != ballastv1.ReplicaState_REPLICA_STATE_REMOVED || s[0] != ballastv1.ReplicaState_REPLICA_STATE_REMOVING {
		t.Fatalf("after replica removed: %v", s)
	}
	list, err := e.volumes.ListVolumes(testCtx(t), &ballastv1.ListVolumesRequest{})
	if err != nil || len(list.GetVolumes()) != 1 || list.GetTotalSize() != 1 {
		t.Fatalf("list while deleting: %v %v", list, err)
	}

	e.log.volume(name, &ballastv1.VolumeDeleted{VolumeId: id, VolumeName: name, OccurTime: at(10)})
	_, err = e.volumes.GetVolume(testCtx(t), &ballastv1.GetVolumeRequest{Name: name})
	wantCode(t, err, codes.NotFound, name)
	_, err = e.volumes.GetVolume(testCtx(t), &ballastv1.GetVolumeRequest{Name: id})
	wantCode(t, err, codes.NotFound, id)
	list, err = e.volumes.ListVolumes(testCtx(t), &ballastv1.ListVolumesRequest{})
	if err != nil || len(list.GetVolumes()) != 0 || list.GetTotalSize() != 0 {
		t.Fatalf("list after delete: %v %v", list, err)
	}

	// The name is free again: a new incarnation with a new id.
	e.log.volume(name, requested("vol-2", name, 1<<20, 11))
	if v := e.get(name); v.GetId() != "vol-2" || v.GetState() != ballastv1.VolumeState_VOLUME_STATE_CREATING || len(v.GetReplicas()) != 0 {
		t.Fatalf("new incarnation: %v", v)
	}
	// Late events of the old incarnation change nothing.
	e.log.volume(name, &ballastv1.VolumeReady{VolumeId: id, VolumeName: name, OccurTime: at(12)})
	if v := e.get(name); v.GetState() != ballastv1.VolumeState_VOLUME_STATE_CREATING {
		t.Fatalf("old incarnation's event applied to the new one: %v", v)
	}
}

func TestFailedVolume(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.log.volume("f", requested("vf", "f", 1<<20, 0))
	e.log.volume("f", &ballastv1.ReplicasAssigned{VolumeId: "vf", Replicas: replicas(2), OccurTime: at(1)})
	e.log.volume("f", &ballastv1.ReplicaFailed{VolumeId: "vf", ReplicaId: "r0", Reason: "disk full", OccurTime: at(2)})
	e.log.volume("f", &ballastv1.VolumeFailed{VolumeId: "vf", Code: int32(codes.ResourceExhausted), Reason: "no capacity", OccurTime: at(3)})
	v := e.get("f")
	if v.GetState() != ballastv1.VolumeState_VOLUME_STATE_FAILED || v.GetFailureCode() != int32(codes.ResourceExhausted) ||
		v.GetFailureReason() != "no capacity" || v.GetReplicas()[0].GetFailureReason() != "disk full" ||
		v.GetReplicas()[0].GetState() != ballastv1.ReplicaState_REPLICA_STATE_FAILED {
		t.Fatalf("failed volume: %v", v)
	}
	// A create of the failed name, as the volume service records it: the
	// failed incarnation deleted, then the new one requested. A watcher of
	// the failed one sees it end; the name shows the new one.
	stream, err := e.volumes.WatchVolume(testCtx(t), &ballastv1.WatchVolumeRequest{Name: "f"})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := stream.Recv(); err != nil || resp.GetVolume().GetState() != ballastv1.VolumeState_VOLUME_STATE_FAILED {
		t.Fatalf("watch of the failed volume: %v %v", resp, err)
	}
	e.log.volume("f", &ballastv1.VolumeDeleteRequested{VolumeId: "vf", VolumeName: "f", Replicas: replicas(2), OccurTime: at(4)})
	e.log.volume("f", &ballastv1.VolumeDeleted{VolumeId: "vf", VolumeName: "f", OccurTime: at(4)})
	e.log.volume("f", requested("vf2", "f", 1<<20, 4))
	var lastSeen *ballastv1.Volume
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		lastSeen = resp.GetVolume()
	}
	if lastSeen.GetId() != "vf" || lastSeen.GetState() != ballastv1.VolumeState_VOLUME_STATE_DELETED {
		t.Fatalf("the failed incarnation's watch ended with %v", lastSeen)
	}
	if v := e.get("f"); v.GetId() != "vf2" || v.GetState() != ballastv1.VolumeState_VOLUME_STATE_CREATING || len(v.GetReplicas()) != 0 || v.GetFailureReason() != "" {
		t.Fatalf("new incarnation: %v", v)
	}
	_, err = e.volumes.GetVolume(testCtx(t), &ballastv1.GetVolumeRequest{Name: "vf"})
	wantCode(t, err, codes.NotFound, "vf")
	if list, err := e.volumes.ListVolumes(testCtx(t), &ballastv1.ListVolumesRequest{}); err != nil || list.GetTotalSize() != 1 {
		t.Fatalf("list: %v %v", list, err)
	}

	// A log with no deletion between (not one the volume service writes)
	// still shows the newest incarnation.
	e.log.volume("f", &ballastv1.VolumeFailed{VolumeId: "vf2", Code: int32(codes.ResourceExhausted), Reason: "no capacity", OccurTime: at(5)})
	e.log.volume("f", requested("vf3", "f", 1<<20, 6))
	if v := e.get("f"); v.GetId() != "vf3" {
		t.Fatalf("re-request: %v", v)
	}
	_, err = e.volumes.GetVolume(testCtx(t), &ballastv1.GetVolumeRequest{Name: "vf2"})
	wantCode(t, err, codes.NotFound, "vf2")
}

// A resize shows each replica's growth, and the volume's new size only once
// every replica has grown; an older log's VolumeResized alone still grows
// the volume and all its replicas.
func TestResizeFollowsEveryReplica(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sizes := func(v *ballastv1.Volume) []uint64 {
		var out []uint64
		for _, r := range v.GetReplicas() {
			out = append(out, r.GetSizeBytes())
		}
		return out
	}
	for _, name := range []string{"new", "old"} {
		id := "id-" + name
		e.log.volume(name, requested(id, name, 1<<30, 0))
		e.log.volume(name, &ballastv1.ReplicasAssigned{VolumeId: id, VolumeName: name, SizeBytes: 1 << 30, Replicas: replicas(3), OccurTime: at(1)})
		e.log.volume(name, &ballastv1.VolumeReady{VolumeId: id, VolumeName: name, ReplicaId: "r2", OccurTime: at(2)})
		if got := sizes(e.get(name)); !slices.Equal(got, []uint64{1 << 30, 1 << 30, 1 << 30}) {
			t.Fatalf("%s: replica sizes %v after assignment", name, got)
		}
		e.log.volume(name, &ballastv1.VolumeResizeRequested{VolumeId: id, VolumeName: name, SizeBytes: 2 << 30, OccurTime: at(3)})
	}

	e.log.volume("new", &ballastv1.VolumeResizeApproved{VolumeId: "id-new", VolumeName: "new", SizeBytes: 2 << 30, OccurTime: at(4)})
	e.log.volume("new", &ballastv1.ReplicaGrown{VolumeId: "id-new", VolumeName: "new", ReplicaId: "r1", NodeId: "n1", SizeBytes: 2 << 30, OccurTime: at(5)})
	v := e.get("new")
	if v.GetSizeBytes() != 1<<30 || v.GetResizingToBytes() != 2<<30 || !slices.Equal(sizes(v), []uint64{1 << 30, 2 << 30, 1 << 30}) {
		t.Fatalf("one replica grown: size %d, resizing to %d, replicas %v", v.GetSizeBytes(), v.GetResizingToBytes(), sizes(v))
	}
	e.log.volume("new", &ballastv1.ReplicaGrown{VolumeId: "id-new", VolumeName: "new", ReplicaId: "r0", NodeId: "n0", SizeBytes: 2 << 30, OccurTime: at(6)})
	e.log.volume("new", &ballastv1.VolumeResized{VolumeId: "id-new", VolumeName: "new", SizeBytes: 2 << 30, ReplicaId: "r2", NodeId: "n2", OccurTime: at(7),
		Capacity: &ballastv1.CapacityRange{RequiredBytes: 2_000_000_000}})
	e.log.volume("old", &ballastv1.VolumeResized{VolumeId: "id-old", VolumeName: "old", SizeBytes: 2 << 30, OccurTime: at(4)})
	for _, name := range []string{"new", "old"} {
		v := e.get(name)
		if v.GetSizeBytes() != 2<<30 || v.GetResizingToBytes() != 0 || !slices.Equal(sizes(v), []uint64{2 << 30, 2 << 30, 2 << 30}) {
			t.Fatalf("%s resized: size %d, resizing to %d, replicas %v", name, v.GetSizeBytes(), v.GetResizingToBytes(), sizes(v))
		}
	}
	// The spec asks for what the resize asked for; an older log's resize
	// recorded none, and it asks for the size.
	if c := e.get("new").GetSpec().GetCapacity(); c.GetRequiredBytes() != 2_000_000_000 {
		t.Fatalf("new spec capacity %v, want what was asked", c)
	}
	if c := e.get("old").GetSpec().GetCapacity(); c.GetRequiredBytes() != 2<<30 {
		t.Fatalf("old spec capacity %v, want the size", c)
	}
}

// NOT_FOUND reads `volume "x" not found` whoever answers: the read model for
// a get, or a resize or delete resolved through it.
func TestNotFoundIsSpelledOneWay(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const want = `volume "ghost" not found`
	_, getErr := e.volumes.GetVolume(testCtx(t), &ballastv1.GetVolumeRequest{Name: "ghost"})
	_, resizeErr := e.volumes.ResizeVolume(testCtx(t), &ballastv1.ResizeVolumeRequest{Name: "ghost", Capacity: &ballastv1.CapacityRange{RequiredBytes: 1}})
	_, deleteErr := e.volumes.DeleteVolume(testCtx(t), &ballastv1.DeleteVolumeRequest{Name: "ghost"})
	for _, err := range []error{getErr, resizeErr, deleteErr} {
		if status.Code(err) != codes.NotFound || status.Convert(err).Message() != want {
			t.Errorf("got %v, want NOT_FOUND %s", err, want)
		}
	}
}

func TestLinearizableRead(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.log.volume("lin", requested("lin-id", "lin", 1<<20, 0))
	for i := range 50 {
		seq := e.log.volume("lin", &ballastv1.VolumeResizeRequested{VolumeId: "lin-id", SizeBytes: uint64(i + 2), OccurTime: at(i)})
		if v := e.get("lin"); v.GetVersion() != seq || v.GetResizingToBytes() != uint64(i+2) {
			t.Fatalf("read %d saw version %d, want %d", i, v.GetVersion(), seq)
		}
	}
}

func TestRebuildAfterRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := range 20 {
		name := fmt.Sprintf("vol-%02d", i)
		e.log.volume(name, requested("id-"+name, name, 1<<20, i))
		e.log.volume(name, &ballastv1.ReplicasAssigned{VolumeId: "id-" + name, Replicas: replicas(3), OccurTime: at(i)})
		if i%3 == 0 {
			e.log.volume(name, &ballastv1.VolumeReady{VolumeId: "id-" + name, OccurTime: at(i + 1)})
		}
		if i%5 == 0 {
			e.log.volume(name, &ballastv1.VolumeDeleted{VolumeId: "id-" + name, OccurTime: at(i + 2)})
		}
	}
	seedNodes(e)
	before := snapshot(t, e)
	e.restart()
	after := snapshot(t, e)
	if !proto.Equal(before.volumes, after.volumes) || !proto.Equal(before.nodes, after.nodes) {
		t.Fatalf("rebuilt read models differ:\nbefore %v\nafter  %v", before, after)
	}
	if len(after.volumes.GetVolumes()) != 16 || len(after.nodes.GetNodes()) != 2 {
		t.Fatalf("unexpected contents: %v", after)
	}
}

type snap struct {
	volumes *ballastv1.ListVolumesResponse
	nodes   *ballastv1.ListNodesResponse
}

func snapshot(t *testing.T, e *env) snap {
	t.Helper()
	vols, err := e.volumes.ListVolumes(testCtx(t), &ballastv1.ListVolumesRequest{PageSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := e.nodes.ListNodes(testCtx(t), &ballastv1.ListNodesRequest{PageSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return snap{vols, nodes}
}

func TestListPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const n = 250
	for i := range n {
		name := fmt.Sprintf("v%03d", n-1-i) // appended out of name order
		e.log.volume(name, requested("id-"+name, name, 1<<20, i))
	}
	var names []string
	token := ""
	pages := 0
	for {
		resp, err := e.volumes.ListVolumes(testCtx(t), &ballastv1.ListVolumesRequest{PageSize: 100, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if resp.GetTotalSize() != n {
			t.Fatalf("total_size %d", resp.GetTotalSize())
		}
		for _, v := range resp.GetVolumes() {
			names = append(names, v.GetName())
		}
		token = resp.GetNextPageToken()
		if token == "" {
			break
		}
	}
	if pages != 3 || len(names) != n {
		t.Fatalf("%d pages, %d volumes", pages, len(names))
	}
	for i, name := range names {
		if want := fmt.Sprintf("v%03d", i); name != want {
			t.Fatalf("volume %d is %s, want %s", i, name, want)
		}
	}

	resp, err := e.volumes.ListVolumes(testCtx(t), &ballastv1.ListVolumesRequest{})
	if err != nil || len(resp.GetVolumes()) != 100 {
		t.Fatalf("default page: %d %v", len(resp.GetVolumes()), err)
	}
	resp, err = e.volumes.ListVolumes(testCtx(t), &ballastv1.ListVolumesRequest{PageSize: 5000})
	if err != nil || len(resp.GetVolumes()) != n || resp.GetNextPageToken() != "" {
		t.Fatalf("big page: %d %v", len(resp.GetVolumes()), err)
	}
	for _, bad := range []string{"!!!", "bm9kZTp4"} { // not base64; a node token
		_, err = e.volumes.ListVolumes(testCtx(t), &ballastv1.ListVolumesRequest{PageToken: bad})
		wantCode(t, err, codes.InvalidArgument, "page_token")
	}
	_, err = e.volumes.ListVolumes(testCtx(t), &ballastv1.ListVolumesRequest{PageSize: -1})
	wantCode(t, err, codes.InvalidArgument, "page_size")
}

func TestWatchVolume(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const name, id = "w", "w-id"
	e.log.volume(name, requested(id, name, 1<<20, 0))
	stream, err := e.volumes.WatchVolume(testCtx(t), &ballastv1.WatchVolumeRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	recv := func(want ballastv1.VolumeState, version uint64) {
		t.Helper()
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if v := resp.GetVolume(); v.GetState() != want || (version != 0 && v.GetVersion() != version) {
			t.Fatalf("watch got %v, want %v at version %d", v, want, version)
		}
	}
	recv(ballastv1.VolumeState_VOLUME_STATE_CREATING, 0)
	// One change at a time, each awaited, so that none is coalesced.
	steps := []struct {
		m    proto.Message
		want ballastv1.VolumeState
	}{
		{&ballastv1.ReplicasAssigned{VolumeId: id, Replicas: replicas(1), OccurTime: at(1)}, ballastv1.VolumeState_VOLUME_STATE_CREATING},
		{&ballastv1.ReplicaConfirmed{VolumeId: id, ReplicaId: "r0", OccurTime: at(2)}, ballastv1.VolumeState_VOLUME_STATE_CREATING},
		{&ballastv1.VolumeReady{VolumeId: id, OccurTime: at(3)}, ballastv1.VolumeState_VOLUME_STATE_READY},
		{&ballastv1.VolumeDeleteRequested{VolumeId: id, Replicas: replicas(1), OccurTime: at(4)}, ballastv1.VolumeState_VOLUME_STATE_DELETING},
		{&ballastv1.ReplicaRemoved{VolumeId: id, ReplicaId: "r0", OccurTime: at(5)}, ballastv1.VolumeState_VOLUME_STATE_DELETING},
		{&ballastv1.VolumeDeleted{VolumeId: id, OccurTime: at(6)}, ballastv1.VolumeState_VOLUME_STATE_DELETED},
	}
	for _, s := range steps {
		recv(s.want, e.log.volume(name, s.m))
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("watch did not end after deletion: %v", err)
	}

	_, err = recvFirst(e, "nope")
	wantCode(t, err, codes.NotFound, "nope")
}

// A volume deleted and created again in a burst ends the watch of the old
// incarnation with DELETED, whatever the watcher missed in between.
func TestWatchVolumeBurst(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.log.volume("b", requested("b1", "b", 1<<20, 0))
	stream, err := e.volumes.WatchVolume(testCtx(t), &ballastv1.WatchVolumeRequest{Name: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	e.log.volume("b", &ballastv1.VolumeDeleteRequested{VolumeId: "b1", OccurTime: at(1)})
	e.log.volume("b", &ballastv1.VolumeDeleted{VolumeId: "b1", OccurTime: at(2)})
	e.log.volume("b", requested("b2", "b", 1<<20, 3))
	var last *ballastv1.Volume
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		last = resp.GetVolume()
	}
	if last.GetId() != "b1" || last.GetState() != ballastv1.VolumeState_VOLUME_STATE_DELETED {
		t.Fatalf("last message %v", last)
	}
}

func recvFirst(e *env, name string) (*ballastv1.WatchVolumeResponse, error) {
	stream, err := e.volumes.WatchVolume(testCtx(e.t), &ballastv1.WatchVolumeRequest{Name: name})
	if err != nil {
		return nil, err
	}
	return stream.Recv()
}

// A gateway that stops leaves a snapshot of its read models; the next one
// starts from it and replays only what came after.
func TestRestartFromASnapshot(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := range 20 {
		name := fmt.Sprintf("s%02d", i)
		e.log.volume(name, requested("id-"+name, name, gib, i))
	}
	e.get("s19")
	if err := e.gw.Close(); err != nil {
		t.Fatal(err)
	}
	snap, err := snapshots.NewStore(e.conn.JS).Load(testCtx(t), "gateway-volumes")
	if err != nil {
		t.Fatalf("no snapshot after the gateway stopped: %v", err)
	}
	last, err := e.conn.Store.LastSequence(testCtx(t), events.Volume.Stream)
	if err != nil || snap.Sequences[events.Volume.Stream] != last {
		t.Fatalf("snapshot covers %v, the stream ends at %d (%v)", snap.Sequences, last, err)
	}
	e.log.volume("after", requested("id-after", "after", gib, 99))
	e.restart()
	list, err := e.volumes.ListVolumes(testCtx(t), &ballastv1.ListVolumesRequest{})
	if err != nil || list.GetTotalSize() != 21 {
		t.Fatalf("after restart: %v %v", list, err)
	}
	if v := e.get("after"); v.GetId() != "id-after" {
		t.Fatalf("the event after the snapshot: %v", v)
	}
}
