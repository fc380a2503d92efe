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
)

func main() {
	root := cli.NewRoot()
	root.AddCommand(server.Commands()...)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Execute(ctx, root)
	stop()
	os.Exit(code)
}
