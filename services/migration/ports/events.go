package ports

import (
	"context"
	"fmt"

	"ballast.dev/platform/bus"
	"ballast.dev/platform/events"
	pb "ballast.dev/proto/ballast/v1"
	"ballast.dev/services/migration/app"
)

// Consumers of the migration service: the volume's replica-set changes and
// the agents' copies.
var (
	VolumeConsumer = bus.Consumer{Name: "migration-volumes", Stream: events.Volume.Stream, Filter: events.Volume.Filter()}
	NodeConsumer   = bus.Consumer{Name: "migration-nodes", Stream: events.Node.Stream, Filter: events.Node.Filter()}
)

func cause(stream string, ev bus.Event) string { return fmt.Sprintf("%s/%d", stream, ev.Sequence) }

// VolumeEvents routes the volume events that confirm a move's steps.
func VolumeEvents(r app.Reactions) *bus.Mux {
	s := events.Volume.Stream
	mux := &bus.Mux{}
	bus.On(mux, func(ctx context.Context, ev bus.Event, m *pb.ReplicaAdded) error {
		if m.GetMigrationId() == "" {
			return nil
		}
		return r.TargetAdded(ctx, cause(s, ev), m.GetMigrationId(), m.GetGeneration())
	})
	bus.On(mux, func(ctx context.Context, ev bus.Event, m *pb.ReplicaConfirmed) error {
		return r.ReplicaProvisioned(ctx, cause(s, ev), m.GetReplicaId())
	})
	bus.On(mux, func(ctx context.Context, ev bus.Event, m *pb.ReplicaFailed) error {
		return r.ReplicaFailed(ctx, cause(s, ev), m.GetReplicaId(), m.GetReason())
	})
	bus.On(mux, func(ctx context.Context, ev bus.Event, m *pb.ReplicaPromoted) error {
		if m.GetMigrationId() == "" {
			return nil
		}
		return r.Promoted(ctx, cause(s, ev), m.GetMigrationId(), m.GetGeneration())
	})
	bus.On(mux, func(ctx context.Context, ev bus.Event, m *pb.ReplicaRemoved) error {
		return r.ReplicaRemoved(ctx, cause(s, ev), m.GetReplicaId())
	})
	bus.On(mux, func(ctx context.Context, ev bus.Event, m *pb.VolumeDeleteRequested) error {
		return r.VolumeDeleted(ctx, cause(s, ev), m.GetVolumeId())
	})
	bus.On(mux, func(ctx context.Context, ev bus.Event, m *pb.VolumeDeleted) error {
		return r.VolumeDeleted(ctx, cause(s, ev), m.GetVolumeId())
	})
	return mux
}

// NodeEvents routes the agents' copy reports.
func NodeEvents(r app.Reactions) *bus.Mux {
	s := events.Node.Stream
	mux := &bus.Mux{}
	bus.On(mux, func(ctx context.Context, ev bus.Event, m *pb.ReplicaCopied) error {
		return r.Copied(ctx, cause(s, ev), m.GetMigrationId())
	})
	bus.On(mux, func(ctx context.Context, ev bus.Event, m *pb.ReplicaCopyFailed) error {
		return r.CopyFailed(ctx, cause(s, ev), m.GetMigrationId(), m.GetReason())
	})
	bus.On(mux, func(_ context.Context, _ bus.Event, m *pb.ReplicaCopyProgressed) error {
		r.CopyProgressed(m.GetMigrationId(), m.GetCopiedBytes(), m.GetBytes(), m.GetBytesPerSecond())
		return nil
	})
	return mux
}
