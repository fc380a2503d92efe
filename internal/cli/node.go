package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	ballastv1 "ballast.dev/proto/ballast/v1"
)

func newNodeCommand(g *globals) *cobra.Command {
	out := new(outputFormat)
	cmd := newGroup("node", "Show the storage nodes", out)
	cmd.Aliases = []string{"nodes"}
	cmd.AddCommand(newNodeListCommand(g, out))
	return cmd
}

func newNodeListCommand(g *globals, out *outputFormat) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List every storage node with its disks, reservations and load",
		Aliases: []string{"ls"},
		Args:    noArgs,
	}
	cmd.RunE = g.run(false, func(ctx context.Context, cmd *cobra.Command, args []string, c *client) error {
		var nodes []*ballastv1.Node
		seen := map[string]bool{}
		for token := ""; ; {
			resp, err := c.nodes.ListNodes(ctx, &ballastv1.ListNodesRequest{PageToken: token})
			if err != nil {
				return err
			}
			nodes = append(nodes, resp.GetNodes()...)
			token = resp.GetNextPageToken()
			if token == "" {
				break
			}
			if seen[token] {
				return fmt.Errorf("list nodes: the server sent page token %q twice", token)
			}
			seen[token] = true
		}
		return renderNodes(cmd.OutOrStdout(), *out, nodes)
	})
	return cmd
}
