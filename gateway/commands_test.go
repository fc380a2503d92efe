package gateway_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"ballast.dev/platform/command"
	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
	"ballast.dev/platform/waitfor"
	ballastv1 "ballast.dev/proto/ballast/v1"
)

// fakeVolumeService answers volume commands as the volume service would,
// appending to the log, with just enough rules to refuse.
type fakeVolumeService struct {
	e  *env
	mu sync.Mutex
	// ids by name of live volumes.
	ids map[string]string
	// seen are the correlation ids and request ids of the commands, and
	// the names resize and delete were sent for.
	correlations, requestIDs, names []string
	release                         chan struct{}
}

func startFakeVolumeService(t *testing.T, e *env) *fakeVolumeService {
	f := &fakeVolumeService{e: e, ids: map[string]string{}, release: make(chan struct{})}
	t.Cleanup(func() { close(f.release) })
	srv, err := command.NewServer(t.Context(), e.conn.NC, "ballast-volume-fake", "0.0.1", "test double", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(command.Handle(srv, "create", "ballast.cmd.volume.create", func() *ballastv1.CreateVolumeRequest { return &ballastv1.CreateVolumeRequest{} }, replying(f.create)))
	must(command.Handle(srv, "resize", "ballast.cmd.volume.resize", func() *ballastv1.ResizeVolumeRequest { return &ballastv1.ResizeVolumeRequest{} }, replying(f.resize)))
	must(command.Handle(srv, "delete", "ballast.cmd.volume.delete", func() *ballastv1.DeleteVolumeRequest { return &ballastv1.DeleteVolumeRequest{} }, replying(f.delete)))
	return f
}

func (f *fakeVolumeService) record(ctx context.Context, requestID, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.correlations = append(f.correlations, eventstore.CorrelationID(ctx))
	f.requestIDs = append(f.requestIDs, requestID)
	f.names = append(f.names, name)
}

func refuse(code codes.Code, msg, field string) *ballastv1.CommandReply {
	return &ballastv1.CommandReply{Error: &ballastv1.CommandError{Code: int32(code), Message: msg, Field: field}}
}

// replying adapts a handler that always replies to command.Handle.
func replying[Req proto.Message](fn func(context.Context, Req) proto.Message) func(context.Context, Req) (proto.Message, error) {
	return func(ctx context.Context, r Req) (proto.Message, error) { return fn(ctx, r), nil }
}

func (f *fakeVolumeService) create(ctx context.Context, req *ballastv1.CreateVolumeRequest) proto.Message {
	f.record(ctx, req.GetRequestId(), req.GetName())
	if req.GetSpec().GetReplicas() == 0 {
		return refuse(codes.InvalidArgument, "replicas must be 1 to 5", "spec.replicas")
	}
	f.mu.Lock()
	_, taken := f.ids[req.GetName()]
	f.mu.Unlock()
	if taken {
		return refuse(codes.AlreadyExists, "volume "+req.GetName()+" exists with another spec", "")
	}
	id := "id-" + req.GetName()
	e := requested(id, req.GetName(), req.GetSpec().GetCapacity().GetRequiredBytes(), 0)
	seq, err := f.e.log.tryAppend(events.Volume, req.GetName(), e)
	if err != nil {
		return refuse(codes.Internal, err.Error(), "")
	}
	f.mu.Lock()
	f.ids[req.GetName()] = id
	f.mu.Unlock()
	// The reply's volume is deliberately thin: the gateway should answer
	// from its read model.
	return &ballastv1.CommandReply{Sequence: seq, Volume: &ballastv1.Volume{Id: id, Name: req.GetName()}}
}

func (f *fakeVolumeService) resize(ctx context.Context, req *ballastv1.ResizeVolumeRequest) proto.Message {
	f.record(ctx, req.GetRequestId(), req.GetName())
	if req.GetName() == "slow" {
		<-f.release
		return refuse(codes.Unavailable, "too late", "")
	}
	seq, err := f.e.log.tryAppend(events.Volume, req.GetName(), &ballastv1.VolumeResizeRequested{
		VolumeId: f.idOf(req.GetName()), SizeBytes: req.GetCapacity().GetRequiredBytes(),
	})
	if err != nil {
		return refuse(codes.Internal, err.Error(), "")
	}
	return &ballastv1.CommandReply{Sequence: seq}
}

// delete completes the deletion at once, so that the gateway must answer
// about an incarnation that is no longer live.
func (f *fakeVolumeService) delete(ctx context.Context, req *ballastv1.DeleteVolumeRequest) proto.Message {
	f.record(ctx, req.GetRequestId(), req.GetName())
	id := f.idOf(req.GetName())
	if _, err := f.e.log.tryAppend(events.Volume, req.GetName(), &ballastv1.VolumeDeleteRequested{VolumeId: id}); err != nil {
		return refuse(codes.Internal, err.Error(), "")
	}
	seq, err := f.e.log.tryAppend(events.Volume, req.GetName(), &ballastv1.VolumeDeleted{VolumeId: id})
	if err != nil {
		return refuse(codes.Internal, err.Error(), "")
	}
	f.mu.Lock()
	delete(f.ids, req.GetName())
	f.mu.Unlock()
	return &ballastv1.CommandReply{Sequence: seq, Volume: &ballastv1.Volume{Id: id, Name: req.GetName(), State: ballastv1.VolumeState_VOLUME_STATE_DELETING}}
}

// seen returns copies of what the service has been sent.
func (f *fakeVolumeService) seen() (correlations, requestIDs, names []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.correlations), slices.Clone(f.requestIDs), slices.Clone(f.names)
}

func (f *fakeVolumeService) idOf(name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ids[name]
}

// With no volume service, a create is sent again until shortly before the
// caller's deadline, and then answered UNAVAILABLE: the caller learns why,
// not only that its time ran out.
func TestCommandUnavailable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(testCtx(t), 2*time.Second)
	defer cancel()
	_, err := e.volumes.CreateVolume(ctx, &ballastv1.CreateVolumeRequest{Name: "x", Spec: &ballastv1.VolumeSpec{Replicas: 1}})
	wantCode(t, err, codes.Unavailable, "unavailable")
}

// A create sent before the volume service is up is answered once it is:
// the gateway sends it again within the caller's deadline.
func TestCommandWaitsForTheServiceWithinTheDeadline(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sent := e.conn.NC.Stats().OutMsgs
	done := make(chan error, 1)
	go func() {
		_, err := e.volumes.CreateVolume(testCtx(t), &ballastv1.CreateVolumeRequest{Name: "late", Spec: &ballastv1.VolumeSpec{Replicas: 1}})
		done <- err
	}()
	// The service comes up after the gateway sent the command and got no
	// answer.
	waitfor.Condition(t, 5*time.Second, "the command sent", func() bool { return e.conn.NC.Stats().OutMsgs >= sent+2 })
	startFakeVolumeService(t, e)
	if err := <-done; err != nil {
		t.Fatalf("create sent while the service was away: %v", err)
	}
}

func TestCommands(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := startFakeVolumeService(t, e)
	spec := &ballastv1.VolumeSpec{Capacity: &ballastv1.CapacityRange{RequiredBytes: gib}, Replicas: 3}

	created, err := e.volumes.CreateVolume(testCtx(t), &ballastv1.CreateVolumeRequest{Name: "data", Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	// From the read model, not the thin reply: the caller sees its write.
	if v := created.GetVolume(); v.GetState() != ballastv1.VolumeState_VOLUME_STATE_CREATING || v.GetSizeBytes() != gib || v.GetVersion() == 0 {
		t.Fatalf("created %v", v)
	}
	corr, reqIDs, _ := f.seen()
	if reqIDs[0] == "" || corr[0] != reqIDs[0] {
		t.Fatalf("request id %q, correlation id %q", reqIDs[0], corr[0])
	}
	_, err = e.volumes.CreateVolume(testCtx(t), &ballastv1.CreateVolumeRequest{Name: "mine", Spec: spec, RequestId: "req-42"})
	corr, reqIDs, _ = f.seen()
	if err != nil || reqIDs[1] != "req-42" || corr[1] != "req-42" {
		t.Fatalf("caller's request id not kept: %v %v %v", err, reqIDs, corr)
	}

	_, err = e.volumes.CreateVolume(testCtx(t), &ballastv1.CreateVolumeRequest{Name: "data", Spec: spec})
	wantCode(t, err, codes.AlreadyExists, "exists")
	_, err = e.volumes.CreateVolume(testCtx(t), &ballastv1.CreateVolumeRequest{Name: "bad", Spec: &ballastv1.VolumeSpec{}})
	wantCode(t, err, codes.InvalidArgument, "spec.replicas")
	var br *errdetails.BadRequest
	for _, d := range status.Convert(err).Details() {
		if d, ok := d.(*errdetails.BadRequest); ok {
			br = d
		}
	}
	if len(br.GetFieldViolations()) != 1 || br.GetFieldViolations()[0].GetField() != "spec.replicas" {
		t.Fatalf("no field violation in %v", status.Convert(err).Details())
	}
	_, err = e.volumes.CreateVolume(testCtx(t), &ballastv1.CreateVolumeRequest{Spec: spec})
	wantCode(t, err, codes.InvalidArgument, "name")

	// Resize by id: the volume service is sent the name.
	resized, err := e.volumes.ResizeVolume(testCtx(t), &ballastv1.ResizeVolumeRequest{Name: "id-data", Capacity: &ballastv1.CapacityRange{RequiredBytes: 2 * gib}})
	if err != nil {
		t.Fatal(err)
	}
	_, _, names := f.seen()
	if resized.GetVolume().GetResizingToBytes() != 2*gib || names[len(names)-1] != "data" {
		t.Fatalf("resized %v, sent for %q", resized.GetVolume(), names[len(names)-1])
	}
	_, err = e.volumes.ResizeVolume(testCtx(t), &ballastv1.ResizeVolumeRequest{Name: "ghost", Capacity: &ballastv1.CapacityRange{RequiredBytes: 1}})
	wantCode(t, err, codes.NotFound, "ghost")
	_, err = e.volumes.ResizeVolume(testCtx(t), &ballastv1.ResizeVolumeRequest{Name: "data"})
	wantCode(t, err, codes.InvalidArgument, "capacity")

	// A volume service that does not answer in time.
	e.log.volume("slow", requested("id-slow", "slow", gib, 0))
	ctx, cancel := context.WithTimeout(testCtx(t), 300*time.Millisecond)
	defer cancel()
	_, err = e.volumes.ResizeVolume(ctx, &ballastv1.ResizeVolumeRequest{Name: "slow", Capacity: &ballastv1.CapacityRange{RequiredBytes: 2 * gib}})
	wantCode(t, err, codes.DeadlineExceeded, "")

	// Delete completes at once: the answer is the incarnation deleted.
	deleted, err := e.volumes.DeleteVolume(testCtx(t), &ballastv1.DeleteVolumeRequest{Name: "data"})
	if err != nil {
		t.Fatal(err)
	}
	if v := deleted.GetVolume(); v.GetId() != "id-data" || v.GetState() != ballastv1.VolumeState_VOLUME_STATE_DELETED {
		t.Fatalf("deleted %v", v)
	}
	_, err = e.volumes.DeleteVolume(testCtx(t), &ballastv1.DeleteVolumeRequest{Name: "data"})
	wantCode(t, err, codes.NotFound, "data")
}

// A request id rides in NATS headers and event ids: one too long or with
// characters beyond the plain set is refused before anything is sent.
func TestRequestIDIsBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := startFakeVolumeService(t, e)
	spec := &ballastv1.VolumeSpec{Capacity: &ballastv1.CapacityRange{RequiredBytes: gib}, Replicas: 3}
	e.log.volume("data", requested("id-data", "data", gib, 0))
	for _, id := range []string{strings.Repeat("r", 129), "two words", "line\r\nbreak", "a/b", "ü"} {
		_, err := e.volumes.CreateVolume(testCtx(t), &ballastv1.CreateVolumeRequest{Name: "x", Spec: spec, RequestId: id})
		wantField(t, err, "request_id")
		_, err = e.volumes.ResizeVolume(testCtx(t), &ballastv1.ResizeVolumeRequest{Name: "data", Capacity: &ballastv1.CapacityRange{RequiredBytes: 2 * gib}, RequestId: id})
		wantField(t, err, "request_id")
		_, err = e.volumes.DeleteVolume(testCtx(t), &ballastv1.DeleteVolumeRequest{Name: "data", RequestId: id})
		wantField(t, err, "request_id")
	}
	if _, reqIDs, _ := f.seen(); len(reqIDs) != 0 {
		t.Fatalf("commands sent with bad request ids: %q", reqIDs)
	}
	if _, err := e.volumes.CreateVolume(testCtx(t), &ballastv1.CreateVolumeRequest{Name: "x", Spec: spec, RequestId: strings.Repeat("r", 128)}); err != nil {
		t.Fatalf("a request id of 128 bytes: %v", err)
	}
}

// wantField checks that err is INVALID_ARGUMENT naming field, in its message
// and its BadRequest detail.
func wantField(t *testing.T, err error, field string) {
	t.Helper()
	wantCode(t, err, codes.InvalidArgument, field)
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) == 1 && br.GetFieldViolations()[0].GetField() == field {
			return
		}
	}
	t.Fatalf("%v has no field violation for %s", err, field)
}
