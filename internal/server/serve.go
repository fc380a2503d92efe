package server

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"ballast.dev/agent"
	"ballast.dev/platform/natsconn"
	"ballast.dev/platform/natsserver"
)

const defaultNATSURL = "nats://127.0.0.1:4222"

func newServeCommand() *cobra.Command {
	var (
		o       options
		natsURL string
	)
	cmd := &cobra.Command{
		Use:       "serve SERVICE",
		Short:     "Run one service against an external NATS: " + strings.Join(serviceNames, ", "),
		Args:      cobra.ExactArgs(1),
		ValidArgs: serviceNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := o.setup()
			if err != nil {
				return err
			}
			name := args[0]
			if !contains(serviceNames, name) {
				return fmt.Errorf("unknown service %q: want one of %s", name, strings.Join(serviceNames, ", "))
			}
			ctx := cmd.Context()
			conn, err := natsconn.Dial(ctx, natsconn.Options{URL: natsURL, Name: "ballast-" + name, Replicas: o.replicas, Logger: log})
			if err != nil {
				return err
			}
			ps := parts{{"nats connection", func() error { conn.Close(); return nil }}}
			if err := startService(ctx, name, conn, &o, &ps, func(addr string) {
				fmt.Fprintf(cmd.OutOrStdout(), "gateway serving gRPC on %s\n", addr)
			}); err != nil {
				_ = ps.Close()
				return fmt.Errorf("start %s: %w", name, err)
			}
			log.Info("serving", "service", name, "nats", natsURL)
			return waitAndStop(ctx, log, ps)
		},
	}
	o.addFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&natsURL, "nats-url", defaultNATSURL, "the NATS server (JetStream 2.12 or later)")
	o.addReplicasFlag(cmd)
	f.StringVar(&o.grpcAddr, "grpc-addr", "127.0.0.1:7400", "gateway: where to serve gRPC")
	f.Float64Var(&o.overcommit, "overcommit", 1, "placement: reservations a disk may hold, as a multiple of its capacity")
	f.DurationVar(&o.loadInterval, "load-interval", 0, "metrics: how often a node's load is summarized (default 30s)")
	f.DurationVar(&o.suspectAfter, "suspect-after", 0, "metrics: how long a node that stopped reporting takes to be suspect (default 15s)")
	f.DurationVar(&o.downAfter, "down-after", 0, "metrics: how long it takes to be down (default 1m)")
	f.DurationVar(&o.rebalanceEvery, "rebalance-every", 0, "placement: how often the planner runs and its moves start (default 1m; negative: never)")
	o.addMoveFlags(cmd)
	o.addWatchFlags(cmd, "gateway: ")
	return cmd
}

func newAgentCommand() *cobra.Command {
	var (
		o       options
		natsURL string
		name    string
		nodes   int
		zones   int
		seed    int64
	)
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run an agent for simulated storage nodes against an external NATS",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := o.setup()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			conn, err := natsconn.Dial(ctx, natsconn.Options{URL: natsURL, Name: "ballast-agent-" + name, Replicas: o.replicas, Logger: log})
			if err != nil {
				return err
			}
			ps := parts{{"nats connection", func() error { conn.Close(); return nil }}}
			a, err := agent.Start(ctx, agent.Config{Conn: conn, Name: name, Seed: seed, Nodes: nodes, Zones: zones})
			if err != nil {
				_ = ps.Close()
				return fmt.Errorf("start agent: %w", err)
			}
			ps.add("agent", a.Close)
			fmt.Fprintf(cmd.OutOrStdout(), "agent %s speaks for %d simulated nodes\n", name, len(a.Nodes()))
			return waitAndStop(ctx, log, ps)
		},
	}
	o.addFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&natsURL, "nats-url", defaultNATSURL, "the NATS server")
	o.addReplicasFlag(cmd)
	f.StringVar(&name, "name", "sim", "the agent's name; its durable consumer is agent-NAME")
	f.IntVar(&nodes, "nodes", 12, "simulated storage nodes")
	f.IntVar(&zones, "zones", 3, "zones the simulated nodes are spread over")
	f.Int64Var(&seed, "seed", 1, "seed of the simulated fleet and workloads")
	return cmd
}

func newNATSCommand() *cobra.Command {
	var (
		o          options
		dataDir    string
		addr       string
		syncAlways bool
	)
	cmd := &cobra.Command{
		Use:   "nats",
		Short: "Run the embedded nats-server (with JetStream) on its own, for multi-process set-ups",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := o.setup()
			if err != nil {
				return err
			}
			host, port, err := splitHostPort(addr)
			if err != nil {
				return fmt.Errorf("--addr: %w", err)
			}
			dir, err := filepath.Abs(dataDir)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("--data-dir: %w", err)
			}
			ns, err := natsserver.Start(cmd.Context(), natsserver.Config{Host: host, Port: port, StoreDir: dir, ServerName: "ballast", SyncAlways: syncAlways, Logger: log})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "nats listening on %s (JetStream in %s)\n", ns.ClientURL(), filepath.Join(dir, "jetstream"))
			return waitAndStop(cmd.Context(), log, parts{{"nats", func() error { ns.Shutdown(); return nil }}})
		},
	}
	o.addFlags(cmd)
	cmd.Flags().StringVar(&dataDir, "data-dir", "./ballast-data", "where JetStream keeps its streams")
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:4333", "where to listen (port 0 picks a free one)")
	cmd.Flags().BoolVar(&syncAlways, "sync-always", false, "fsync every write of the event log (default: every 2 minutes, as nats-server does)")
	return cmd
}

// splitHostPort reads host:port; port 0 asks for a free port.
func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("port %q is not a number from 0 to 65535", p)
	}
	if port == 0 {
		port = natsserver.RandomPort
	}
	return host, port, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
