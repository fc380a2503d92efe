// Package app holds the migration service's use cases. Today that is one
// query: which migrations the log holds. The Migration saga (started,
// progressed, cut over, completed, failed, rolled back) lands here next.
package app

import (
	"context"
	"fmt"
)

// Head is one migration as its history stands: how many events it has and
// the last one, which is where a saga's state is read from.
type Head struct {
	// ID is the migration id, the last token of its subject.
	ID string
	// Events is the number of events in the migration's history.
	Events uint64
	// LastSequence is the stream sequence of the last event: the
	// expectation for the next append.
	LastSequence uint64
	// LastType is the event type of the last event.
	LastType string
}

// Log is the migration log.
type Log interface {
	// Heads returns every migration in the log, ordered by id.
	Heads(ctx context.Context) ([]Head, error)
}

// ListMigrations is the query for every migration.
type ListMigrations struct{}

// ListMigrationsHandler answers ListMigrations from the log itself, so the
// answer is true even before any read model exists.
type ListMigrationsHandler struct {
	Log Log
}

// Handle answers q.
func (h ListMigrationsHandler) Handle(ctx context.Context, _ ListMigrations) ([]Head, error) {
	heads, err := h.Log.Heads(ctx)
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	return heads, nil
}
