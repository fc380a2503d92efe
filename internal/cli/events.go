package cli

import (
	"context"
	"errors"
	"io"

	"github.com/spf13/cobra"

	ballastv1 "ballast.dev/proto/ballast/v1"
)

func newEventsCommand(g *globals) *cobra.Command {
	out := new(outputFormat)
	cmd := newGroup("events", "Follow the event log", out)
	cmd.AddCommand(newEventsWatchCommand(g, out))
	return cmd
}

func newEventsWatchCommand(g *globals, out *outputFormat) *cobra.Command {
	var (
		aggregates []string
		fromStart  bool
	)
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Print events as they are appended, until Ctrl-C",
		Long: `Print events as they are appended, one line each, until Ctrl-C.

With -o json each line is the event as a JSON object (NDJSON), its payload
expanded.`,
		Example: `  ballast events watch
  ballast events watch --aggregate volume --from-start -o json | jq .type`,
		Args: noArgs,
	}
	cmd.Flags().StringSliceVar(&aggregates, "aggregate", nil, "aggregate kind to watch: volume, placement, node or metrics; repeat for more (default: volume, placement and node)")
	cmd.Flags().BoolVar(&fromStart, "from-start", false, "replay the whole history before following live events")
	cmd.RunE = g.run(true, func(ctx context.Context, cmd *cobra.Command, args []string, c *client) error {
		stream, err := c.events.WatchEvents(ctx, &ballastv1.WatchEventsRequest{Aggregates: aggregates, FromStart: fromStart})
		if err != nil {
			return err
		}
		w := cmd.OutOrStdout()
		for {
			resp, err := stream.Recv()
			switch {
			case cmd.Context().Err() != nil:
				// Ctrl-C is how a watch is meant to end.
				return nil
			case errors.Is(err, io.EOF):
				return nil
			case err != nil:
				return err
			}
			if err := renderEvent(w, *out, resp.GetEvent()); err != nil {
				return err
			}
		}
	})
	return cmd
}
