package agent_test

import (
	"context"
	"testing"
	"time"

	"ballast.dev/agent"
	"ballast.dev/platform/events"
)

// A thousand nodes register, publish telemetry and restart quickly: the
// replay is one pass over the node stream, registrations and samples are
// pipelined.
func TestThousandNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("scale test")
	}
	e := setup(t)
	ctx := context.Background()
	const nodes = 1000

	began := time.Now()
	first := e.start(t, agent.Config{Nodes: nodes, TelemetryInterval: time.Hour})
	t.Logf("start with %d registrations: %v", nodes, time.Since(began))
	if last, _ := e.store.LastSequence(ctx, events.Node.Stream); last != nodes {
		t.Fatalf("%d node events, want %d", last, nodes)
	}
	// The first round is published at start, whatever the interval.
	stream, err := e.conn.JS.Stream(ctx, events.TelemetryStream)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a sample of every node", func() bool {
		info, err := stream.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.State.NumSubjects == nodes
	})
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	began = time.Now()
	e.start(t, agent.Config{Nodes: nodes, TelemetryInterval: -1})
	t.Logf("restart: %v", time.Since(began))
	if last, _ := e.store.LastSequence(ctx, events.Node.Stream); last != nodes {
		t.Fatalf("restart appended %d node events", last-nodes)
	}
}
