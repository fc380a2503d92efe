package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	ballastv1 "ballast.dev/proto/ballast/v1"
)

func newNodeCommand(g *globals) *cobra.Command {
	out := new(outputFormat)
	cmd := newGroup("node", "Show the storage nodes and set their state", out)
	cmd.Aliases = []string{"nodes"}
	cmd.AddCommand(newNodeListCommand(g, out),
		newNodeStateCommand(g, out, "cordon", "Stop placing new replicas on a node; those it holds stay",
			func(ctx context.Context, c *client, id, reason string) (*ballastv1.Node, error) {
				r, err := c.nodes.CordonNode(ctx, &ballastv1.CordonNodeRequest{Id: id, Reason: reason})
				return r.GetNode(), err
			}),
		newNodeStateCommand(g, out, "uncordon", "Let a cordoned or draining node take replicas again",
			func(ctx context.Context, c *client, id, reason string) (*ballastv1.Node, error) {
				r, err := c.nodes.UncordonNode(ctx, &ballastv1.UncordonNodeRequest{Id: id, Reason: reason})
				return r.GetNode(), err
			}),
		newNodeStateCommand(g, out, "drain", "Stop placing new replicas on a node and move those it holds elsewhere",
			func(ctx context.Context, c *client, id, reason string) (*ballastv1.Node, error) {
				r, err := c.nodes.DrainNode(ctx, &ballastv1.DrainNodeRequest{Id: id, Reason: reason})
				return r.GetNode(), err
			}),
	)
	return cmd
}

// newNodeStateCommand is `node cordon|uncordon|drain NODE`: it sets the
// node's state and prints the node.
func newNodeStateCommand(g *globals, out *outputFormat, verb, short string,
	set func(ctx context.Context, c *client, id, reason string) (*ballastv1.Node, error)) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:     verb + " NODE",
		Short:   short,
		Example: fmt.Sprintf("  ballast node %s node-0007 --reason \"disk replacement\"", verb),
		Args:    exactArgs(1, "a node id"),
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded in the node's history")
	cmd.RunE = g.run(false, func(ctx context.Context, cmd *cobra.Command, args []string, c *client) error {
		n, err := set(ctx, c, args[0], reason)
		if err != nil {
			return err
		}
		return renderNodes(cmd.OutOrStdout(), *out, []*ballastv1.Node{n})
	})
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
