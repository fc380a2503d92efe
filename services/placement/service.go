// Package placement is the placement service: it owns the cluster model and
// every placement decision. It records each decision with a summary that
// stays small at any fleet size, and explains any past decision in full by
// recomputing it from the log.
package placement

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"ballast.dev/platform/bus"
	"ballast.dev/platform/command"
	"ballast.dev/platform/natsconn"
	"ballast.dev/platform/snapshot"
	"ballast.dev/services/placement/adapters"
	"ballast.dev/services/placement/app"
	"ballast.dev/services/placement/balance"
	"ballast.dev/services/placement/domain"
	"ballast.dev/services/placement/ports"
)

// Version of the service, reported through micro's discovery.
const Version = "0.1.0"

// drainEvery is how often placement looks for replicas to move off
// draining nodes.
const drainEvery = 2 * time.Second

// Config is what the service needs.
type Config struct {
	Conn *natsconn.Conn
	// Overcommit lets disks hold reservations up to capacity times this; 0
	// means 1 (none).
	Overcommit float64
	// Snapshots says how often the cluster model is snapshotted; zero is
	// snapshot.DefaultPolicy.
	Snapshots snapshot.Policy
	// RebalanceEvery is how often the planner runs and its moves are
	// admitted; 0 is a minute, negative never.
	RebalanceEvery time.Duration
	// MoveBandwidth is the copy bandwidth the migration throttles allow,
	// bytes per second, for the dry run's time estimate; 0 gives none (no
	// limit, or none known).
	MoveBandwidth uint64
	// MaxMoves bounds the volumes the rebalancer's routine moves (balance,
	// capacity) keep under way; 0 is 32 less the quarter the migration
	// service keeps for urgent moves.
	MaxMoves int
}

// Service is a running placement service.
type Service struct {
	model    *adapters.Model
	router   *bus.Router
	commands *command.Server
	stop     context.CancelFunc
	// snapshotting ends with stopSnapshots, after the router: the last
	// snapshot covers every decision made.
	stopSnapshots context.CancelFunc
	snapshotting  sync.WaitGroup
}

// Start rebuilds the cluster model from the log and starts deciding.
func Start(ctx context.Context, cfg Config) (*Service, error) {
	c := cfg.Conn
	log := c.Logger.With("service", "placement")
	if cfg.Overcommit == 0 {
		cfg.Overcommit = 1
	}
	if cfg.Snapshots == (snapshot.Policy{}) {
		cfg.Snapshots = snapshot.DefaultPolicy
	}
	ctx, stop := context.WithCancel(ctx)
	s := &Service{stop: stop}
	snaps := snapshot.NewStore(c.JS)
	model, err := adapters.NewModel(ctx, c.Store, snaps, cfg.Overcommit, log)
	if err != nil {
		stop()
		return nil, fmt.Errorf("placement service: %w", err)
	}
	s.model = model
	snapCtx, stopSnapshots := context.WithCancel(context.WithoutCancel(ctx))
	s.stopSnapshots = stopSnapshots
	s.snapshotting.Go(func() { snapshot.Run(snapCtx, snaps, adapters.SnapshotName, model, cfg.Snapshots, log) })
	router, err := bus.NewRouter("placement", c.JS, log)
	if err != nil {
		return nil, s.fail(err)
	}
	s.router = router
	placer := &app.Placer{Model: model, Journal: adapters.Journal{Store: c.Store, Recorded: model.Recorded}}
	if err := router.Handle(ctx, ports.VolumeConsumer, ports.VolumeEvents(placer)); err != nil {
		return nil, s.fail(err)
	}
	journal := adapters.Journal{Store: c.Store, Recorded: model.Recorded}
	mover := app.Mover{Model: model, Journal: journal, Migrations: adapters.Migrations{NC: c.NC}}
	if err := router.Handle(ctx, ports.MigrationConsumer, ports.MigrationEvents(mover, journal.Requested)); err != nil {
		return nil, s.fail(err)
	}
	nodes := app.NodeStates{Model: model, Log: adapters.NodeStateLog{Store: c.Store, Recorded: model.Recorded}}
	hot := make(chan struct{}, 1)
	var hotMu sync.Mutex
	// hot node → the bar it must fall under to clear: those found before
	// this start, then as the metrics consumer tells.
	hotNodes, err := adapters.Hotspots(ctx, c.Store)
	if err != nil {
		return nil, s.fail(err)
	}
	nudge := func(node string, is bool, clear float64) {
		hotMu.Lock()
		if is {
			hotNodes[node] = clear
		} else {
			delete(hotNodes, node)
		}
		hotMu.Unlock()
		if is {
			select {
			case hot <- struct{}{}:
			default:
			}
		}
	}
	hotspots := func() int {
		hotMu.Lock()
		defer hotMu.Unlock()
		return len(hotNodes)
	}
	isHot := func(node string) bool {
		hotMu.Lock()
		defer hotMu.Unlock()
		_, ok := hotNodes[node]
		return ok
	}
	reliefBar := func(node string) float64 {
		hotMu.Lock()
		defer hotMu.Unlock()
		return hotNodes[node]
	}
	if err := router.Handle(ctx, ports.MetricsConsumer, ports.MetricsEvents(nodes, nudge)); err != nil {
		return nil, s.fail(err)
	}
	drainer := app.Drainer{Model: model, Holdings: model, Mover: mover, Volumes: adapters.Volumes{NC: c.NC}, Log: log}
	s.snapshotting.Go(func() { drainer.Run(snapCtx, drainEvery) })
	if err := router.Start(ctx); err != nil {
		return nil, s.fail(err)
	}

	srv, err := command.NewServer(ctx, c.NC, "ballast-placement", Version, "Ballast placement queries", log)
	if err != nil {
		return nil, s.fail(err)
	}
	s.commands = srv
	explainer := app.NewExplainer(ctx, adapters.History{Store: c.Store}, adapters.Replayer{Store: c.Store, Log: log})
	// A hot node's next summary asks for a pass: the loads the pass at
	// the hotspot planned on may be a window behind it (the hotspot starts
	// on the open window), and this one shows it.
	var rebalancing atomic.Pointer[app.Rebalancer] // set below, if there is one
	loads, err := adapters.WatchLoads(snapCtx, c.JS, func(node string) {
		if r := rebalancing.Load(); r != nil && isHot(node) && !r.Relieving(node) {
			select {
			case hot <- struct{}{}:
			default:
			}
		}
	})
	if err != nil {
		return nil, s.fail(err)
	}
	planner := app.Planner{Model: model, Holdings: model, Loads: loads, Config: balance.Config{}, CopyBandwidth: cfg.MoveBandwidth}
	// A dry run plans as the rebalancer's next pass would, when there is
	// one.
	planning := func() app.Planner { return planner }
	if cfg.RebalanceEvery == 0 {
		cfg.RebalanceEvery = time.Minute
	}
	if cfg.RebalanceEvery > 0 {
		upNodes := func() (ids []string) {
			model.View(func(c *domain.Cluster, _ app.Position, _ func(string) uint64) { ids = c.UpNodes() })
			return ids
		}
		rebalancer := app.NewRebalancer(app.Rebalancer{MaxInFlight: cfg.MaxMoves, Planner: planner, Mover: mover, Holdings: model, Now: time.Now, Log: log, Hot: hot, Hotspots: hotspots, IsHot: isHot, ReliefBar: reliefBar, UpNodes: upNodes})
		rebalancing.Store(rebalancer)
		s.snapshotting.Go(func() { rebalancer.Run(snapCtx, cfg.RebalanceEvery) })
		planning = rebalancer.Planning
	}
	if err := ports.ServeCommands(srv, explainer, nodes, mover, planning, log); err != nil {
		return nil, s.fail(err)
	}
	return s, nil
}

func (s *Service) fail(err error) error {
	_ = s.Close()
	return fmt.Errorf("placement service: %w", err)
}

// Close stops deciding and explaining.
func (s *Service) Close() error {
	var err error
	if s.commands != nil {
		err = s.commands.Stop()
	}
	if s.router != nil {
		err = errors.Join(err, s.router.Close())
	}
	if s.stopSnapshots != nil {
		s.stopSnapshots()
		s.snapshotting.Wait()
	}
	if s.model != nil {
		s.model.Close()
	}
	s.stop()
	return err
}
