package events

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Telemetry is not history: agents publish raw samples of each node on
// TelemetrySubject(node) into TelemetryStream, which keeps a short window.
const (
	// TelemetryStream is the JetStream stream of raw node telemetry.
	TelemetryStream = "BALLAST_TELEMETRY"
	// TelemetryFilter matches the telemetry of every node.
	TelemetryFilter = "ballast.telemetry.>"
	// TelemetryMaxAge is how long a sample is kept.
	TelemetryMaxAge = 15 * time.Minute
	// TelemetryMaxPerNode caps the samples kept per node: ten minutes at
	// one sample every five seconds.
	TelemetryMaxPerNode = 120
)

// TelemetrySubject is the subject of one node's telemetry.
func TelemetrySubject(node string) string { return "ballast.telemetry." + node }

// TelemetryNode is the node id in a telemetry subject.
func TelemetryNode(subject string) string { return subject[len("ballast.telemetry."):] }

// EnsureTelemetryStream creates the telemetry stream if it is missing. An
// existing stream is left as it is, so that an operator's changes (replicas,
// limits) survive every process start.
func EnsureTelemetryStream(ctx context.Context, js jetstream.JetStream) error {
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:              TelemetryStream,
		Description:       "Ballast raw node telemetry; a short window, not history",
		Subjects:          []string{TelemetryFilter},
		Retention:         jetstream.LimitsPolicy,
		Storage:           jetstream.FileStorage,
		MaxAge:            TelemetryMaxAge,
		MaxMsgsPerSubject: TelemetryMaxPerNode,
		Discard:           jetstream.DiscardOld,
		// Readers ask for the last sample of a node without a consumer.
		AllowDirect: true,
	})
	// CreateStream succeeds for an identical config and refuses a different
	// one with "name already in use": either way the stream exists.
	if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return fmt.Errorf("ensure stream %s: %w", TelemetryStream, err)
	}
	return nil
}
