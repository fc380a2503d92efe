package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

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
	cmd := &cobra.Command{
		Use:   "explain VOLUME",
		Short: "Show how a volume was placed and how every node fared",
		Long: `Show how a volume's placement was decided: where each replica went, what
was asked, the model it was decided on, and every node of the cluster as it
stood then, ranked: the feasible ones by total score, then the rejected ones
with their reason.

The table is recomputed from the event log as the cluster stood at the
decision, however it changed since; decisions recorded before summaries are
shown as their event recorded them.`,
		Example: `  ballast placement explain db
  ballast placement explain db -o json`,
		Args: exactArgs(1, "a volume name or id"),
	}
	cmd.RunE = g.run(false, func(ctx context.Context, cmd *cobra.Command, args []string, c *client) error {
		x, err := explainAll(ctx, c, args[0])
		if err != nil {
			return err
		}
		return renderExplanation(cmd.OutOrStdout(), *out, x)
	})
	return cmd
}

// explainAll fetches every page of the explanation and returns the first
// page's response holding every row.
func explainAll(ctx context.Context, c *client, volume string) (*ballastv1.ExplainPlacementResponse, error) {
	var all *ballastv1.ExplainPlacementResponse
	seen := map[string]bool{}
	for token := ""; ; {
		resp, err := c.placement.ExplainPlacement(ctx, &ballastv1.ExplainPlacementRequest{Name: volume, PageSize: explainPageSize, PageToken: token})
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
