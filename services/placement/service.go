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

	"ballast.dev/platform/bus"
	"ballast.dev/platform/command"
	"ballast.dev/platform/natsconn"
	"ballast.dev/platform/snapshot"
	"ballast.dev/services/placement/adapters"
	"ballast.dev/services/placement/app"
	"ballast.dev/services/placement/ports"
)

// Version of the service, reported through micro's discovery.
const Version = "0.1.0"

// Config is what the service needs.
type Config struct {
	Conn *natsconn.Conn
	// Overcommit lets disks hold reservations up to capacity times this; 0
	// means 1 (none).
	Overcommit float64
	// Snapshots says how often the cluster model is snapshotted; zero is
	// snapshot.DefaultPolicy.
	Snapshots snapshot.Policy
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
	if err := router.Start(ctx); err != nil {
		return nil, s.fail(err)
	}

	srv, err := command.NewServer(ctx, c.NC, "ballast-placement", Version, "Ballast placement queries", log)
	if err != nil {
		return nil, s.fail(err)
	}
	s.commands = srv
	explainer := app.NewExplainer(ctx, adapters.History{Store: c.Store}, adapters.Replayer{Store: c.Store, Log: log})
	if err := ports.ServeCommands(srv, explainer, log); err != nil {
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
