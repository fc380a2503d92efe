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
func TelemetryEvents(s *app.Summarizer, w *app.Watcher, log *slog.Logger) *bus.Mux {
	mux := &bus.Mux{}
	// Every node reports every interval: reports are read straight into
	// samples, not into protobuf messages first.
	bus.OnDecoded(mux, &pb.NodeTelemetry{}, adapters.DecodeTelemetry, func(ctx context.Context, ev bus.Event, sample domain.Sample) error {
		// The subject names the node: it is what the stream caps per node,
		// and an agent cannot speak for another node by a field.
		node := events.TelemetryNode(ev.Subject)
		if err := w.Heard(ctx, node, sample.At); err != nil {
			log.Warn("node's recovery not recorded yet", "node", node, "err", err)
		}
		err := s.Record(ctx, node, sample)
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
