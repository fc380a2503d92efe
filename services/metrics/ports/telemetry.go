// Package ports is how the world reaches the metrics service: the raw
// telemetry agents publish.
package ports

import (
	"context"
	"errors"
	"log/slog"

	"ballast.dev/platform/bus"
	"ballast.dev/platform/events"
	"ballast.dev/services/metrics/app"
	"ballast.dev/services/metrics/domain"
)

// TelemetryFeed reads every node's telemetry, at most once: telemetry is
// not history (a report missed is superseded by the next, one counted twice
// would skew its window). Order across nodes does not matter and one
// node's samples are serialized by the summarizer, so reports are handled
// in parallel.
var TelemetryFeed = bus.Feed{
	Name:   "metrics-telemetry",
	Stream: events.TelemetryStream,
	Filter: events.TelemetryFilter,
	// A worker whose sample closes a window waits for the load bucket to
	// take the summary, a round trip: more workers than processors keep
	// the processors busy meanwhile (32 against 4: about a fifth more
	// reports a second in BenchmarkTelemetryIngest).
	Workers: 32,
}

// Telemetry hands each node's sample to the liveness watcher and the
// summarizer. Reports are read straight into samples
// (adapters.DecodeTelemetry), not into protobuf messages first: every node
// reports every interval.
func Telemetry(s *app.Summarizer, w *app.Watcher, log *slog.Logger) func(ctx context.Context, subject string, sample domain.Sample) error {
	return func(ctx context.Context, subject string, sample domain.Sample) error {
		// The subject names the node: it is what the stream caps per node,
		// and an agent cannot speak for another node by a field.
		node := events.TelemetryNode(subject)
		if err := w.Heard(ctx, node, sample.At); err != nil {
			log.Warn("node's recovery not recorded yet", "node", node, "err", err)
		}
		err := s.Record(ctx, node, sample)
		switch {
		case errors.Is(err, domain.ErrLate), errors.Is(err, domain.ErrDuplicate):
			log.Debug("late telemetry dropped", "node", node, "err", err)
			return nil
		case errors.Is(err, domain.ErrFuture), errors.Is(err, domain.ErrInvalidSample):
			log.Warn("telemetry dropped", "node", node, "err", err)
			return nil
		}
		return err
	}
}
