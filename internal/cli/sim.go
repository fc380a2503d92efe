package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ballastv1 "ballast.dev/proto/ballast/v1"
)

func newSimCommand(g *globals) *cobra.Command {
	out := new(outputFormat)
	cmd := newGroup("sim", "Inject faults into the simulated fleet of a ballast up", out)
	fail := &cobra.Command{
		Use:   "fail NODE",
		Short: "Fail a simulated node: it goes silent; placement finds it suspect, then down, and re-creates its replicas elsewhere",
		Args:  exactArgs(1, "a node id"),
	}
	fail.RunE = g.run(false, func(ctx context.Context, cmd *cobra.Command, args []string, c *client) error {
		if _, err := c.sim.FailNode(ctx, &ballastv1.FailNodeRequest{NodeId: args[0]}); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "node %s failed: it reports nothing until `ballast sim recover %s`\n", args[0], args[0])
		return nil
	})
	recover := &cobra.Command{
		Use:   "recover NODE",
		Short: "Bring a failed simulated node back: it reports again and does the work it missed",
		Args:  exactArgs(1, "a node id"),
	}
	recover.RunE = g.run(false, func(ctx context.Context, cmd *cobra.Command, args []string, c *client) error {
		if _, err := c.sim.RecoverNode(ctx, &ballastv1.RecoverNodeRequest{NodeId: args[0]}); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "node %s recovered\n", args[0])
		return nil
	})
	var (
		factor float64
		dur    time.Duration
	)
	hot := &cobra.Command{
		Use:   "hotspot VOLUME|NODE --factor F --for D",
		Short: "Multiply the load of every replica of a volume, or on a node, by a factor for a while",
		Long: "Multiply the load of every replica of a volume, or of every replica a node holds, by a factor for a while.\n" +
			"A name that is a node's id means the node.",
		Example: "  ballast sim hotspot db --factor 5 --for 2m\n  ballast sim hotspot node-003 --factor 20 --for 10m",
		Args:    exactArgs(1, "a volume name or id, or a node id"),
	}
	hot.Flags().Float64Var(&factor, "factor", 5, "how many times its usual load")
	hot.Flags().DurationVar(&dur, "for", 2*time.Minute, "how long")
	hot.RunE = g.run(false, func(ctx context.Context, cmd *cobra.Command, args []string, c *client) error {
		req := &ballastv1.InjectHotspotRequest{Volume: args[0], Factor: factor, Seconds: dur.Seconds()}
		what := "volume"
		if _, err := c.nodes.GetNode(ctx, &ballastv1.GetNodeRequest{Id: args[0]}); err == nil {
			req.Volume, req.Node, what = "", args[0], "node"
		} else if status.Code(err) != codes.NotFound {
			return err
		}
		resp, err := c.sim.InjectHotspot(ctx, req)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s %s: %d replicas at %gx their load for %s\n", what, args[0], resp.GetReplicas(), factor, dur)
		return nil
	})
	var agent string
	add := &cobra.Command{
		Use:     "add-nodes N",
		Short:   "Add N simulated nodes to the fleet, as if machines joined it: the rebalancer moves replicas onto them",
		Example: "  ballast sim add-nodes 3",
		Args:    exactArgs(1, "how many nodes join"),
	}
	add.Flags().StringVar(&agent, "agent", "sim", "the agent that simulates them")
	add.RunE = g.run(false, func(ctx context.Context, cmd *cobra.Command, args []string, c *client) error {
		n, err := strconv.ParseInt(args[0], 10, 32)
		if err != nil || n < 1 || n > 1000 {
			return usageErrorf("N: %q is not a count of nodes from 1 to 1000", args[0])
		}
		resp, err := c.sim.AddNodes(ctx, &ballastv1.AddNodesRequest{Count: int32(n), Agent: agent})
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%d nodes joined: %s\n", len(resp.GetNodeIds()), strings.Join(resp.GetNodeIds(), " "))
		return nil
	})
	cmd.AddCommand(fail, recover, hot, add)
	return cmd
}
