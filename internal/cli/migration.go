package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	ballastv1 "ballast.dev/proto/ballast/v1"
)

func newMigrationCommand(g *globals) *cobra.Command {
	out := new(outputFormat)
	cmd := newGroup("migration", "Show and cancel replica moves", out)
	cmd.Aliases = []string{"migrations"}
	cmd.AddCommand(newMigrationListCommand(g, out), newMigrationGetCommand(g, out), newMigrationCancelCommand(g, out), newMigrationWatchCommand(g))
	return cmd
}

func newMigrationWatchCommand(g *globals) *cobra.Command {
	var active bool
	cmd := &cobra.Command{Use: "watch", Short: "Print every replica move as it changes, one JSON line each, until interrupted", Args: noArgs}
	cmd.Flags().BoolVar(&active, "active", false, "only moves not over yet")
	cmd.RunE = g.run(true, func(ctx context.Context, cmd *cobra.Command, _ []string, c *client) error {
		stream, err := c.migrations.WatchMigrations(ctx, &ballastv1.WatchMigrationsRequest{ActiveOnly: active})
		if err != nil {
			return err
		}
		for {
			resp, err := stream.Recv()
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			raw, err := protoJSON(resp.GetMigration())
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), string(raw))
		}
	})
	return cmd
}

func newMigrationListCommand(g *globals, out *outputFormat) *cobra.Command {
	var active bool
	cmd := &cobra.Command{Use: "list", Short: "List replica moves, oldest first", Aliases: []string{"ls"}, Args: noArgs}
	cmd.Flags().BoolVar(&active, "active", false, "only moves not over yet")
	cmd.RunE = g.run(false, func(ctx context.Context, cmd *cobra.Command, _ []string, c *client) error {
		resp, err := c.migrations.ListMigrations(ctx, &ballastv1.ListMigrationsRequest{ActiveOnly: active})
		if err != nil {
			return err
		}
		return renderMigrations(cmd.OutOrStdout(), *out, resp.GetMigrations())
	})
	return cmd
}

func newMigrationGetCommand(g *globals, out *outputFormat) *cobra.Command {
	cmd := &cobra.Command{Use: "get ID", Short: "Show one replica move", Args: exactArgs(1, "a migration id")}
	cmd.RunE = g.run(false, func(ctx context.Context, cmd *cobra.Command, args []string, c *client) error {
		resp, err := c.migrations.GetMigration(ctx, &ballastv1.GetMigrationRequest{Id: args[0]})
		if err != nil {
			return err
		}
		return renderMigration(cmd.OutOrStdout(), *out, resp.GetMigration())
	})
	return cmd
}

func newMigrationCancelCommand(g *globals, out *outputFormat) *cobra.Command {
	var (
		reason string
		noWait bool
	)
	cmd := &cobra.Command{Use: "cancel ID", Short: "Roll a replica move back, if it has not cut over", Args: exactArgs(1, "a migration id")}
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded in the move's history")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "return once the cancel is recorded, without waiting for the rollback")
	cmd.RunE = g.run(false, func(ctx context.Context, cmd *cobra.Command, args []string, c *client) error {
		resp, err := c.migrations.CancelMigration(ctx, &ballastv1.CancelMigrationRequest{Id: args[0], Reason: reason})
		if err != nil {
			return err
		}
		m := resp.GetMigration()
		if !noWait {
			if m, err = followMigration(ctx, c, m, cmd.ErrOrStderr()); err != nil {
				return err
			}
		}
		return renderMigration(cmd.OutOrStdout(), *out, m)
	})
	return cmd
}

func newVolumeMoveCommand(g *globals, out *outputFormat) *cobra.Command {
	var (
		from, to string
		noWait   bool
	)
	cmd := &cobra.Command{
		Use:   "move NAME --from NODE [--to NODE]",
		Short: "Move a volume's replica off a node and wait until the move is done",
		Long: `Move the volume's replica on --from to --to, or to the node placement
chooses within the volume's constraints. The new replica is filled before
the old one goes, so the volume never has fewer replicas than it asks for.`,
		Example: `  ballast volume move db --from node-0003
  ballast volume move db --from node-0003 --to node-0011`,
		Args: exactArgs(1, "a volume name or id"),
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "the node whose replica moves (required)")
	f.StringVar(&to, "to", "", "the node to move it to (default: placement chooses)")
	f.BoolVar(&noWait, "no-wait", false, "return once the move is admitted, without waiting until it is done")
	cmd.RunE = g.run(false, func(ctx context.Context, cmd *cobra.Command, args []string, c *client) error {
		if from == "" {
			return usageError{errors.New("--from is required")}
		}
		resp, err := c.migrations.MoveReplica(ctx, &ballastv1.MoveReplicaRequest{Volume: args[0], FromNode: from, ToNode: to})
		if err != nil {
			return err
		}
		m := resp.GetMigration()
		if !noWait {
			if m, err = followMigration(ctx, c, m, cmd.ErrOrStderr()); err != nil {
				return err
			}
		}
		if err := renderMigration(cmd.OutOrStdout(), *out, m); err != nil {
			return err
		}
		if m.GetStep() == ballastv1.MigrationStep_MIGRATION_STEP_ROLLED_BACK {
			return fmt.Errorf("move %s rolled back: %s", m.GetId(), m.GetFailureReason())
		}
		return nil
	})
	return cmd
}

func migrationOver(m *ballastv1.Migration) bool {
	s := m.GetStep()
	return s == ballastv1.MigrationStep_MIGRATION_STEP_COMPLETED || s == ballastv1.MigrationStep_MIGRATION_STEP_ROLLED_BACK
}

// followMigration watches a move until it is over, showing its progress on
// w: a bar on a terminal, a JSON line per change otherwise.
func followMigration(ctx context.Context, c *client, m *ballastv1.Migration, w io.Writer) (*ballastv1.Migration, error) {
	if migrationOver(m) {
		return m, nil
	}
	stream, err := c.migrations.WatchMigration(ctx, &ballastv1.WatchMigrationRequest{Id: m.GetId()})
	if err != nil {
		return m, err
	}
	p := newProgress(w)
	defer p.done()
	last := m
	for {
		resp, err := stream.Recv()
		switch {
		case ctx.Err() != nil:
			return last, waitEnded(ctx, fmt.Sprintf("move %s (%s)", last.GetId(), migrationStep(last.GetStep())))
		case errors.Is(err, io.EOF):
			if migrationOver(last) {
				return last, nil
			}
			return last, fmt.Errorf("%w before move %s was done (%s)", errWatchEnded, last.GetId(), migrationStep(last.GetStep()))
		case err != nil:
			return last, err
		}
		last = resp.GetMigration()
		p.show(last)
		if migrationOver(last) {
			return last, nil
		}
	}
}

// progress shows a move's progress: a bar redrawn in place on a terminal,
// JSON lines otherwise.
type progress struct {
	w     io.Writer
	tty   bool
	drawn bool
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) show(m *ballastv1.Migration) {
	copied, total, rate := m.GetCopiedBytes(), m.GetBytes(), m.GetCopyBytesPerSecond()
	var eta time.Duration
	if rate > 0 && total > copied {
		eta = time.Duration(float64(total-copied) / float64(rate) * float64(time.Second)).Round(time.Second)
	}
	if !p.tty {
		line, _ := json.Marshal(struct {
			ID         string `json:"id"`
			Step       string `json:"step"`
			Copied     uint64 `json:"copied_bytes"`
			Bytes      uint64 `json:"bytes"`
			Rate       uint64 `json:"bytes_per_second"`
			ETASeconds int64  `json:"eta_seconds"`
		}{m.GetId(), migrationStep(m.GetStep()), copied, total, rate, int64(eta.Seconds())})
		fmt.Fprintln(p.w, string(line))
		return
	}
	const width = 30
	frac := 0.0
	if total > 0 {
		frac = float64(copied) / float64(total)
	}
	n := int(frac * width)
	bar := strings.Repeat("=", n) + strings.Repeat(" ", width-n)
	fmt.Fprintf(p.w, "\r[%s] %3.0f%% %s/%s %s/s ETA %s  %-16s", bar, frac*100, size(copied), size(total), size(rate), eta, migrationStep(m.GetStep()))
	p.drawn = true
}

func (p *progress) done() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}

func migrationStep(s ballastv1.MigrationStep) string {
	return strings.ReplaceAll(enumName(s, "MIGRATION_STEP_"), "_", " ")
}

// renderMigration prints one move.
func renderMigration(w io.Writer, f outputFormat, m *ballastv1.Migration) error {
	if f == formatJSON {
		raw, err := protoJSON(m)
		if err != nil {
			return err
		}
		return writeJSON(w, raw)
	}
	tw := newTable(w)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("Migration", m.GetId())
	row("Volume", m.GetVolumeName())
	row("Step", migrationStep(m.GetStep()))
	row("From", fmt.Sprintf("%s (%s, replica %s)", m.GetSource().GetNodeId(), m.GetSource().GetDiskId(), m.GetSource().GetReplicaId()))
	row("To", fmt.Sprintf("%s (%s, replica %s)", m.GetTarget().GetNodeId(), m.GetTarget().GetDiskId(), m.GetTarget().GetReplicaId()))
	row("Copied", fmt.Sprintf("%s of %s", size(m.GetCopiedBytes()), size(m.GetBytes())))
	if r := m.GetReason(); r != "" {
		row("Reason", r)
	}
	if r := m.GetFailureReason(); r != "" {
		row("Failure", r)
	}
	row("Created", timestamp(m.GetCreateTime()))
	row("Updated", timestamp(m.GetUpdateTime()))
	return tw.Flush()
}

// renderMigrations prints a list of moves.
func renderMigrations(w io.Writer, f outputFormat, ms []*ballastv1.Migration) error {
	if f == formatJSON {
		out := struct {
			Migrations []json.RawMessage `json:"migrations"`
		}{Migrations: []json.RawMessage{}}
		for _, m := range ms {
			raw, err := protoJSON(m)
			if err != nil {
				return err
			}
			out.Migrations = append(out.Migrations, raw)
		}
		return writeJSON(w, out)
	}
	if len(ms) == 0 {
		fmt.Fprintln(w, "No migrations.")
		return nil
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "ID\tVOLUME\tFROM\tTO\tSTEP\tCOPIED\tREASON")
	for _, m := range ms {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s/%s\t%s\n", m.GetId(), m.GetVolumeName(), m.GetSource().GetNodeId(), m.GetTarget().GetNodeId(),
			migrationStep(m.GetStep()), size(m.GetCopiedBytes()), size(m.GetBytes()), dash(m.GetReason()))
	}
	return tw.Flush()
}
