package agent

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
)

// telemetryWindow bounds the samples in flight, under the client's limit
// of pending acknowledgements (4000 by default), so a large fleet never
// stalls the publisher.
const telemetryWindow = 1000

// minTelemetryWait is the least time a round waits for its acks, so that
// a very short interval (tests) does not count slow acks as lost.
const minTelemetryWait = time.Second

// runTelemetry publishes a round at once, so that readers see every node
// without waiting an interval, and then every interval until ctx ends.
func (a *Agent) runTelemetry(ctx context.Context) {
	ticker := time.NewTicker(a.cfg.TelemetryInterval)
	defer ticker.Stop()
	for {
		a.publishTelemetry(ctx, time.Now())
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// publishTelemetry publishes one sample per node with async publishes,
// pipelined in windows, and waits for their acks. Telemetry is not
// history: a lost sample is logged and the next round replaces it.
func (a *Agent) publishTelemetry(ctx context.Context, at time.Time) {
	began := time.Now()
	ctx, cancel := context.WithTimeout(ctx, max(a.cfg.TelemetryInterval, minTelemetryWait))
	defer cancel()
	var sent, failed int
	var firstErr error
	fail := func(err error) {
		if firstErr == nil {
			firstErr = err
		}
		failed++
	}
	ids := a.nodeIDs()
	futures := make([]jetstream.PubAckFuture, 0, min(len(ids), telemetryWindow))
	wait := func() {
		for _, f := range futures {
			select {
			case <-f.Ok():
				sent++
			case err := <-f.Err():
				fail(err)
			case <-ctx.Done():
				fail(ctx.Err())
			}
		}
		futures = futures[:0]
	}
	for _, id := range ids {
		if ctx.Err() != nil {
			break
		}
		n := a.mustNode(id)
		if n.down() {
			continue // a failed node is silent
		}
		data, err := proto.Marshal(telemetry(n.sim.Sample(at)))
		if err != nil {
			fail(err)
			continue
		}
		msg := &nats.Msg{
			Subject: events.TelemetrySubject(id),
			Data:    data,
			Header:  nats.Header{eventstore.HeaderEventType: {telemetryType}},
		}
		f, err := a.js.PublishMsgAsync(msg, jetstream.WithExpectStream(events.TelemetryStream))
		if err != nil {
			fail(err)
			continue
		}
		if futures = append(futures, f); len(futures) == telemetryWindow {
			wait()
		}
	}
	wait()
	if failed > 0 {
		a.log.Warn("telemetry round incomplete", "sent", sent, "failed", failed, "err", firstErr)
		return
	}
	a.log.Debug("telemetry round", "nodes", sent, "took", time.Since(began))
}
