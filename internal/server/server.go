// Package server is the server side of the ballast binary: `up` runs every
// part in one process on an embedded nats-server; `serve`, `agent` and
// `nats` run one part each, so the same binary runs as separate processes.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"ballast.dev/gateway"
	"ballast.dev/platform/natsconn"
	"ballast.dev/services/metrics"
	metricsdomain "ballast.dev/services/metrics/domain"
	"ballast.dev/services/migration"
	migrationdomain "ballast.dev/services/migration/domain"
	"ballast.dev/services/placement"
	"ballast.dev/services/volume"
)

// Commands returns the server commands.
func Commands() []*cobra.Command {
	return []*cobra.Command{newUpCommand(), newServeCommand(), newAgentCommand(), newNATSCommand()}
}

// Services that `serve` runs, in the order `up` starts them: the deciders
// before the agents that act on decisions, the gateway last.
var serviceNames = []string{"placement", "volume", "migration", "metrics", "gateway"}

// options shared by the server commands.
type options struct {
	logLevel     string
	memoryLimit  string
	grpcAddr     string
	overcommit   float64
	loadInterval time.Duration
	// suspectAfter and downAfter: metrics' bars on a silent node; 0 is
	// the default.
	suspectAfter, downAfter time.Duration
	// rebalanceEvery: placement's planner pass; 0 is a minute.
	rebalanceEvery time.Duration
	replicas       int
	// Bounds on the gateway's concurrent watches; 0 is the gateway's
	// default.
	maxVolumeWatches, maxEventWatches int
	// moves are the migration throttles (placement admits routine moves up
	// to their global cap less its reserve); moveBandwidth is the flag
	// that sets their bandwidth, parsed by setup.
	moves         migrationdomain.Limits
	moveBandwidth string
}

// setup applies the flags every server command shares and returns the
// logger they ask for.
func (o *options) setup() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", o.logLevel)
	}
	if o.memoryLimit != "" {
		n, err := humanize.ParseBytes(o.memoryLimit)
		if err != nil || n == 0 || n > math.MaxInt64 {
			return nil, fmt.Errorf("--memory-limit %q: want a size, e.g. 1GiB or 800MiB", o.memoryLimit)
		}
		debug.SetMemoryLimit(int64(n))
	}
	if err := o.parseMoveLimits(); err != nil {
		return nil, err
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})), nil
}

func (o *options) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().StringVar(&o.memoryLimit, "memory-limit", "",
		"soft limit on the process's memory, e.g. 1GiB: the Go collector works harder as the heap nears it (default: $GOMEMLIMIT, or none)")
}

// addWatchFlags adds the gateway's bounds on concurrent watches to cmd.
func (o *options) addWatchFlags(cmd *cobra.Command, prefix string) {
	f := cmd.Flags()
	f.IntVar(&o.maxVolumeWatches, "max-volume-watches", gateway.DefaultMaxVolumeWatches,
		prefix+"WatchVolume streams served at once (each CLI wait is one); more are RESOURCE_EXHAUSTED")
	f.IntVar(&o.maxEventWatches, "max-event-watches", gateway.DefaultMaxEventWatches,
		prefix+"WatchEvents streams served at once (each holds consumers on the log); more are RESOURCE_EXHAUSTED")
}

// addMoveFlags adds the throttles on moves to cmd.
func (o *options) addMoveFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	d := migrationdomain.DefaultLimits
	f.IntVar(&o.moves.Global, "max-moves", d.Global,
		"replica moves under way at once in the cluster; drains, capacity and balance moves leave a quarter of them to urgent ones (a lost replica, a hotspot, an operator's move)")
	f.IntVar(&o.moves.PerNodeIn, "moves-per-node", d.PerNodeIn, "replica moves under way into, and out of, any one node")
	f.StringVar(&o.moveBandwidth, "move-bandwidth", humanize.IBytes(d.BandwidthBps),
		"copy bandwidth, per second, that the moves under way share, e.g. 1GiB or 400MB (0: no limit)")
}

// parseMoveLimits reads the throttle flags into o.moves.
func (o *options) parseMoveLimits() error {
	if o.moves == (migrationdomain.Limits{}) && o.moveBandwidth == "" {
		return nil // not a command that moves
	}
	o.moves.PerNodeOut = o.moves.PerNodeIn
	if o.moveBandwidth != "" {
		n, err := humanize.ParseBytes(o.moveBandwidth)
		if err != nil {
			return fmt.Errorf("--move-bandwidth %q: want a size per second, e.g. 1GiB or 400MB, or 0 for no limit", o.moveBandwidth)
		}
		o.moves.BandwidthBps = n
	}
	if o.moves.Global < 1 || o.moves.PerNodeIn < 1 {
		return fmt.Errorf("--max-moves %d, --moves-per-node %d: each must be at least 1", o.moves.Global, o.moves.PerNodeIn)
	}
	return nil
}

func (o *options) addReplicasFlag(cmd *cobra.Command) {
	cmd.Flags().IntVar(&o.replicas, "stream-replicas", 1,
		"copies of each stream of the log when this process creates it (3 on a NATS cluster); a start never lowers a stream's copies")
}

// part is something running that stops with Close.
type part struct {
	name  string
	close func() error
}

// parts are closed in the reverse of the order they started.
type parts []part

func (ps *parts) add(name string, close func() error) { *ps = append(*ps, part{name, close}) }

func (ps parts) Close() error {
	var err error
	for i := len(ps) - 1; i >= 0; i-- {
		if e := ps[i].close(); e != nil {
			err = errors.Join(err, fmt.Errorf("stop %s: %w", ps[i].name, e))
		}
	}
	return err
}

// startService starts one service on conn and records it in ps. For the
// gateway it also serves gRPC and reports the address.
func startService(ctx context.Context, name string, conn *natsconn.Conn, o *options, ps *parts, listening func(addr string)) error {
	switch name {
	case "placement":
		s, err := placement.Start(ctx, placement.Config{Conn: conn, Overcommit: o.overcommit, RebalanceEvery: o.rebalanceEvery,
			MaxMoves: o.moves.Global - o.moves.Reserve(), MoveBandwidth: o.moves.BandwidthBps})
		if err != nil {
			return err
		}
		ps.add(name, s.Close)
	case "volume":
		s, err := volume.Start(ctx, volume.Config{Conn: conn})
		if err != nil {
			return err
		}
		ps.add(name, s.Close)
	case "migration":
		s, err := migration.Start(ctx, migration.Config{Conn: conn, Limits: o.moves})
		if err != nil {
			return err
		}
		ps.add(name, s.Close)
	case "metrics":
		s, err := metrics.Start(ctx, metrics.Config{Conn: conn, Interval: o.loadInterval,
			Liveness: metricsdomain.Liveness{SuspectAfter: o.suspectAfter, DownAfter: o.downAfter}})
		if err != nil {
			return err
		}
		ps.add(name, s.Close)
	case "gateway":
		g, err := gateway.New(ctx, gateway.Config{Conn: conn, Logger: conn.Logger,
			MaxVolumeWatches: o.maxVolumeWatches, MaxEventWatches: o.maxEventWatches})
		if err != nil {
			return err
		}
		ps.add(name, g.Close)
		serveCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
		addr, wait, err := g.Serve(serveCtx, o.grpcAddr)
		if err != nil {
			stop()
			return err
		}
		ps.add("grpc", func() error { stop(); return wait() })
		listening(addr.String())
	default:
		return fmt.Errorf("unknown service %q: want one of %s", name, strings.Join(serviceNames, ", "))
	}
	return nil
}

// waitAndStop blocks until ctx ends (Ctrl-C), then stops ps.
func waitAndStop(ctx context.Context, log *slog.Logger, ps parts) error {
	<-ctx.Done()
	log.Info("stopping")
	return ps.Close()
}
