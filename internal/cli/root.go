// Package cli is the client side of the ballast binary: the volume, node and
// events commands that talk to the gateway over the public gRPC API, and how
// they print what they get back.
//
// The commands are built with github.com/spf13/cobra, the well-kept command
// library behind kubectl, Hugo and the GitHub CLI; server commands (up,
// serve, agent, nats) join the same tree with root.AddCommand.
package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Exit codes returned by Execute.
const (
	ExitOK          = 0
	ExitFailure     = 1   // the command ran and failed: an API error, a failed volume
	ExitUsage       = 2   // bad arguments or flags
	ExitInterrupted = 130 // stopped by Ctrl-C or SIGTERM, as a shell reports SIGINT
)

// DefaultAddr is where `ballast up` serves the gateway.
const DefaultAddr = "127.0.0.1:7400"

// addrEnv overrides the default of --addr, so that a shell pointed at a
// remote cluster need not repeat it.
const addrEnv = "BALLAST_ADDR"

// globals are the root's persistent flags, shared by every client command.
type globals struct {
	addr    string
	timeout time.Duration
}

// NewRoot returns the ballast command tree with the client commands (volume,
// node, events, placement). Add server commands with root.AddCommand and run it with
// Execute.
func NewRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "ballast",
		Short: "Ballast is a control plane for container storage",
		Long: `Ballast decides where every replica of every volume lives and keeps those
decisions right as load arrives. These commands talk to a running Ballast
(see ` + "`ballast up`" + `) over gRPC.`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRunE,
		// Execute prints errors itself, in one format, with the right exit code.
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return usageError{err}
	})

	addr := DefaultAddr
	if v := os.Getenv(addrEnv); v != "" {
		addr = v
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.addr, "addr", addr, "address of the Ballast gateway (host:port; default from $"+addrEnv+" when set)")
	pf.DurationVar(&g.timeout, "timeout", time.Minute, "limit for the whole command, waiting included; 0 for none (events watch has none unless set)")

	root.AddCommand(
		newVolumeCommand(g),
		newNodeCommand(g),
		newEventsCommand(g),
		newPlacementCommand(g),
		newMigrationCommand(g),
		newSimCommand(g),
		newPlanCommand(g),
	)
	return root
}

// Execute runs root with ctx (cancel it on SIGINT/SIGTERM), prints any error
// to root's error stream as "error: ..." and returns the process exit code.
func Execute(ctx context.Context, root *cobra.Command) int {
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	w := root.ErrOrStderr()
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(w, "error: %v\n", ue.err)
		if cmd != nil {
			fmt.Fprintf(w, "Run '%s --help' for usage.\n", cmd.CommandPath())
		}
		return ExitUsage
	}
	fmt.Fprintf(w, "error: %s\n", describe(err))
	if errors.Is(err, errInterrupted) || ctx.Err() != nil {
		return ExitInterrupted
	}
	return ExitFailure
}

// groupRunE runs a command that only groups others: with no arguments it
// shows help, otherwise the argument names an unknown command.
func groupRunE(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf("; did you mean %q?", s[0])
	}
	return usageError{errors.New(msg)}
}

// newGroup returns a command that groups subcommands and carries the
// -o/--output flag for all of them.
func newGroup(use, short string, out *outputFormat) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ArbitraryArgs,
		RunE:  groupRunE,
	}
	addOutputFlag(cmd.PersistentFlags(), out)
	return cmd
}

// addOutputFlag adds -o/--output to fs, bound to out.
func addOutputFlag(fs *pflag.FlagSet, out *outputFormat) {
	*out = formatTable
	fs.VarP(out, "output", "o", "output format: table or json")
}

// exactArgs is cobra.ExactArgs whose error is a usage error naming what is
// missing.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < n:
			return usageError{fmt.Errorf("%s needs %s", cmd.CommandPath(), what)}
		case len(args) > n:
			return usageError{fmt.Errorf("%s takes only %s, got %q", cmd.CommandPath(), what, args)}
		}
		return nil
	}
}

// noArgs refuses positional arguments with a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Errorf("%s takes no arguments, got %q", cmd.CommandPath(), args)}
	}
	return nil
}
