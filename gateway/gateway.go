// Package gateway is Ballast's public API: a gRPC server that turns calls
// into commands for the services that own the aggregates and answers
// queries from read models it builds from the event log. It owns nothing
// durable: a restarted gateway rebuilds its read models from the log.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"ballast.dev/gateway/grpcapi"
	"ballast.dev/gateway/readmodel"
	"ballast.dev/platform/natsconn"
	"ballast.dev/platform/snapshot"
)

// shutdownGrace is how long Serve lets calls in flight finish after its
// context ends before it cuts them off.
const shutdownGrace = 10 * time.Second

// Config says what the gateway runs on.
type Config struct {
	// Conn is the NATS connection, its JetStream and event store. The
	// gateway uses it and does not close it.
	Conn   *natsconn.Conn
	Logger *slog.Logger
	// Snapshots says how often the read models are snapshotted; zero is
	// snapshot.DefaultPolicy.
	Snapshots snapshot.Policy
	// MaxVolumeWatches and MaxEventWatches bound the WatchVolume and
	// WatchEvents streams the gateway serves at once; beyond them a watch is
	// RESOURCE_EXHAUSTED. Zero means DefaultMaxVolumeWatches and
	// DefaultMaxEventWatches.
	MaxVolumeWatches, MaxEventWatches int
}

// Defaults of the bounds on concurrent watches. A volume watch costs a
// goroutine; an events watch also holds a JetStream consumer per aggregate
// kind it follows, so far fewer of those are allowed.
const (
	DefaultMaxVolumeWatches = 4096
	DefaultMaxEventWatches  = 64
)

// Gateway serves the public API.
type Gateway struct {
	conn      *natsconn.Conn
	logger    *slog.Logger
	volumes   *readmodel.MemoryVolumes
	nodes     *readmodel.MemoryNodes
	projector *readmodel.Projector
	loads     *readmodel.Loads
	// snapshotting ends with stopSnapshots, which takes a last snapshot.
	stopSnapshots context.CancelFunc
	snapshotting  sync.WaitGroup
	health        *health.Server
	// The bounds on watches hold for the gateway, whatever servers it is
	// registered on.
	volumeWatches, eventWatches *grpcapi.WatchLimit

	done      chan struct{}
	closeOnce sync.Once
}

// New builds the read models from the log and keeps them following it. It
// returns once they have caught up with the log as of the call, so that the
// first answers are not empty; ctx bounds that wait only. Close stops it.
func New(ctx context.Context, cfg Config) (*Gateway, error) {
	if cfg.Conn == nil || cfg.Conn.Store == nil || cfg.Conn.NC == nil {
		return nil, errors.New("gateway: a NATS connection is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = cfg.Conn.Logger
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxVolumeWatches < 0 || cfg.MaxEventWatches < 0 {
		return nil, fmt.Errorf("gateway: watch bounds %d and %d: want 0 (the default) or more", cfg.MaxVolumeWatches, cfg.MaxEventWatches)
	}
	if cfg.MaxVolumeWatches == 0 {
		cfg.MaxVolumeWatches = DefaultMaxVolumeWatches
	}
	if cfg.MaxEventWatches == 0 {
		cfg.MaxEventWatches = DefaultMaxEventWatches
	}
	g := &Gateway{
		conn:    cfg.Conn,
		logger:  cfg.Logger,
		volumes: readmodel.NewMemoryVolumes(),
		nodes:   readmodel.NewMemoryNodes(),
		health:  health.NewServer(),
		done:    make(chan struct{}),

		volumeWatches: grpcapi.NewWatchLimit("WatchVolume", "--max-volume-watches", cfg.MaxVolumeWatches),
		eventWatches:  grpcapi.NewWatchLimit("WatchEvents", "--max-event-watches", cfg.MaxEventWatches),
	}
	// Snapshots first: the projector resumes from what they cover, so a
	// start replays only the tail of the log.
	snaps := snapshot.NewStore(cfg.Conn.JS)
	models := map[string]readmodel.Snapshotter{"gateway-volumes": g.volumes, "gateway-nodes": g.nodes}
	for name, m := range models {
		if err := readmodel.RestoreLatest(ctx, snaps, cfg.Conn.Store, m, name, g.logger); err != nil {
			return nil, fmt.Errorf("gateway: %w", err)
		}
	}
	g.projector = readmodel.StartProjector(cfg.Conn.Store, g.logger, g.volumes, g.nodes)
	g.loads = readmodel.FollowLoads(cfg.Conn.JS, g.nodes, g.logger)
	for _, p := range []readmodel.Projection{g.volumes, g.nodes} {
		if err := readmodel.Sync(ctx, cfg.Conn.Store, p); err != nil {
			g.projector.Stop()
			g.loads.Stop()
			return nil, fmt.Errorf("gateway: build read models: %w", err)
		}
	}
	g.watchNATS()
	policy := cfg.Snapshots
	if policy == (snapshot.Policy{}) {
		policy = snapshot.DefaultPolicy
	}
	var snapCtx context.Context
	snapCtx, g.stopSnapshots = context.WithCancel(context.Background())
	for name, m := range models {
		g.snapshotting.Go(func() { snapshot.Run(snapCtx, snaps, name, m, policy, g.logger) })
	}
	return g, nil
}

// watchNATS keeps the health service true to the connection: NOT_SERVING
// while NATS is unreachable (commands wait and reads fail fast then), SERVING
// once it is back.
func (g *Gateway) watchNATS() {
	nc := g.conn.NC
	changes := nc.StatusChanged(nats.CONNECTED, nats.RECONNECTING, nats.DISCONNECTED, nats.CLOSED)
	set := func(up bool) {
		st := healthpb.HealthCheckResponse_NOT_SERVING
		if up {
			st = healthpb.HealthCheckResponse_SERVING
		}
		g.health.SetServingStatus("", st)
		for _, name := range grpcapi.ServiceNames {
			g.health.SetServingStatus(name, st)
		}
	}
	set(nc.IsConnected())
	go func() {
		defer nc.RemoveStatusListener(changes)
		for {
			select {
			case st := <-changes:
				if st == nats.CONNECTED {
					g.logger.Info("event log reachable again; serving")
				} else {
					g.logger.Warn("event log unreachable; not serving", "nats", st.String())
				}
				set(st == nats.CONNECTED)
			case <-g.done:
				return
			}
		}
	}()
}

// Register registers the API, the standard health service and server
// reflection (so that grpcurl works without the protos) on s.
func (g *Gateway) Register(s *grpc.Server) { g.register(s, g.done) }

func (g *Gateway) register(s *grpc.Server, done <-chan struct{}) {
	grpcapi.Register(s, grpcapi.Config{
		NC:      g.conn.NC,
		Log:     g.conn.Store,
		Volumes: g.volumes,
		Nodes:   g.nodes,
		Done:    done,
		Logger:  g.logger,

		VolumeWatches: g.volumeWatches,
		EventWatches:  g.eventWatches,
	})
	healthpb.RegisterHealthServer(s, g.health)
	reflection.Register(s)
}

// NewServer returns a gRPC server with the gateway's options: keepalive
// that suits long watches, and a log line per failed call.
func (g *Gateway) NewServer(opts ...grpc.ServerOption) *grpc.Server {
	opts = append([]grpc.ServerOption{
		// Clients that follow a watch ping to keep idle connections
		// alive through NAT and load balancers; let them.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: time.Minute}),
		grpc.ChainUnaryInterceptor(g.logUnary),
	}, opts...)
	return grpc.NewServer(opts...)
}

func (g *Gateway) logUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	if err != nil {
		g.logger.Debug("call failed", "method", info.FullMethod, "code", status.Code(err), "err", err, "elapsed", time.Since(start))
	}
	return resp, err
}

// Serve listens on addr (e.g. 127.0.0.1:7400; port 0 picks one) and serves
// the API until ctx ends or the gateway closes, then stops gracefully:
// watches end at once, other calls get shutdownGrace to finish. It returns
// the address it listens on and a wait function that returns when the
// server has stopped, with the error that stopped it, if any.
func (g *Gateway) Serve(ctx context.Context, addr string) (net.Addr, func() error, error) {
	var lc net.ListenConfig
	lis, err := lc.Listen(ctx, "tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		// The operator's question is which address, not which syscall.
		return nil, nil, fmt.Errorf("listen %s: %w", addr, syscall.EADDRINUSE)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	srv := g.NewServer()
	// A channel of this server's own, so that its watches end when its
	// ctx does, even while the gateway serves on.
	stopping := make(chan struct{})
	g.register(srv, stopping)

	var serveErr error
	served := make(chan struct{})
	go func() {
		defer close(served)
		serveErr = srv.Serve(lis)
		if errors.Is(serveErr, grpc.ErrServerStopped) {
			// Stopped before it began to serve: a stop right after a start.
			serveErr = nil
		}
	}()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-ctx.Done():
		case <-g.done:
		case <-served: // the listener failed
		}
		close(stopping)
		graceful(srv)
	}()
	g.logger.Info("gateway serving", "addr", lis.Addr().String())
	wait := sync.OnceValue(func() error {
		<-served
		<-stopped
		return serveErr
	})
	return lis.Addr(), wait, nil
}

// graceful stops srv, cutting off what has not finished after
// shutdownGrace.
func graceful(srv *grpc.Server) {
	done := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(shutdownGrace):
		srv.Stop()
		<-done
	}
}

// Close stops the read models and ends the watches and the servers Serve
// started. It does not close the NATS connection.
func (g *Gateway) Close() error {
	g.closeOnce.Do(func() {
		g.health.Shutdown()
		close(g.done)
		g.projector.Stop()
		g.loads.Stop()
		g.stopSnapshots()
		g.snapshotting.Wait()
	})
	return nil
}
