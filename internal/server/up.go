package server

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"ballast.dev/agent"
	"ballast.dev/gateway"
	"ballast.dev/platform/natsconn"
	"ballast.dev/platform/natsserver"
	migrationdomain "ballast.dev/services/migration/domain"
)

// UpConfig is everything in one process.
type UpConfig struct {
	DataDir    string
	GRPCAddr   string
	NATSAddr   string // host:port; port 0 picks a free one
	Nodes      int
	Zones      int
	Seed       int64
	Overcommit float64
	// LoadInterval is how often a node's load is summarized; 0 is 30 s.
	LoadInterval time.Duration
	// RebalanceEvery is how often the planner runs and its moves are
	// admitted; 0 is a minute, negative never.
	RebalanceEvery time.Duration
	// TelemetryInterval is how often each simulated node reports; 0 is 5 s.
	TelemetryInterval time.Duration
	// SuspectAfter and DownAfter are how long a silent node takes to be
	// suspect and down; 0 is 15 s and 1 min.
	SuspectAfter, DownAfter time.Duration
	// SyncAlways fsyncs every write of the log; see the README.
	SyncAlways bool
	// MaxVolumeWatches and MaxEventWatches bound the gateway's concurrent
	// watches; 0 is the gateway's default.
	MaxVolumeWatches, MaxEventWatches int
	// Moves are the throttles on replica moves; zero is the migration
	// service's defaults.
	Moves  migrationdomain.Limits
	Logger *slog.Logger
}

// Running is Ballast running in one process.
type Running struct {
	GRPCAddr  string
	NATSURL   string
	StoreDir  string
	NodeCount int
	parts     parts
}

// Close stops every part, the last started first.
func (r *Running) Close() error { return r.parts.Close() }

// Up starts the embedded nats-server, the services, the simulated agent and
// the gateway.
func Up(ctx context.Context, cfg UpConfig) (_ *Running, err error) {
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	host, port, err := splitHostPort(cfg.NATSAddr)
	if err != nil {
		return nil, fmt.Errorf("nats address: %w", err)
	}
	// nats-server keeps its streams in a "jetstream" folder of StoreDir.
	r := &Running{StoreDir: filepath.Join(dir, "jetstream")}
	defer func() {
		if err != nil {
			_ = r.parts.Close()
		}
	}()
	ns, err := natsserver.Start(ctx, natsserver.Config{Host: host, Port: port, StoreDir: dir, ServerName: "ballast", SyncAlways: cfg.SyncAlways, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	r.NATSURL = ns.ClientURL()
	r.parts.add("nats", func() error { ns.Shutdown(); return nil })
	conn, err := natsconn.Dial(ctx, natsconn.Options{InProcess: ns.Inner(), Name: "ballast-up", Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	r.parts.add("nats connection", func() error { conn.Close(); return nil })
	o := options{grpcAddr: cfg.GRPCAddr, overcommit: cfg.Overcommit, loadInterval: cfg.LoadInterval,
		suspectAfter: cfg.SuspectAfter, downAfter: cfg.DownAfter, rebalanceEvery: cfg.RebalanceEvery,
		maxVolumeWatches: cfg.MaxVolumeWatches, maxEventWatches: cfg.MaxEventWatches, moves: cfg.Moves}
	if o.moves == (migrationdomain.Limits{}) {
		o.moves = migrationdomain.DefaultLimits
	}
	if err := o.moves.Validate(); err != nil {
		return nil, err
	}
	for _, name := range serviceNames {
		if name == "gateway" {
			continue // last, once the agents have registered their nodes
		}
		if err := startService(ctx, name, conn, &o, &r.parts, nil); err != nil {
			return nil, fmt.Errorf("start %s: %w", name, err)
		}
	}
	a, err := agent.Start(ctx, agent.Config{Conn: conn, Name: "sim", Seed: cfg.Seed, Nodes: cfg.Nodes, Zones: cfg.Zones, TelemetryInterval: cfg.TelemetryInterval})
	if err != nil {
		return nil, fmt.Errorf("start agent: %w", err)
	}
	r.NodeCount = len(a.Nodes())
	r.parts.add("agent", a.Close)
	if err := startService(ctx, "gateway", conn, &o, &r.parts, func(addr string) { r.GRPCAddr = addr }); err != nil {
		return nil, fmt.Errorf("start gateway: %w", err)
	}
	return r, nil
}

func newUpCommand() *cobra.Command {
	var (
		cfg      UpConfig
		o        options // the log level
		scenario string
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run all of Ballast in one process, with simulated storage nodes",
		Long: `Run all of Ballast in one process: an embedded nats-server with JetStream on
disk in --data-dir, the volume, placement, migration and metrics services, the
gateway on --grpc-addr, and --nodes simulated storage nodes. Ctrl-C stops it;
starting it again on the same data dir brings every volume back.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := o.setup()
			if err != nil {
				return err
			}
			cfg.Logger, cfg.Moves = log, o.moves
			ctx := cmd.Context()
			if scenario != "" {
				if _, ok := scenarios[scenario]; !ok {
					return fmt.Errorf("--scenario: no scenario %q; there are: %s", scenario, scenarioNames())
				}
				cfg = ScenarioConfig(cfg)
			}
			r, err := Up(ctx, cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ballast is up\n  gRPC    %s\n  NATS    %s (JetStream in %s)\n  nodes   %d simulated, in %d zones (seed %d)\nCtrl-C stops it.\n",
				r.GRPCAddr, r.NATSURL, r.StoreDir, r.NodeCount, cfg.Zones, cfg.Seed)
			if scenario != "" {
				if err := RunScenario(ctx, scenario, r.GRPCAddr, r.NodeCount, cmd.OutOrStdout()); err != nil {
					log.Error("scenario failed", "scenario", scenario, "err", err)
				}
			}
			if err := waitAndStop(ctx, log, r.parts); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "ballast stopped")
			return nil
		},
	}
	o.addFlags(cmd)
	o.addMoveFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", "./ballast-data", "where the event log (JetStream) lives")
	f.StringVar(&scenario, "scenario", "", "set a scenario going once up, with fast telemetry: "+scenarioNames())
	f.StringVar(&cfg.GRPCAddr, "grpc-addr", "127.0.0.1:7400", "where the gateway serves gRPC (port 0 picks a free one)")
	f.StringVar(&cfg.NATSAddr, "nats-addr", "127.0.0.1:0", "where the embedded nats-server listens for other processes (port 0 picks a free one)")
	f.IntVar(&cfg.Nodes, "nodes", 12, "simulated storage nodes")
	f.IntVar(&cfg.Zones, "zones", 3, "zones the simulated nodes are spread over")
	f.Int64Var(&cfg.Seed, "seed", 1, "seed of the simulated fleet and workloads")
	f.Float64Var(&cfg.Overcommit, "overcommit", 1, "reservations a disk may hold, as a multiple of its capacity")
	f.BoolVar(&cfg.SyncAlways, "sync-always", false, "fsync every write of the event log (default: every 2 minutes, as nats-server does)")
	f.DurationVar(&cfg.LoadInterval, "load-interval", 0, "how often a node's load is summarized (default 30s)")
	f.DurationVar(&cfg.RebalanceEvery, "rebalance-every", 0, "how often the planner runs and its moves start (default 1m; negative: never)")
	f.DurationVar(&cfg.TelemetryInterval, "telemetry-interval", 0, "how often each simulated node reports its telemetry (default 5s)")
	f.DurationVar(&cfg.SuspectAfter, "suspect-after", 0, "how long a node that stopped reporting takes to be suspect (default 15s)")
	f.DurationVar(&cfg.DownAfter, "down-after", 0, "how long it takes to be down, its replicas re-created elsewhere (default 1m)")
	f.IntVar(&cfg.MaxVolumeWatches, "max-volume-watches", gateway.DefaultMaxVolumeWatches,
		"WatchVolume streams the gateway serves at once (each CLI wait is one); more are RESOURCE_EXHAUSTED")
	f.IntVar(&cfg.MaxEventWatches, "max-event-watches", gateway.DefaultMaxEventWatches,
		"WatchEvents streams the gateway serves at once (each holds consumers on the log); more are RESOURCE_EXHAUSTED")
	return cmd
}
