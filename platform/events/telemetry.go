package events

import (
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

const telemetryRoot = "ballast.telemetry."

// TelemetrySubject is the subject of one node's telemetry.
func TelemetrySubject(node string) string { return telemetryRoot + node }

// TelemetryNode is the node id in a telemetry subject.
func TelemetryNode(subject string) string { return subject[len(telemetryRoot):] }

func telemetryStreamConfig(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              TelemetryStream,
		Description:       "Ballast raw node telemetry; a short window, not history",
		Subjects:          []string{TelemetryFilter},
		Retention:         jetstream.LimitsPolicy,
		Storage:           jetstream.FileStorage,
		Replicas:          max(replicas, 1),
		MaxAge:            TelemetryMaxAge,
		MaxMsgsPerSubject: TelemetryMaxPerNode,
		Discard:           jetstream.DiscardOld,
		Duplicates:        time.Minute,
		// Readers ask for the last sample of a node without a consumer.
		AllowDirect: true,
	}
}
