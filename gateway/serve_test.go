package gateway_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"ballast.dev/platform/waitfor"

	ballastv1 "ballast.dev/proto/ballast/v1"
)

func TestServeHealthAndReflection(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, stop := context.WithCancel(testCtx(t))
	defer stop()
	addr, wait, err := e.gw.Serve(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient(addr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()

	health := healthpb.NewHealthClient(cc)
	for _, svc := range []string{"", "ballast.v1.VolumeService", "ballast.v1.NodeService", "ballast.v1.EventService", "ballast.v1.PlacementService"} {
		resp, err := health.Check(testCtx(t), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health of %q: %v %v", svc, resp, err)
		}
	}

	refl, err := reflectionpb.NewServerReflectionClient(cc).ServerReflectionInfo(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := refl.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := refl.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	if got := strings.Join(names, " "); !strings.Contains(got, "ballast.v1.VolumeService") || !strings.Contains(got, "grpc.health.v1.Health") {
		t.Fatalf("reflection lists %s", got)
	}
	_ = refl.CloseSend()

	// The address is taken now.
	_, _, err = e.gw.Serve(ctx, addr.String())
	if err == nil || err.Error() != "listen "+addr.String()+": address already in use" {
		t.Fatalf("second Serve on %s: %v", addr, err)
	}

	// A watch open at shutdown ends, and does not hold the server up.
	watch, err := ballastv1.NewEventServiceClient(cc).WatchEvents(testCtx(t), &ballastv1.WatchEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watch.Header(); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := wait(); err != nil {
		t.Fatalf("serve: %v", err)
	}
	if _, err := watch.Recv(); err == nil {
		t.Fatal("watch outlived the server")
	} else {
		wantCode(t, err, codes.Unavailable, "")
	}
}

// With NATS gone, the gateway says so: its health is NOT_SERVING and reads
// fail at once with UNAVAILABLE instead of waiting out their deadline.
func TestNATSDownIsNotServingAndReadsFailFast(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.log.volume("db", requested("id-db", "db", 1<<30, 1))
	ctx := testCtx(t)
	if _, err := e.volumes.GetVolume(ctx, &ballastv1.GetVolumeRequest{Name: "db"}); err != nil {
		t.Fatal(err)
	}
	health := healthpb.NewHealthClient(e.cc)
	e.ns.Shutdown()
	waitfor.Condition(t, 10*time.Second, "health NOT_SERVING", func() bool {
		resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: "ballast.v1.VolumeService"})
		return err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_NOT_SERVING
	})
	start := time.Now()
	_, err := e.volumes.GetVolume(ctx, &ballastv1.GetVolumeRequest{Name: "db"})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("get with NATS down: %v, want UNAVAILABLE", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("get with NATS down took %s to fail", d)
	}
	_, err = e.volumes.ListVolumes(ctx, &ballastv1.ListVolumesRequest{})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("list with NATS down: %v, want UNAVAILABLE", err)
	}
}
