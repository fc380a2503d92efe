package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	ballastv1 "ballast.dev/proto/ballast/v1"
)

// explainPageSize is how many rows explain asks for at a time: the most
// the API gives in one page.
const explainPageSize = 1000

func newPlacementCommand(g *globals) *cobra.Command {
	out := new(outputFormat)
	cmd := newGroup("placement", "Explain where placement put volumes, and why", out)
	cmd.AddCommand(newPlacementExplainCommand(g, out))
	return cmd
}

func newPlacementExplainCommand(g *globals, out *outputFormat) *cobra.Command {
	var at time.Time
	cmd := &cobra.Command{
		Use:   "explain VOLUME [--at TIME]",
		Short: "Show why each replica of a volume is where it is, and how every node fared",
		Long: `Show why each replica of a volume is where it is: the placement decision
or the move that put it there, read from the event log. A move shows its
reason (balance, hotspot, capacity, drain, node-down, operator), the replica
it replaced, and its target against the best alternatives, recomputed on the
cluster as it stood when the move was admitted.

Then how the volume's placement was decided: where each replica went, what
was asked, the model it was decided on, and every node of the cluster as it
stood then, ranked: the feasible ones by total score, then the rejected ones
with their reason. The table is recomputed from the event log as the cluster
stood at the decision, however it changed since; decisions recorded before
summaries are shown as their event recorded them.

With --at, the replicas are those the volume had at that time, from the
events up to it: an RFC 3339 time, or how long ago (10m, 2h30m, 3d).`,
		Example: `  ballast placement explain db
  ballast placement explain db --at 1h
  ballast placement explain db --at 2026-03-01T09:30:00Z -o json`,
		Args: exactArgs(1, "a volume name or id"),
	}
	cmd.Flags().Var(newTimeValue(&at), "at", "explain the replicas the volume had at this time: RFC 3339, or how long ago (10m, 3d); default now")
	cmd.RunE = g.run(false, func(ctx context.Context, cmd *cobra.Command, args []string, c *client) error {
		x, err := explainAll(ctx, c, args[0], at)
		if err != nil {
			return err
		}
		return renderExplanation(cmd.OutOrStdout(), *out, x)
	})
	return cmd
}

// explainAll fetches every page of the explanation at a time (zero: now)
// and returns the first page's response, which holds the replicas' origins,
// with every row.
func explainAll(ctx context.Context, c *client, volume string, at time.Time) (*ballastv1.ExplainPlacementResponse, error) {
	var all *ballastv1.ExplainPlacementResponse
	seen := map[string]bool{}
	req := &ballastv1.ExplainPlacementRequest{Name: volume, PageSize: explainPageSize}
	if !at.IsZero() {
		req.At = timestamppb.New(at)
	}
	for token := ""; ; {
		req.PageToken = token
		resp, err := c.placement.ExplainPlacement(ctx, req)
		if err != nil {
			return nil, err
		}
		if all == nil {
			all = proto.CloneOf(resp)
		} else {
			all.Candidates = append(all.Candidates, resp.GetCandidates()...)
		}
		token = resp.GetNextPageToken()
		if token == "" {
			all.NextPageToken = ""
			return all, nil
		}
		if seen[token] {
			return nil, fmt.Errorf("explain %s: the server sent page token %q twice", volume, token)
		}
		seen[token] = true
	}
}
