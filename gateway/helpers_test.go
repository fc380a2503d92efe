package gateway_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"ballast.dev/gateway"
	"ballast.dev/platform/events"
	"ballast.dev/platform/natsconn"
	"ballast.dev/platform/natsserver"
	"ballast.dev/platform/natsserver/natstest"
	ballastv1 "ballast.dev/proto/ballast/v1"
)

// env is one test's world: a nats-server of its own, a connection, a writer
// of events and a gateway with a client.
type env struct {
	t    *testing.T
	ns   *natsserver.Server
	conn *natsconn.Conn
	cfg  gateway.Config
	log  *logWriter
	gw   *gateway.Gateway
	cc   *grpc.ClientConn

	volumes ballastv1.VolumeServiceClient
	nodes   ballastv1.NodeServiceClient
	events  ballastv1.EventServiceClient
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, gateway.Config{})
}

// newEnvWith is newEnv with a gateway configured as cfg (its Conn is set).
func newEnvWith(t *testing.T, cfg gateway.Config) *env {
	t.Helper()
	ns := natstest.StartServer(t)
	conn, err := natsconn.Dial(testCtx(t), natsconn.Options{URL: ns.ClientURL(), Name: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	cfg.Conn = conn
	e := &env{t: t, ns: ns, conn: conn, cfg: cfg, log: &logWriter{t: t, conn: conn, last: map[string]uint64{}}}
	e.restart()
	return e
}

// restart starts a new gateway (and client) on the same log; the old one is
// left running until the test ends.
func (e *env) restart() *gateway.Gateway {
	e.t.Helper()
	gw, err := gateway.New(testCtx(e.t), e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = gw.Close() })
	e.gw = gw
	e.cc = dialBuf(e.t, gw)
	e.volumes = ballastv1.NewVolumeServiceClient(e.cc)
	e.nodes = ballastv1.NewNodeServiceClient(e.cc)
	e.events = ballastv1.NewEventServiceClient(e.cc)
	return gw
}

// dialBuf serves gw on an in-memory listener and dials it.
func dialBuf(t *testing.T, gw *gateway.Gateway) *grpc.ClientConn {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := gw.NewServer()
	gw.Register(srv)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	cc, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// logWriter appends events as the owning services would, tracking each
// subject's last sequence for the optimistic append.
type logWriter struct {
	t    *testing.T
	conn *natsconn.Conn
	mu   sync.Mutex
	last map[string]uint64
}

// append appends m to the history of agg's id and returns its sequence.
func (w *logWriter) append(agg events.Aggregate, id string, m proto.Message) uint64 {
	w.t.Helper()
	seq, err := w.tryAppend(agg, id, m)
	if err != nil {
		w.t.Fatal(err)
	}
	return seq
}

// tryAppend is append for goroutines other than the test's.
func (w *logWriter) tryAppend(agg events.Aggregate, id string, m proto.Message) (uint64, error) {
	// The owning services always name the aggregate in the payload, as the
	// readers check; the tests' events leave it out for brevity.
	if fd := m.ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(agg.KeyField)); fd != nil && m.ProtoReflect().Get(fd).String() == "" {
		m = proto.Clone(m)
		m.ProtoReflect().Set(fd, protoreflect.ValueOfString(id))
	}
	ev, err := events.Encode(uuid.NewString(), m)
	if err != nil {
		return 0, err
	}
	ev.CorrelationID = "corr-" + id
	subject := agg.Subject(id)
	w.mu.Lock()
	defer w.mu.Unlock()
	seq, err := w.conn.Store.Append(testCtx(w.t), subject, w.last[subject], ev)
	if err != nil {
		return 0, fmt.Errorf("append %s: %w", subject, err)
	}
	w.last[subject] = seq
	return seq, nil
}

func (w *logWriter) volume(name string, m proto.Message) uint64 {
	w.t.Helper()
	return w.append(events.Volume, name, m)
}

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// at is a distinct event time per step.
func at(step int) *timestamppb.Timestamp {
	return timestamppb.New(epoch.Add(time.Duration(step) * time.Second))
}

// requested is a VolumeRequested for name with three replicas.
func requested(id, name string, size uint64, step int) *ballastv1.VolumeRequested {
	return &ballastv1.VolumeRequested{
		VolumeId: id, VolumeName: name, SizeBytes: size, OccurTime: at(step),
		Spec: &ballastv1.VolumeSpec{
			Capacity: &ballastv1.CapacityRange{RequiredBytes: size},
			Replicas: 3, Tier: ballastv1.Tier_TIER_SSD, Spread: ballastv1.Spread_SPREAD_NODE,
		},
	}
}

func replicas(n int) []*ballastv1.Replica {
	rs := make([]*ballastv1.Replica, n)
	for i := range rs {
		rs[i] = &ballastv1.Replica{
			Id: fmt.Sprintf("r%d", i), NodeId: fmt.Sprintf("n%d", i), DiskId: "d0", Zone: fmt.Sprintf("z%d", i),
		}
	}
	return rs
}
