// Command ballast is the one Ballast binary: the client commands (volume,
// node, events) and, added below, the server commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"ballast.dev/ballast/internal/cli"
)

func main() {
	root := cli.NewRoot()
	// Server commands join here, e.g.:
	//   root.AddCommand(up.NewCommand(), serve.NewCommand(), agent.NewCommand(), nats.NewCommand())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Execute(ctx, root)
	stop()
	os.Exit(code)
}
