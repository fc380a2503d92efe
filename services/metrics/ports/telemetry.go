// Package ports is how the world reaches the metrics service: the raw
// telemetry agents publish.
package ports

import (
	"context"
	"errors"
	"log/slog"

	"ballast.dev/platform/bus"
	"ballast.dev/platform/events"
	pb "ballast.dev/proto/ballast/v1"
	"ballast.dev/services/metrics/adapters"
	"ballast.dev/services/metrics/app"
	"ballast.dev/services/metrics/domain"
)

// TelemetryConsumer reads every node's telemetry. Order across nodes does
// not matter and one node's samples are serialized by the summarizer, so
// samples are handled in parallel.
var TelemetryConsumer = bus.Consumer{
	Name:        "metrics-telemetry",
	Stream:      events.TelemetryStream,
	Filter:      events.TelemetryFilter,
	Concurrency: 16,
}

// TelemetryEvents routes telemetry samples to the summarizer.
func TelemetryEvents(s *app.Summarizer, log *slog.Logger) *bus.Mux {
	mux := &bus.Mux{}
	bus.On(mux, func(ctx context.Context, ev bus.Event, m *pb.NodeTelemetry) error {
		// The subject names the node: it is what the stream caps per node,
		// and an agent cannot speak for another node by a field.
		node := events.TelemetryNode(ev.Subject)
		err := s.Record(ctx, node, adapters.SampleFromProto(m))
		switch {
		case errors.Is(err, domain.ErrLate):
			// Telemetry is not history: a late sample is dropped, not
			// retried or dead-lettered.
			log.Debug("late telemetry dropped", "node", node, "err", err)
			return nil
		case errors.Is(err, domain.ErrFuture), errors.Is(err, domain.ErrInvalidSample):
			log.Warn("telemetry dropped", "node", node, "err", err)
			return nil
		}
		return err
	})
	return mux
}
