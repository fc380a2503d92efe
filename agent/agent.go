// Package agent is the Ballast agent runtime: it speaks for a fleet of
// simulated storage nodes (package sim). At start it rebuilds every node's
// replicas from the node event log and registers the nodes whose spec
// changed; then it reacts to volume events by creating, growing and deleting
// replicas and appending the results to the nodes' histories, and it
// publishes each node's telemetry at a steady interval.
//
// The event log is the agent's only memory: a restarted agent replays its
// nodes' histories, so nothing about replicas is kept anywhere else.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"ballast.dev/agent/sim"
	"ballast.dev/platform/bus"
	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
	"ballast.dev/platform/natsconn"
	"ballast.dev/platform/snapshot"
)

// Defaults for a Config's zero fields.
const (
	DefaultNodes             = 12
	DefaultZones             = 3
	DefaultTelemetryInterval = 5 * time.Second
)

// volumeConcurrency is how many volume events are handled at once. Events
// for different nodes do not contend; those for one node queue on its lock.
const volumeConcurrency = 16

// Config says which fleet an agent simulates and where it talks.
type Config struct {
	// Conn is the NATS connection, its event store and logger. Required.
	Conn *natsconn.Conn
	// Name is the agent process's name, e.g. "sim". It names the durable
	// consumer ("agent-<name>") and is stamped on NodeRegistered. Required;
	// it must be usable as a subject token.
	Name string
	// Seed makes the fleet and the replicas' workloads deterministic.
	Seed int64
	// Nodes and Zones size the simulated fleet; zero means 12 and 3.
	Nodes, Zones int
	// TelemetryInterval is how often every node's telemetry is published;
	// zero means 5s, negative disables telemetry.
	TelemetryInterval time.Duration
	// Snapshots says how often the nodes' state is snapshotted; zero is
	// snapshot.DefaultPolicy.
	Snapshots snapshot.Policy
}

// Agent is a running agent. Close stops it.
type Agent struct {
	cfg    Config
	log    *slog.Logger
	store  *eventstore.Store
	js     jetstream.JetStream
	stream jetstream.Stream // the node stream, for refreshing a subject's last sequence

	// fleetMu guards ids and nodes, which Grow extends while handlers
	// run; ids is replaced, never changed in place, so a reader may keep
	// the slice it got.
	fleetMu sync.RWMutex
	growMu  sync.Mutex // one Grow at a time
	ids     []string   // sorted
	nodes   map[string]*node

	snaps *snapshot.Store
	model *agentModel

	// byVolume indexes our live replicas by volume id, so that a resize or
	// delete finds them without scanning every node.
	idxMu    sync.Mutex
	byVolume map[string][]replicaRef // a volume has few replicas: a slice, not a map

	// hot holds the hotspots injected, by volume id: a replica of the
	// volume made later (a move's target) is as hot, since the load is
	// the volume's, not the disk's.
	hotMu sync.Mutex
	hot   map[string]injected

	cancel    context.CancelFunc
	router    *bus.Router
	copySub   *nats.Subscription
	simSub    *nats.Subscription
	growSub   *nats.Subscription
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// replicaRef names one replica on one of our nodes.
type replicaRef struct {
	node, replica string
}

// Start builds the fleet, rebuilds its replicas from the node stream,
// registers the nodes whose spec changed, and starts the volume handlers and
// telemetry. It returns once every node is registered and the handlers run;
// ctx bounds the start only, Close stops the agent.
func Start(ctx context.Context, cfg Config) (*Agent, error) {
	if cfg.Conn == nil {
		return nil, errors.New("agent: Config.Conn is required")
	}
	if cfg.Name == "" || strings.ContainsAny(cfg.Name, ".*> \t\r\n") {
		return nil, fmt.Errorf("agent: name %q must be a non-empty subject token", cfg.Name)
	}
	switch {
	case cfg.Nodes == 0:
		cfg.Nodes = DefaultNodes
	case cfg.Nodes < 0:
		return nil, fmt.Errorf("agent: %d nodes", cfg.Nodes)
	}
	if cfg.Zones <= 0 {
		cfg.Zones = DefaultZones
	}
	if cfg.TelemetryInterval == 0 {
		cfg.TelemetryInterval = DefaultTelemetryInterval
	}
	logger := cfg.Conn.Logger
	if logger == nil {
		logger = slog.Default()
	}
	a := &Agent{
		cfg:      cfg,
		log:      logger.With("agent", cfg.Name),
		store:    cfg.Conn.Store,
		js:       cfg.Conn.JS,
		nodes:    map[string]*node{},
		byVolume: map[string][]replicaRef{},
		snaps:    snapshot.NewStore(cfg.Conn.JS),
	}
	a.model = &agentModel{a: a}
	if cfg.Snapshots == (snapshot.Policy{}) {
		cfg.Snapshots = snapshot.DefaultPolicy
		a.cfg.Snapshots = cfg.Snapshots
	}
	if _, err := a.addNodes(cfg.Nodes); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}

	var err error
	if a.stream, err = a.js.Stream(ctx, events.Node.Stream); err != nil {
		return nil, fmt.Errorf("agent: node stream: %w", err)
	}
	started := time.Now()
	if err := a.replay(ctx); err != nil {
		return nil, fmt.Errorf("agent: rebuild nodes: %w", err)
	}
	registered, err := a.register(ctx, a.nodeIDs())
	if err != nil {
		return nil, fmt.Errorf("agent: register nodes: %w", err)
	}
	a.log.Info("nodes ready", "nodes", len(a.nodeIDs()), "registered", registered, "took", time.Since(started))

	runCtx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	if err := a.startHandlers(ctx, runCtx); err != nil {
		cancel()
		a.wg.Wait()
		return nil, fmt.Errorf("agent: %w", err)
	}
	if a.copySub, err = a.serveCopies(runCtx); err != nil {
		_ = a.Close()
		return nil, fmt.Errorf("agent: serve copies: %w", err)
	}
	if a.simSub, err = a.serveSim(runCtx); err != nil {
		_ = a.Close()
		return nil, fmt.Errorf("agent: serve the simulator: %w", err)
	}
	if a.growSub, err = a.serveGrow(runCtx); err != nil {
		_ = a.Close()
		return nil, fmt.Errorf("agent: serve the simulator: %w", err)
	}
	if cfg.TelemetryInterval > 0 {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.runTelemetry(runCtx)
		}()
	}
	a.wg.Go(func() { snapshot.Run(runCtx, a.snaps, a.snapshotName(), a.model, cfg.Snapshots, a.log) })
	return a, nil
}

// startHandlers runs the volume event handlers on runCtx and waits until
// they run.
func (a *Agent) startHandlers(ctx, runCtx context.Context) error {
	name := "agent-" + a.cfg.Name
	router, err := bus.NewRouter(name, a.js, a.log.With("service", name))
	if err != nil {
		return err
	}
	mux := &bus.Mux{}
	bus.On(mux, a.onReplicasAssigned)
	bus.On(mux, a.onVolumeResizeApproved)
	bus.On(mux, a.onVolumeResized)
	bus.On(mux, a.onVolumeDeleteRequested)
	bus.On(mux, a.onReplicaAdded)
	bus.On(mux, a.onReplicaPromoted)
	bus.On(mux, a.onReplicaRetired)
	if err := router.Handle(ctx, bus.Consumer{
		Name:        name,
		Stream:      events.Volume.Stream,
		Filter:      events.Volume.Filter(),
		Concurrency: volumeConcurrency,
	}, mux); err != nil {
		_ = router.Close()
		return err
	}
	a.router = router
	if err := router.Start(runCtx); err != nil {
		return fmt.Errorf("volume handlers: %w", err)
	}
	return nil
}

// Nodes returns the ids of the agent's nodes, sorted.
func (a *Agent) Nodes() []string { return slices.Clone(a.nodeIDs()) }

// SimNode returns the simulated node id, for observing it and for
// scenarios that inject hotspots or workloads. Changing its replicas
// directly would put it out of step with the event log.
func (a *Agent) SimNode(id string) (*sim.Node, bool) {
	n, ok := a.node(id)
	if !ok {
		return nil, false
	}
	return n.sim, true
}

// Close stops the handlers and telemetry and waits for them; handlers in
// flight finish first. It is safe to call more than once.
func (a *Agent) Close() error {
	a.closeOnce.Do(func() {
		for _, sub := range []*nats.Subscription{a.copySub, a.simSub, a.growSub} {
			if sub != nil {
				_ = sub.Unsubscribe()
			}
		}
		if a.router != nil {
			a.closeErr = a.router.Close()
		}
		a.cancel()
		a.wg.Wait()
		a.log.Info("agent stopped")
	})
	return a.closeErr
}
