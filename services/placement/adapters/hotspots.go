package adapters

import (
	"context"
	"fmt"

	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
	pb "ballast.dev/proto/ballast/v1"
)

// Hotspots reads from the metrics stream the nodes that are hotspots now,
// each with the utilisation it must fall under to clear: what a placement
// that starts again knows of the hotspots found before, which its metrics
// consumer, going on after what it had handled, would not tell it again.
func Hotspots(ctx context.Context, store *eventstore.Store) (map[string]float64, error) {
	hot := map[string]float64{}
	err := store.Replay(ctx, events.Metrics.Stream, func(rec eventstore.Record) error {
		m, err := events.Read(rec.Subject, rec.Type, rec.Data)
		if err != nil {
			return nil // counted and dead-lettered by the consumers
		}
		switch e := m.(type) {
		case *pb.HotspotDetected:
			hot[e.GetNodeId()] = e.GetClearUtilization()
		case *pb.HotspotCleared:
			delete(hot, e.GetNodeId())
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hotspots: %w", err)
	}
	return hot, nil
}
