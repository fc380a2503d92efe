// Command ballast is the one Ballast binary: the client commands (volume,
// node, events) and the server commands (up, serve, agent, nats).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"ballast.dev/ballast/internal/cli"
	"ballast.dev/ballast/internal/server"
	"ballast.dev/platform/tracing"
)

func main() {
	root := cli.NewRoot()
	root.AddCommand(server.Commands()...)

	// Trace ids for everything this process does, so that a request's
	// trace context travels through every service's events.
	shutdown := tracing.Setup()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Execute(ctx, root)
	stop()
	_ = shutdown(context.Background())
	os.Exit(code)
}
