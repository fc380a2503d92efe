// Package migration is the migration service. It owns the Migration
// aggregate, one replica move as a saga: a move placement asked for waits
// in a queue until the throttles admit it, then its target is added to the
// volume's set as rebuilding, provisioned and filled by its agent, promoted
// in the source's place, and the source removed; a step that fails rolls
// the move back. Every step is an event, and a restarted service carries
// on from them.
package migration

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"ballast.dev/platform/bus"
	"ballast.dev/platform/command"
	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
	"ballast.dev/platform/natsconn"
	"ballast.dev/services/migration/adapters"
	"ballast.dev/services/migration/app"
	"ballast.dev/services/migration/domain"
	"ballast.dev/services/migration/ports"
)

// Version of the service, reported through micro's discovery.
const Version = "0.2.0"

// Config is what the service needs.
type Config struct {
	Conn *natsconn.Conn
	// Limits are the throttles; zero is domain.DefaultLimits.
	Limits domain.Limits
	// Timeouts bound the steps that wait on others; zero is
	// app.DefaultTimeouts.
	Timeouts app.Timeouts
}

// Service is a running migration service.
type Service struct {
	commands *command.Server
	router   *bus.Router
	follow   eventstore.Subscription
	stop     context.CancelFunc
	engine   sync.WaitGroup
}

// Start follows the migration log, drives the moves and serves the
// migration endpoints until Close.
func Start(ctx context.Context, cfg Config) (*Service, error) {
	c := cfg.Conn
	log := c.Logger.With("service", "migration")
	if cfg.Limits == (domain.Limits{}) {
		cfg.Limits = domain.DefaultLimits
	}
	if err := cfg.Limits.Validate(); err != nil {
		return nil, err
	}
	if cfg.Timeouts == (app.Timeouts{}) {
		cfg.Timeouts = app.DefaultTimeouts
	}
	ctx, stop := context.WithCancel(ctx)
	s := &Service{stop: stop}
	state := app.NewState()
	follow, err := adapters.Follow(ctx, c.Store, state, log)
	if err != nil {
		stop()
		return nil, fmt.Errorf("migration service: %w", err)
	}
	s.follow = follow
	journal := adapters.Journal{Store: c.Store, State: state}
	volumes := adapters.Volumes{NC: c.NC}
	now := func() time.Time { return events.Now() }

	router, err := bus.NewRouter("migration", c.JS, log)
	if err != nil {
		return nil, s.fail(err)
	}
	s.router = router
	reactions := app.Reactions{State: state, Journal: journal, Volumes: volumes, Now: now}
	if err := router.Handle(ctx, ports.VolumeConsumer, ports.VolumeEvents(reactions)); err != nil {
		return nil, s.fail(err)
	}
	if err := router.Handle(ctx, ports.NodeConsumer, ports.NodeEvents(reactions)); err != nil {
		return nil, s.fail(err)
	}
	if err := router.Start(ctx); err != nil {
		return nil, s.fail(err)
	}

	engine := &app.Engine{State: state, Journal: journal, Volumes: volumes, Copier: adapters.Copier{NC: c.NC},
		Limits: cfg.Limits, Timeouts: cfg.Timeouts, Log: log, Now: now}
	s.engine.Go(func() { engine.Run(ctx) })

	srv, err := command.NewServer(ctx, c.NC, "ballast-migration", Version, "Ballast migrations", log)
	if err != nil {
		return nil, s.fail(err)
	}
	s.commands = srv
	if err := ports.ServeCommands(srv, app.Commands{State: state, Journal: journal, Now: now}, state, log); err != nil {
		return nil, s.fail(err)
	}
	return s, nil
}

func (s *Service) fail(err error) error {
	_ = s.Close()
	return fmt.Errorf("migration service: %w", err)
}

// Close stops serving and driving; a restarted service carries on from the
// log.
func (s *Service) Close() error {
	var err error
	if s.commands != nil {
		err = s.commands.Stop()
	}
	if s.router != nil {
		err = errors.Join(err, s.router.Close())
	}
	s.stop()
	s.engine.Wait()
	if s.follow != nil {
		s.follow.Stop()
	}
	return err
}
