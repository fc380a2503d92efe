// Package volume is the volume service: it owns the Volume aggregate (spec,
// lifecycle, replica set), takes the volume commands, and records what
// placement and the agents report.
package volume

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"ballast.dev/platform/bus"
	"ballast.dev/platform/command"
	"ballast.dev/platform/events"
	"ballast.dev/platform/natsconn"
	"ballast.dev/services/volume/adapters"
	"ballast.dev/services/volume/app"
	"ballast.dev/services/volume/ports"
)

// Version of the service, reported through micro's discovery.
const Version = "0.1.0"

// Config is what the service needs.
type Config struct {
	Conn *natsconn.Conn
}

// Service is a running volume service.
type Service struct {
	commands *command.Server
	router   *bus.Router
	stop     context.CancelFunc
}

// Start runs the service until Close.
func Start(ctx context.Context, cfg Config) (*Service, error) {
	c := cfg.Conn
	log := c.Logger.With("service", "volume")
	repo := adapters.NewRepository(c.Store, log)
	now := events.Now
	ctx, stop := context.WithCancel(ctx)
	s := &Service{stop: stop}

	router, err := bus.NewRouter("volume", c.JS, log)
	if err != nil {
		stop()
		return nil, err
	}
	s.router = router
	reactions := app.Reactions{Repo: repo, Now: now}
	if err := router.Handle(ctx, ports.PlacementConsumer, ports.PlacementEvents(reactions)); err != nil {
		return nil, s.fail(err)
	}
	if err := router.Handle(ctx, ports.NodeConsumer, ports.NodeEvents(reactions)); err != nil {
		return nil, s.fail(err)
	}
	if err := router.Start(ctx); err != nil {
		return nil, s.fail(err)
	}

	srv, err := command.NewServer(ctx, c.NC, "ballast-volume", Version, "Ballast volume commands", log)
	if err != nil {
		return nil, s.fail(err)
	}
	s.commands = srv
	cmds := app.Commands{Repo: repo, NewID: uuid.NewString, Now: now}
	if err := ports.ServeCommands(srv, cmds, log); err != nil {
		return nil, s.fail(err)
	}
	return s, nil
}

func (s *Service) fail(err error) error {
	_ = s.Close()
	return fmt.Errorf("volume service: %w", err)
}

// Close stops taking commands and events, waiting for those in flight.
func (s *Service) Close() error {
	var err error
	if s.commands != nil {
		err = s.commands.Stop()
	}
	if s.router != nil {
		err = errors.Join(err, s.router.Close())
	}
	s.stop()
	return err
}
