package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	ballastv1 "ballast.dev/proto/ballast/v1"
)

func newPlanCommand(g *globals) *cobra.Command {
	var (
		out                    outputFormat
		drain, fail, failZones []string
		addNodes               int32
		maxMoves               int32
	)
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Dry run of the rebalancer: the moves it would make and the balance before and after",
		Long: `Run the rebalancing planner on the cluster as it stands, or on a copy with
what-ifs applied, and show the moves it would make, the utilisation of
each resource (IOPS, bytes per second, capacity; the most utilised disk
and the capacity-weighted mean) before and after, the bytes to copy and
how long the copies would take under the migration throttles. Nothing
moves.`,
		Example: `  ballast plan
  ballast plan --drain node-003
  ballast plan --fail-zone zone-b
  ballast plan --add-nodes 4`,
		Args: noArgs,
	}
	f := cmd.Flags()
	f.StringSliceVar(&drain, "drain", nil, "what if these nodes were drained")
	f.StringSliceVar(&fail, "fail", nil, "what if these nodes failed")
	f.StringSliceVar(&failZones, "fail-zone", nil, "what if every node of these zones failed")
	f.Int32Var(&addNodes, "add-nodes", 0, "what if this many nodes like the fleet's were added")
	f.Int32Var(&maxMoves, "max-moves", 20, "moves to list (the counts cover all)")
	addOutputFlag(f, &out)
	cmd.RunE = g.run(false, func(ctx context.Context, cmd *cobra.Command, _ []string, c *client) error {
		p, err := c.placement.PlanRebalance(ctx, &ballastv1.PlanRebalanceRequest{DrainNodes: drain, FailNodes: fail, FailZones: failZones,
			AddNodes: addNodes, MaxMoves: maxMoves})
		if err != nil {
			return err
		}
		return renderPlan(cmd.OutOrStdout(), out, p)
	})
	return cmd
}

func renderPlan(w io.Writer, f outputFormat, p *ballastv1.PlanRebalanceResponse) error {
	if f == formatJSON {
		raw, err := protoJSON(p)
		if err != nil {
			return err
		}
		return writeJSON(w, raw)
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "RESOURCE\tMAX BEFORE\tMEAN BEFORE\tMAX AFTER\tMEAN AFTER")
	row := func(name string, b, a *ballastv1.Utilisation) {
		fmt.Fprintf(tw, "%s\t%.1f%%\t%.1f%%\t%.1f%%\t%.1f%%\n", name, 100*b.GetMax(), 100*b.GetMean(), 100*a.GetMax(), 100*a.GetMean())
	}
	row("iops", p.GetBefore().GetIops(), p.GetAfter().GetIops())
	row("bytes/s", p.GetBefore().GetBytesPerSecond(), p.GetAfter().GetBytesPerSecond())
	row("capacity", p.GetBefore().GetCapacity(), p.GetAfter().GetCapacity())
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%d moves, %s to copy%s (planned in %s on the model at sequence %d).\n",
		p.GetMoveCount(), size(p.GetBytesToCopy()), copyTime(p), time.Duration(p.GetPlanSeconds()*float64(time.Second)).Round(time.Millisecond), p.GetModelSequence())
	switch b := p.GetBytesLowerBound(); {
	case b > 0 && p.GetBytesToCopy() > 0:
		fmt.Fprintf(w, "No plan copies less than %s (the bytes that must leave disks out of balance or over the ceiling): this one copies %.2fx that.\n",
			size(b), float64(p.GetBytesToCopy())/float64(b))
	case b > 0:
		fmt.Fprintf(w, "Disks out of balance or over the ceiling hold %s that would have to leave, but no move gains enough now (or the volumes moved lately and cool down).\n", size(b))
	}
	if p.GetWhole() {
		fmt.Fprintln(w, "Every volume keeps its replicas.")
	} else {
		fmt.Fprintf(w, "%d replicas have nowhere to go within their volumes' constraints: those volumes would be short.\n", p.GetStrandedCount())
	}
	if len(p.GetMoves()) > 0 {
		fmt.Fprintln(w)
		tw = newTable(w)
		fmt.Fprintln(tw, "VOLUME\tREPLICA\tFROM\tTO\tBYTES\tWHY")
		for _, m := range p.GetMoves() {
			fmt.Fprintf(tw, "%s\t%s\t%s/%s\t%s/%s\t%s\t%s\n", volumeLabel(m), m.GetReplicaId(), m.GetFromNode(), m.GetFromDisk(), m.GetToNode(), m.GetToDisk(), size(m.GetBytes()), m.GetReason())
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if n := int(p.GetMoveCount()) - len(p.GetMoves()); n > 0 {
			fmt.Fprintf(w, "... and %d more (--max-moves)\n", n)
		}
	}
	if len(p.GetStranded()) > 0 {
		fmt.Fprintln(w)
		tw = newTable(w)
		fmt.Fprintln(tw, "STRANDED VOLUME\tREPLICA\tON\tWHY")
		for _, m := range p.GetStranded() {
			fmt.Fprintf(tw, "%s\t%s\t%s/%s\t%s\n", volumeLabel(m), m.GetReplicaId(), m.GetFromNode(), m.GetFromDisk(), m.GetReason())
		}
		return tw.Flush()
	}
	return nil
}

// copyTime says how long a plan's copies would take under the throttles,
// after a comma; nothing when there is nothing to copy.
func copyTime(p *ballastv1.PlanRebalanceResponse) string {
	secs := p.GetEstimatedSeconds()
	switch {
	case p.GetBytesToCopy() == 0:
		return ""
	case secs <= 0:
		// Placement knows no copy bandwidth: the budget is unlimited, or
		// was not given to it.
		return ", time to copy not known (no bandwidth budget)"
	case secs < 1:
		return ", under a second under the throttles"
	}
	return ", about " + time.Duration(secs*float64(time.Second)).Round(time.Second).String() + " under the throttles"
}

// volumeLabel names a planned move's volume: by name, or by id for one
// placement knows no name of.
func volumeLabel(m *ballastv1.PlannedMove) string {
	if n := m.GetVolumeName(); n != "" {
		return n
	}
	return m.GetVolumeId()
}
