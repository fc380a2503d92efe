// Package ports is how the world reaches the placement service: the volume
// events it decides on.
package ports

import (
	"context"
	"fmt"

	"ballast.dev/platform/bus"
	"ballast.dev/platform/events"
	pb "ballast.dev/proto/ballast/v1"
	"ballast.dev/services/placement/adapters"
	"ballast.dev/services/placement/app"
	"ballast.dev/services/placement/domain"
)

// VolumeConsumer reads the volume log in order: each decision must see the
// ones before it.
var VolumeConsumer = bus.Consumer{Name: "placement-volumes", Stream: events.Volume.Stream, Filter: events.Volume.Filter(), InOrder: true}

// VolumeEvents routes volume events to the placer.
func VolumeEvents(p *app.Placer) *bus.Mux {
	cause := func(ev bus.Event) string { return fmt.Sprintf("%s/%d", events.Volume.Stream, ev.Sequence) }
	mux := &bus.Mux{}
	bus.On(mux, func(ctx context.Context, ev bus.Event, m *pb.VolumeRequested) error {
		s := m.GetSpec()
		return p.Place(ctx, app.VolumeRequest{Cause: cause(ev), Name: m.GetVolumeName(), Request: domain.Request{
			VolumeID:  m.GetVolumeId(),
			SizeBytes: m.GetSizeBytes(),
			Replicas:  int(s.GetReplicas()),
			Tier:      adapters.TierFromProto(s.GetTier()),
			Spread:    adapters.SpreadFromProto(s.GetSpread()),
		}})
	})
	bus.On(mux, func(ctx context.Context, ev bus.Event, m *pb.VolumeResizeRequested) error {
		return p.Resize(ctx, cause(ev), m.GetVolumeId(), m.GetVolumeName(), m.GetSizeBytes())
	})
	bus.On(mux, func(ctx context.Context, ev bus.Event, m *pb.VolumeDeleted) error {
		return p.Release(ctx, cause(ev), m.GetVolumeId(), m.GetVolumeName())
	})
	return mux
}

// MigrationConsumer reads the moves that are over, to release what they
// no longer hold.
var MigrationConsumer = bus.Consumer{Name: "placement-migrations", Stream: events.Migration.Stream, Filter: events.Migration.Filter()}

// MigrationEvents routes the ends of moves to the mover. requested finds a
// move as it was asked for, from its history.
func MigrationEvents(mv app.Mover, requested func(ctx context.Context, migrationID string) (app.Move, bool, error)) *bus.Mux {
	cause := func(ev bus.Event) string { return fmt.Sprintf("%s/%d", events.Migration.Stream, ev.Sequence) }
	settle := func(ctx context.Context, ev bus.Event, id string, completed bool) error {
		m, ok, err := requested(ctx, id)
		if err != nil || !ok {
			return err
		}
		return mv.Settle(ctx, cause(ev), m, completed)
	}
	mux := &bus.Mux{}
	bus.On(mux, func(ctx context.Context, ev bus.Event, m *pb.MigrationCompleted) error {
		return settle(ctx, ev, m.GetMigrationId(), true)
	})
	bus.On(mux, func(ctx context.Context, ev bus.Event, m *pb.MigrationRolledBack) error {
		return settle(ctx, ev, m.GetMigrationId(), false)
	})
	return mux
}

// MetricsConsumer reads the nodes' health as the metrics service found it.
var MetricsConsumer = bus.Consumer{Name: "placement-metrics", Stream: events.Metrics.Stream, Filter: events.Metrics.Filter()}

// MetricsEvents routes nodes' health to their states, and hotspots to the
// rebalancer (hot, with whether the node became one or ceased to be).
func MetricsEvents(nodes app.NodeStates, hot func(node string, is bool, clear float64)) *bus.Mux {
	cause := func(ev bus.Event) string { return fmt.Sprintf("%s/%d", events.Metrics.Stream, ev.Sequence) }
	mux := &bus.Mux{}
	bus.On(mux, func(ctx context.Context, ev bus.Event, m *pb.NodeSuspected) error {
		return nodes.Health(ctx, cause(ev), m.GetNodeId(), domain.NodeSuspect, "no telemetry since "+m.GetLastSeenTime().AsTime().Format("15:04:05"))
	})
	bus.On(mux, func(ctx context.Context, ev bus.Event, m *pb.NodeDown) error {
		return nodes.Health(ctx, cause(ev), m.GetNodeId(), domain.NodeDown, "no telemetry since "+m.GetLastSeenTime().AsTime().Format("15:04:05"))
	})
	bus.On(mux, func(ctx context.Context, ev bus.Event, m *pb.NodeRecovered) error {
		return nodes.Health(ctx, cause(ev), m.GetNodeId(), domain.NodeUp, "reports again")
	})
	bus.On(mux, func(_ context.Context, _ bus.Event, m *pb.HotspotDetected) error {
		hot(m.GetNodeId(), true, m.GetClearUtilization())
		return nil
	})
	bus.On(mux, func(_ context.Context, _ bus.Event, m *pb.HotspotCleared) error {
		hot(m.GetNodeId(), false, 0)
		return nil
	})
	return mux
}
