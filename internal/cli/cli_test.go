package cli

import (
	"bytes"
	"context"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"ballast.dev/platform/waitfor"
	ballastv1 "ballast.dev/proto/ballast/v1"
)

// fakeVolumes is a VolumeService whose CreateVolume answers CREATING and
// whose WatchVolume streams a script of states, then holds the stream open
// as a real watch would. It has no GetVolume: the CLI must watch, not poll.
type fakeVolumes struct {
	ballastv1.UnimplementedVolumeServiceServer
	createErr error
	script    []*ballastv1.Volume
	reply     *ballastv1.Volume // of ResizeVolume and DeleteVolume
	replyErr  error             // of ResizeVolume, instead of reply
	endScript bool              // end the watch after the script, as after a delete

	mu      sync.Mutex
	created *ballastv1.CreateVolumeRequest
	resized *ballastv1.ResizeVolumeRequest
	watched string
}

func (f *fakeVolumes) CreateVolume(_ context.Context, req *ballastv1.CreateVolumeRequest) (*ballastv1.CreateVolumeResponse, error) {
	f.mu.Lock()
	f.created = req
	f.mu.Unlock()
	if f.createErr != nil {
		return nil, f.createErr
	}
	return &ballastv1.CreateVolumeResponse{Volume: &ballastv1.Volume{
		Id: "vol-1", Name: req.GetName(), Spec: req.GetSpec(), SizeBytes: req.GetSpec().GetCapacity().GetRequiredBytes(),
		State: ballastv1.VolumeState_VOLUME_STATE_CREATING, Version: 10,
	}}, nil
}

func (f *fakeVolumes) WatchVolume(req *ballastv1.WatchVolumeRequest, stream grpc.ServerStreamingServer[ballastv1.WatchVolumeResponse]) error {
	f.mu.Lock()
	f.watched = req.GetName()
	f.mu.Unlock()
	for _, v := range f.script {
		if err := stream.Send(&ballastv1.WatchVolumeResponse{Volume: v}); err != nil {
			return err
		}
	}
	if !f.endScript {
		<-stream.Context().Done()
	}
	return nil
}

func (f *fakeVolumes) ResizeVolume(_ context.Context, req *ballastv1.ResizeVolumeRequest) (*ballastv1.ResizeVolumeResponse, error) {
	f.mu.Lock()
	f.resized = req
	f.mu.Unlock()
	if f.replyErr != nil {
		return nil, f.replyErr
	}
	return &ballastv1.ResizeVolumeResponse{Volume: f.reply}, nil
}

func (f *fakeVolumes) DeleteVolume(context.Context, *ballastv1.DeleteVolumeRequest) (*ballastv1.DeleteVolumeResponse, error) {
	return &ballastv1.DeleteVolumeResponse{Volume: f.reply}, nil
}

// fakeEvents streams a fixed list of events, then waits for the caller to go.
type fakeEvents struct {
	ballastv1.UnimplementedEventServiceServer
	events []*ballastv1.Event
}

func (f *fakeEvents) WatchEvents(_ *ballastv1.WatchEventsRequest, stream grpc.ServerStreamingServer[ballastv1.WatchEventsResponse]) error {
	for _, e := range f.events {
		if err := stream.Send(&ballastv1.WatchEventsResponse{Event: e}); err != nil {
			return err
		}
	}
	<-stream.Context().Done()
	return nil
}

// serve starts a real gRPC server on a free loopback port and returns its
// address.
func serve(t *testing.T, register func(*grpc.Server)) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	register(srv)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// volumeAt returns the volume "db" in state s with n of 3 replicas ready.
func volumeAt(s ballastv1.VolumeState, ready int, version uint64) *ballastv1.Volume {
	v := &ballastv1.Volume{
		Id: "vol-1", Name: "db", State: s, SizeBytes: 10 << 30, Version: version,
		Spec: &ballastv1.VolumeSpec{Replicas: 3, Tier: ballastv1.Tier_TIER_SSD, Spread: ballastv1.Spread_SPREAD_ZONE,
			Capacity: &ballastv1.CapacityRange{RequiredBytes: 10 << 30}},
	}
	for i, zone := range []string{"zone-a", "zone-b", "zone-c"} {
		st := ballastv1.ReplicaState_REPLICA_STATE_PENDING
		if i < ready {
			st = ballastv1.ReplicaState_REPLICA_STATE_READY
		}
		v.Replicas = append(v.Replicas, &ballastv1.Replica{
			Id: "rep-" + zone, NodeId: "node-" + zone, DiskId: "ssd-0", Zone: zone, State: st,
		})
	}
	return v
}

func TestVolumeCreateWaitsUntilReady(t *testing.T) {
	fake := &fakeVolumes{script: []*ballastv1.Volume{
		volumeAt(ballastv1.VolumeState_VOLUME_STATE_CREATING, 0, 9), // stale: older than the create reply
		volumeAt(ballastv1.VolumeState_VOLUME_STATE_CREATING, 1, 11),
		volumeAt(ballastv1.VolumeState_VOLUME_STATE_READY, 3, 14),
	}}
	addr := serve(t, func(s *grpc.Server) { ballastv1.RegisterVolumeServiceServer(s, fake) })

	code, stdout, stderr := run(t.Context(), "--addr", addr, "volume", "create", "db",
		"--size", "10GiB", "--replicas", "3", "--label", "team=db", "--label", "env=prod")
	if code != ExitOK {
		t.Fatalf("exit code %d, stderr %q", code, stderr)
	}
	for _, want := range []string{"State:      ready", "Replicas:   3/3 ready", "node-zone-c   ssd-0   zone-c   ready"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if want := "waiting for volume db: creating, 1/3 replicas ready\n"; stderr != want {
		t.Errorf("stderr = %q, want %q", stderr, want)
	}

	fake.mu.Lock()
	defer fake.mu.Unlock()
	want := &ballastv1.CreateVolumeRequest{Name: "db", Spec: &ballastv1.VolumeSpec{
		Capacity: &ballastv1.CapacityRange{RequiredBytes: 10 << 30},
		Replicas: 3, Tier: ballastv1.Tier_TIER_SSD, Spread: ballastv1.Spread_SPREAD_ZONE,
		Labels: map[string]string{"team": "db", "env": "prod"},
	}}
	if !proto.Equal(fake.created, want) {
		t.Errorf("CreateVolume got %v, want %v", fake.created, want)
	}
	if fake.watched != "vol-1" {
		t.Errorf("watched %q, want the id vol-1", fake.watched)
	}
}

// Integers go to the API in its own types, whole: the largest replica count
// the wire carries is sent as it is (for the server to refuse), never
// truncated into a valid one.
func TestVolumeCreateSendsReplicasWhole(t *testing.T) {
	fake := &fakeVolumes{}
	addr := serve(t, func(s *grpc.Server) { ballastv1.RegisterVolumeServiceServer(s, fake) })
	code, _, stderr := run(t.Context(), "--addr", addr, "volume", "create", "db", "--size", "1GiB", "--replicas", "4294967295", "--no-wait")
	if code != ExitOK {
		t.Fatalf("exit code %d, stderr %q", code, stderr)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if got := fake.created.GetSpec().GetReplicas(); got != 4294967295 {
		t.Fatalf("sent %d replicas, want 4294967295", got)
	}
}

func TestVolumeCreateFailed(t *testing.T) {
	failed := volumeAt(ballastv1.VolumeState_VOLUME_STATE_FAILED, 0, 12)
	failed.FailureCode = int32(codes.ResourceExhausted)
	failed.FailureReason = "need 3 zones with 10 GiB free on ssd, found 2"
	fake := &fakeVolumes{script: []*ballastv1.Volume{failed}}
	addr := serve(t, func(s *grpc.Server) { ballastv1.RegisterVolumeServiceServer(s, fake) })

	code, stdout, stderr := run(t.Context(), "--addr", addr, "volume", "create", "db", "--size", "10GiB", "-o", "json")
	if code != ExitFailure {
		t.Errorf("exit code %d, want %d", code, ExitFailure)
	}
	if want := "error: volume db failed: RESOURCE_EXHAUSTED: need 3 zones with 10 GiB free on ssd, found 2\n"; stderr != want {
		t.Errorf("stderr = %q, want %q", stderr, want)
	}
	if !strings.Contains(stdout, `"state": "VOLUME_STATE_FAILED"`) {
		t.Errorf("stdout lacks the failed volume:\n%s", stdout)
	}
}

func TestVolumeCreateNoWait(t *testing.T) {
	fake := &fakeVolumes{}
	addr := serve(t, func(s *grpc.Server) { ballastv1.RegisterVolumeServiceServer(s, fake) })
	code, stdout, stderr := run(t.Context(), "--addr", addr, "volume", "create", "db", "--size", "1GiB", "--no-wait")
	if code != ExitOK || !strings.Contains(stdout, "State:      creating") {
		t.Fatalf("exit code %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if fake.watched != "" {
		t.Errorf("--no-wait watched %q", fake.watched)
	}
}

func TestVolumeResize(t *testing.T) {
	const (
		gi = 1 << 30
		// 20GB rounded up to whole MiB, as the server provisions it.
		gb20 = 19074 << 20
	)
	sized := func(size, resizingTo uint64, reason string, version uint64, grown ...int) *ballastv1.Volume {
		v := volumeAt(ballastv1.VolumeState_VOLUME_STATE_READY, 3, version)
		v.SizeBytes, v.ResizingToBytes, v.ResizeFailureReason = size, resizingTo, reason
		for i, r := range v.Replicas {
			r.SizeBytes = size
			if slices.Contains(grown, i) {
				r.SizeBytes = resizingTo
			}
		}
		return v
	}
	// asked is a volume that was last asked to be required bytes.
	asked := func(v *ballastv1.Volume, required uint64) *ballastv1.Volume {
		v.Spec.Capacity = &ballastv1.CapacityRange{RequiredBytes: required}
		return v
	}
	tests := []struct {
		name       string
		size       string
		reply      *ballastv1.Volume
		replyErr   error
		script     []*ballastv1.Volume
		wantSent   uint64 // required_bytes; limit_bytes is never sent
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{
			name: "grows",
			size: "20GiB",
			// The reply still carries the reason an earlier resize failed:
			// it must not end the wait.
			reply: sized(10*gi, 20*gi, "an earlier refusal", 20),
			// Done when every replica has grown and the volume has the size,
			// not when the first one has.
			script:     []*ballastv1.Volume{sized(10*gi, 20*gi, "", 21), sized(10*gi, 20*gi, "", 22, 1), sized(20*gi, 0, "", 23)},
			wantSent:   20 * gi,
			wantStdout: "Size:       20 GiB",
			wantStderr: "waiting for volume db: ready, 3/3 replicas ready, resizing to 20 GiB, 0/3 replicas grown\n" +
				"waiting for volume db: ready, 3/3 replicas ready, resizing to 20 GiB, 1/3 replicas grown\n",
		},
		{
			name:       "refused",
			size:       "20GiB",
			reply:      sized(10*gi, 20*gi, "an earlier refusal", 20),
			script:     []*ballastv1.Volume{sized(10*gi, 0, "disk ssd-0 of node-zone-a has 4 GiB free", 22)},
			wantSent:   20 * gi,
			wantCode:   ExitFailure,
			wantStderr: "error: resize of volume db to 20 GiB failed: disk ssd-0 of node-zone-a has 4 GiB free\n",
		},
		{
			// Not a whole MiB: at least 20 GB, which the server rounds up
			// to its allocation unit, as CSI drivers do.
			name:     "not a whole MiB",
			size:     "20GB",
			reply:    sized(10*gi, gb20, "", 20),
			script:   []*ballastv1.Volume{sized(gb20, 0, "", 23)},
			wantSent: 20_000_000_000,
			// Rounded for reading, exact beside it.
			wantStdout: "Size:       19 GiB (20000538624 bytes)",
		},
		{
			// Asked again once done: nothing to do, not a shrink.
			name:     "the same size again",
			size:     "20GB",
			reply:    asked(sized(gb20, 0, "", 23), 20_000_000_000),
			wantSent: 20_000_000_000,
		},
		{
			name:       "shrink",
			size:       "5GiB",
			reply:      asked(sized(10*gi, 0, "", 20), 10*gi),
			wantSent:   5 * gi,
			wantCode:   ExitFailure,
			wantStderr: "error: INVALID_ARGUMENT: --size: volumes only grow: volume db was asked to be 10 GiB; 5.0 GiB is less\n",
		},
		{
			// The server names its field, capacity; the user gave --size.
			name: "refused naming the field",
			size: "60TiB",
			replyErr: fieldStatus(codes.InvalidArgument, "capacity",
				"capacity: asks for at least 65970697666560 bytes; the largest volume is 70368744177664 bytes (64 TiB)"),
			wantSent:   60 << 40,
			wantCode:   ExitFailure,
			wantStderr: "error: INVALID_ARGUMENT: --size: asks for at least 65970697666560 bytes; the largest volume is 70368744177664 bytes (64 TiB)\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeVolumes{reply: tt.reply, replyErr: tt.replyErr, script: tt.script}
			addr := serve(t, func(s *grpc.Server) { ballastv1.RegisterVolumeServiceServer(s, fake) })
			code, stdout, stderr := run(t.Context(), "--addr", addr, "volume", "resize", "db", "--size", tt.size)
			if code != tt.wantCode || stderr != tt.wantStderr || !strings.Contains(stdout, tt.wantStdout) {
				t.Errorf("exit code %d, stderr %q, stdout:\n%s\nwant exit code %d, stderr %q, stdout with %q",
					code, stderr, stdout, tt.wantCode, tt.wantStderr, tt.wantStdout)
			}
			fake.mu.Lock()
			defer fake.mu.Unlock()
			if c := fake.resized.GetCapacity(); c.GetRequiredBytes() != tt.wantSent || c.GetLimitBytes() != 0 {
				t.Errorf("sent capacity %v, want required_bytes %d and no limit", c, tt.wantSent)
			}
		})
	}
}

// fieldStatus is an error as the gateway sends it: the field at fault in a
// BadRequest detail.
func fieldStatus(c codes.Code, field, msg string) error {
	st, err := status.New(c, msg).WithDetails(&errdetails.BadRequest{
		FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: msg}},
	})
	if err != nil {
		panic(err)
	}
	return st.Err()
}

// A refusal that names a field of the request names the flag the user gave
// for it instead.
func TestRefusalsNameTheFlag(t *testing.T) {
	tests := []struct {
		field, msg string
		args       []string
		want       string
	}{
		{"spec.replicas", "spec.replicas: 7 is out of range; must be 1 to 5", nil, "--replicas: 7 is out of range; must be 1 to 5"},
		{"spec.capacity", "spec.capacity: asks for at least 99 bytes", nil, "--size: asks for at least 99 bytes"},
		{"spec.capacity", "spec.capacity: no size in whole MiB lies between", []string{"--limit", "2GiB"}, "--size/--limit: no size in whole MiB lies between"},
		{"spec.labels", "spec.labels: key \"-x\" must be", nil, "--label: key \"-x\" must be"},
		{"name", "name: is 200 bytes long; at most 128", nil, "NAME: is 200 bytes long; at most 128"},
		{"request_id", "request_id: too long", nil, "request_id: too long"}, // no flag for it
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			fake := &fakeVolumes{createErr: fieldStatus(codes.InvalidArgument, tt.field, tt.msg)}
			addr := serve(t, func(s *grpc.Server) { ballastv1.RegisterVolumeServiceServer(s, fake) })
			args := append([]string{"--addr", addr, "volume", "create", "db", "--size", "1GiB"}, tt.args...)
			code, _, stderr := run(t.Context(), args...)
			if want := "error: INVALID_ARGUMENT: " + tt.want + "\n"; code != ExitFailure || stderr != want {
				t.Errorf("exit code %d, stderr %q; want %q", code, stderr, want)
			}
		})
	}
}

func TestVolumeDeleteWaitsForTheWatchToEnd(t *testing.T) {
	deleting := volumeAt(ballastv1.VolumeState_VOLUME_STATE_DELETING, 0, 30)
	fake := &fakeVolumes{reply: deleting, script: []*ballastv1.Volume{deleting}, endScript: true}
	addr := serve(t, func(s *grpc.Server) { ballastv1.RegisterVolumeServiceServer(s, fake) })
	code, stdout, stderr := run(t.Context(), "--addr", addr, "volume", "delete", "db")
	if code != ExitOK || stdout != "Volume db deleted.\n" || stderr != "waiting for volume db: deleting, 3 replicas left\n" {
		t.Errorf("exit code %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestAPIErrorIsPrintedWithItsCode(t *testing.T) {
	fake := &fakeVolumes{createErr: status.Error(codes.InvalidArgument, "spec.replicas: 7 is out of range 1 to 5")}
	addr := serve(t, func(s *grpc.Server) { ballastv1.RegisterVolumeServiceServer(s, fake) })
	code, _, stderr := run(t.Context(), "--addr", addr, "volume", "create", "db", "--size", "1GiB", "--replicas", "7")
	if code != ExitFailure {
		t.Errorf("exit code %d, want %d", code, ExitFailure)
	}
	if want := "error: INVALID_ARGUMENT: spec.replicas: 7 is out of range 1 to 5\n"; stderr != want {
		t.Errorf("stderr = %q, want %q", stderr, want)
	}
}

// A create the gateway took but could not see through (its NATS was away
// past the deadline) may still be applied: the CLI says the outcome is
// unknown and how to check it, not that ballast could not be reached.
func TestChangeWithoutAnAnswerHasAnUnknownOutcome(t *testing.T) {
	fake := &fakeVolumes{createErr: status.Error(codes.Unavailable, "command ballast.cmd.volume.create: service unavailable")}
	addr := serve(t, func(s *grpc.Server) { ballastv1.RegisterVolumeServiceServer(s, fake) })
	code, _, stderr := run(t.Context(), "--addr", addr, "volume", "create", "db", "--size", "1GiB")
	if code != ExitFailure {
		t.Errorf("exit code %d, want %d", code, ExitFailure)
	}
	for _, want := range []string{"the outcome of creating volume db is unknown", "UNAVAILABLE", "ballast volume get db"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q does not say %q", stderr, want)
		}
	}
	if strings.Contains(stderr, "cannot reach") {
		t.Errorf("stderr %q: the gateway was reached", stderr)
	}
}

func TestUnreachableGatewayForAChange(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	code, _, stderr := run(t.Context(), "--addr", addr, "volume", "create", "db", "--size", "1GiB")
	if want := "error: cannot reach ballast at " + addr + ": is `ballast up` running?\n"; code != ExitFailure || stderr != want {
		t.Errorf("exit code %d, stderr = %q, want %q", code, stderr, want)
	}
}

func TestUnreachableGateway(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close() // nothing listens there now

	code, _, stderr := run(t.Context(), "--addr", addr, "node", "list")
	if code != ExitFailure {
		t.Errorf("exit code %d, want %d", code, ExitFailure)
	}
	if want := "error: cannot reach ballast at " + addr + ": is `ballast up` running?\n"; stderr != want {
		t.Errorf("stderr = %q, want %q", stderr, want)
	}
}

// syncBuffer is a bytes.Buffer safe to read while a command writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// checkFor polls cond every step until it holds or total has passed.
func checkFor(t *testing.T, total, _ time.Duration, cond func() bool) {
	t.Helper()
	waitfor.Condition(t, total, "the condition", cond)
}

func TestEventsWatchEndsCleanlyOnInterrupt(t *testing.T) {
	payload, err := anypb.New(&ballastv1.VolumeReady{VolumeId: "vol-1", VolumeName: "db"})
	if err != nil {
		t.Fatal(err)
	}
	fake := &fakeEvents{events: []*ballastv1.Event{
		{Subject: "ballast.evt.volume.db", Sequence: 1, Type: "ballast.v1.VolumeReady", Payload: payload},
		{Subject: "ballast.evt.volume.db", Sequence: 2, Type: "ballast.v1.VolumeReady", Payload: payload},
	}}
	addr := serve(t, func(s *grpc.Server) { ballastv1.RegisterEventServiceServer(s, fake) })

	// The context stands for signal.NotifyContext: cancelling it is Ctrl-C.
	ctx, interrupt := context.WithCancel(t.Context())
	defer interrupt()
	root := NewRoot()
	var stdout, stderr syncBuffer
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	root.SetArgs([]string{"--addr", addr, "events", "watch", "-o", "json"})
	done := make(chan int)
	go func() { done <- Execute(ctx, root) }()

	checkFor(t, 5*time.Second, 10*time.Millisecond, func() bool { return strings.Count(stdout.String(), "\n") == 2 })
	interrupt()
	select {
	case code := <-done:
		if code != ExitOK {
			t.Errorf("exit code %d after Ctrl-C, want 0 (stderr %q)", code, stderr.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("events watch did not end after Ctrl-C")
	}
	for i, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		if !strings.HasPrefix(line, `{"subject":"ballast.evt.volume.db","sequence":"`) || !strings.Contains(line, `"@type":"type.googleapis.com/ballast.v1.VolumeReady"`) {
			t.Errorf("line %d is not the event as NDJSON: %s", i, line)
		}
	}
}
