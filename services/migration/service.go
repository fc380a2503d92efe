// Package migration is the migration service. It will own the Migration
// aggregate, one replica move as a saga; today it answers which migrations
// the log holds.
package migration

import (
	"context"
	"fmt"

	"ballast.dev/platform/command"
	"ballast.dev/platform/natsconn"
	"ballast.dev/services/migration/adapters"
	"ballast.dev/services/migration/app"
	"ballast.dev/services/migration/ports"
)

// Version of the service, reported through micro's discovery.
const Version = "0.1.0"

// Config is what the service needs.
type Config struct {
	Conn *natsconn.Conn
}

// Service is a running migration service.
type Service struct {
	commands *command.Server
	stop     context.CancelFunc
}

// Start serves the migration endpoints until Close.
func Start(ctx context.Context, cfg Config) (*Service, error) {
	c := cfg.Conn
	log := c.Logger.With("service", "migration")
	ctx, stop := context.WithCancel(ctx)
	s := &Service{stop: stop}
	srv, err := command.NewServer(ctx, c.NC, "ballast-migration", Version, "Ballast migrations", log)
	if err != nil {
		stop()
		return nil, fmt.Errorf("migration service: %w", err)
	}
	s.commands = srv
	list := app.ListMigrationsHandler{Log: adapters.Log{JS: c.JS}}
	if err := ports.ServeCommands(srv, list, log); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("migration service: %w", err)
	}
	return s, nil
}

// Close stops serving; requests in flight are refused or finish.
func (s *Service) Close() error {
	var err error
	if s.commands != nil {
		err = s.commands.Stop()
	}
	s.stop()
	return err
}
