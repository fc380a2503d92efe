package ports

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"ballast.dev/platform/bus"
	"ballast.dev/platform/events"
	pb "ballast.dev/proto/ballast/v1"
	"ballast.dev/services/volume/app"
	"ballast.dev/services/volume/domain"
)

// Consumers of the volume service: what placement decided, and what the
// agents did.
var (
	PlacementConsumer = bus.Consumer{Name: "volume-placement", Stream: events.Placement.Stream, Filter: events.Placement.Filter()}
	NodeConsumer      = bus.Consumer{Name: "volume-nodes", Stream: events.Node.Stream, Filter: events.Node.Filter()}
)

// on registers a reaction: a refusal no retry can change (a damaged
// history, an invalid name) goes to the dead letters at once, with its
// reason, to be replayed after the repair.
func on[T proto.Message](mux *bus.Mux, fn func(ctx context.Context, ev bus.Event, m T) error) {
	bus.On(mux, func(ctx context.Context, ev bus.Event, m T) error {
		err := fn(ctx, ev, m)
		if errors.Is(err, domain.ErrDamaged) || errors.Is(err, domain.ErrInvalidArgument) {
			return bus.Permanent(err)
		}
		return err
	})
}

func report(stream string, ev bus.Event, volumeID, name string) app.Report {
	return app.Report{Cause: fmt.Sprintf("%s/%d", stream, ev.Sequence), VolumeID: volumeID, Name: name}
}

// PlacementEvents routes placement's decisions to the reactions.
func PlacementEvents(r app.Reactions) *bus.Mux {
	stream := events.Placement.Stream
	mux := &bus.Mux{}
	on(mux, func(ctx context.Context, ev bus.Event, m *pb.PlacementDecided) error {
		replicas := make([]domain.Replica, len(m.GetPlacements()))
		for i, p := range m.GetPlacements() {
			replicas[i] = domain.Replica{ID: p.GetReplicaId(), NodeID: p.GetNodeId(), DiskID: p.GetDiskId(), Zone: p.GetZone()}
		}
		return r.Placed(ctx, report(stream, ev, m.GetVolumeId(), m.GetVolumeName()), m.GetSizeBytes(), replicas)
	})
	on(mux, func(ctx context.Context, ev bus.Event, m *pb.PlacementFailed) error {
		return r.PlacementFailed(ctx, report(stream, ev, m.GetVolumeId(), m.GetVolumeName()), m.GetReason())
	})
	on(mux, func(ctx context.Context, ev bus.Event, m *pb.ResizeApproved) error {
		return r.ResizeApproved(ctx, report(stream, ev, m.GetVolumeId(), m.GetVolumeName()), m.GetSizeBytes())
	})
	on(mux, func(ctx context.Context, ev bus.Event, m *pb.ResizeRejected) error {
		return r.ResizeRejected(ctx, report(stream, ev, m.GetVolumeId(), m.GetVolumeName()), m.GetSizeBytes(), m.GetReason())
	})
	return mux
}

// NodeEvents routes the agents' results to the reactions.
func NodeEvents(r app.Reactions) *bus.Mux {
	stream := events.Node.Stream
	mux := &bus.Mux{}
	on(mux, func(ctx context.Context, ev bus.Event, m *pb.ReplicaProvisioned) error {
		return r.ReplicaProvisioned(ctx, report(stream, ev, m.GetVolumeId(), m.GetVolumeName()), m.GetReplicaId(), m.GetNodeId())
	})
	on(mux, func(ctx context.Context, ev bus.Event, m *pb.ReplicaProvisionFailed) error {
		return r.ReplicaProvisionFailed(ctx, report(stream, ev, m.GetVolumeId(), m.GetVolumeName()), m.GetReplicaId(), m.GetNodeId(), m.GetReason())
	})
	on(mux, func(ctx context.Context, ev bus.Event, m *pb.ReplicaExpanded) error {
		return r.ReplicaExpanded(ctx, report(stream, ev, m.GetVolumeId(), m.GetVolumeName()), m.GetReplicaId(), m.GetNodeId(), m.GetSizeBytes())
	})
	on(mux, func(ctx context.Context, ev bus.Event, m *pb.ReplicaDeleted) error {
		return r.ReplicaDeleted(ctx, report(stream, ev, m.GetVolumeId(), m.GetVolumeName()), m.GetReplicaId(), m.GetNodeId())
	})
	return mux
}
