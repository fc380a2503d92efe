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
