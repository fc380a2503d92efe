package server

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	ballastv1 "ballast.dev/proto/ballast/v1"
)

// scenarios are what `ballast up --scenario NAME` sets going on a fresh
// cluster, through the public API as a user would, so that a new user sees
// Ballast at work within a minute: each says what it did and what to watch.
var scenarios = map[string]scenario{
	"hotspot": {
		about: "twenty-four volumes, a third of them made six times as busy: the disks holding several become hotspots, and the rebalancer moves replicas off them",
		run: func(ctx context.Context, c scenarioClient, w io.Writer) error {
			names, err := c.volumes(ctx, 24, 2, ballastv1.Spread_SPREAD_NODE)
			if err != nil {
				return err
			}
			// Many volumes a little hot rather than one very hot: a single
			// replica hotter than any disk could take within the band has
			// nowhere to go, and a scenario that moves nothing shows
			// nothing.
			hot := names[:8]
			if err := c.busy(ctx, hot, 6, 10*time.Minute); err != nil {
				return err
			}
			fmt.Fprintf(w, "scenario hotspot: %s and %s are 6x as busy for 10 minutes; watch `ballast migration list` and `ballast node list`\n",
				strings.Join(hot[:len(hot)-1], ", "), hot[len(hot)-1])
			return nil
		},
	},
	"node-fails": {
		about: "twelve volumes, then one node goes silent: it is found suspect, then down, and its replicas are re-created elsewhere",
		run: func(ctx context.Context, c scenarioClient, w io.Writer) error {
			names, err := c.volumes(ctx, 12, 3, ballastv1.Spread_SPREAD_ZONE)
			if err != nil {
				return err
			}
			v, err := c.vols.GetVolume(ctx, &ballastv1.GetVolumeRequest{Name: names[0]})
			if err != nil {
				return err
			}
			node := v.GetVolume().GetReplicas()[0].GetNodeId()
			if _, err := c.sim.FailNode(ctx, &ballastv1.FailNodeRequest{NodeId: node}); err != nil {
				return err
			}
			fmt.Fprintf(w, "scenario node-fails: node %s failed; watch `ballast node list`, `ballast volume list` and `ballast migration list`; `ballast sim recover %s` brings it back\n", node, node)
			return nil
		},
	},
	"node-joins": {
		about: "twenty-four busy volumes on the fleet, then three nodes join: the rebalancer moves replicas onto them, and only onto them",
		run: func(ctx context.Context, c scenarioClient, w io.Writer) error {
			names, err := c.volumes(ctx, 24, 2, ballastv1.Spread_SPREAD_NODE)
			if err != nil {
				return err
			}
			if err := c.busy(ctx, names, 4, time.Hour); err != nil {
				return err
			}
			joined, err := c.sim.AddNodes(ctx, &ballastv1.AddNodesRequest{Count: 3})
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "scenario node-joins: 24 volumes at 4x their load for an hour, then %s joined; watch `ballast migration list` and `ballast node list`\n",
				strings.Join(joined.GetNodeIds(), ", "))
			return nil
		},
	},
	"skewed-start": {
		about: "half the nodes of each zone cordoned while twenty-four busy volumes are created on the rest, then uncordoned: the rebalancer spreads the replicas onto them",
		run: func(ctx context.Context, c scenarioClient, w io.Writer) error {
			nodes, err := c.fleet(ctx)
			if err != nil {
				return err
			}
			// The first half of each zone's nodes (at least one) take
			// every replica; the other half wait cordoned.
			zone := map[string]int{}
			for _, n := range nodes {
				zone[n.GetZone()]++
			}
			kept, cordoned := map[string]int{}, []string{}
			for _, n := range nodes {
				if z := n.GetZone(); kept[z] < max(1, zone[z]/2) {
					kept[z]++
					continue
				}
				if _, err := c.nodes.CordonNode(ctx, &ballastv1.CordonNodeRequest{Id: n.GetId(), Reason: "scenario skewed-start"}); err != nil {
					return fmt.Errorf("cordon %s: %w", n.GetId(), err)
				}
				cordoned = append(cordoned, n.GetId())
			}
			names, err := c.volumes(ctx, 24, 2, ballastv1.Spread_SPREAD_NODE)
			if err != nil {
				return err
			}
			if err := c.busy(ctx, names, 4, time.Hour); err != nil {
				return err
			}
			for _, id := range cordoned {
				if _, err := c.nodes.UncordonNode(ctx, &ballastv1.UncordonNodeRequest{Id: id}); err != nil {
					return fmt.Errorf("uncordon %s: %w", id, err)
				}
			}
			fmt.Fprintf(w, "scenario skewed-start: 24 volumes at 4x their load for an hour were created on %d nodes, then %d more were uncordoned; watch `ballast migration list` and `ballast node list`\n",
				len(nodes)-len(cordoned), len(cordoned))
			return nil
		},
	},
	"drain": {
		about: "twelve volumes, then the fullest node is drained: its replicas move off, throttled, never leaving a volume short",
		run: func(ctx context.Context, c scenarioClient, w io.Writer) error {
			if _, err := c.volumes(ctx, 12, 3, ballastv1.Spread_SPREAD_ZONE); err != nil {
				return err
			}
			node, err := c.busiest(ctx)
			if err != nil {
				return err
			}
			if _, err := c.nodes.DrainNode(ctx, &ballastv1.DrainNodeRequest{Id: node.GetId(), Reason: "scenario drain"}); err != nil {
				return err
			}
			fmt.Fprintf(w, "scenario drain: node %s is draining its %d replicas; watch `ballast migration list`\n", node.GetId(), node.GetReplicaCount())
			return nil
		},
	},
}

type scenario struct {
	about string
	run   func(ctx context.Context, c scenarioClient, w io.Writer) error
}

// scenarioNames lists the scenarios for --help.
func scenarioNames() string {
	var out []string
	for _, name := range Scenarios() {
		out = append(out, name+" ("+scenarios[name].about+")")
	}
	return strings.Join(out, "; ")
}

type scenarioClient struct {
	size  int // nodes in the simulated fleet
	vols  ballastv1.VolumeServiceClient
	nodes ballastv1.NodeServiceClient
	sim   ballastv1.SimServiceClient
}

// fleet waits until the gateway knows every node of the simulated fleet and
// returns them in id order.
func (c scenarioClient) fleet(ctx context.Context) ([]*ballastv1.Node, error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		var nodes []*ballastv1.Node
		for token := ""; ; {
			resp, err := c.nodes.ListNodes(ctx, &ballastv1.ListNodesRequest{PageSize: 1000, PageToken: token})
			if err != nil {
				return nil, err
			}
			nodes = append(nodes, resp.GetNodes()...)
			if token = resp.GetNextPageToken(); token == "" {
				break
			}
		}
		if len(nodes) >= c.size {
			slices.SortFunc(nodes, func(a, b *ballastv1.Node) int { return strings.Compare(a.GetId(), b.GetId()) })
			return nodes, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("the gateway knows %d of the %d nodes: %w", len(nodes), c.size, ctx.Err())
		case <-tick.C:
		}
	}
}

// busiest is the node holding the most replicas, the first by id of those.
func (c scenarioClient) busiest(ctx context.Context) (*ballastv1.Node, error) {
	nodes, err := c.fleet(ctx)
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(nodes, func(a, b *ballastv1.Node) int { return int(b.GetReplicaCount()) - int(a.GetReplicaCount()) })
	return nodes[0], nil
}

// busy makes the volumes named factor times as busy for d.
func (c scenarioClient) busy(ctx context.Context, names []string, factor float64, d time.Duration) error {
	for _, n := range names {
		if _, err := c.sim.InjectHotspot(ctx, &ballastv1.InjectHotspotRequest{Volume: n, Factor: factor, Seconds: d.Seconds()}); err != nil {
			return fmt.Errorf("make %s busy: %w", n, err)
		}
	}
	return nil
}

// volumes creates n volumes of 1 GiB and waits until they are ready.
func (c scenarioClient) volumes(ctx context.Context, n int, replicas uint32, spread ballastv1.Spread) ([]string, error) {
	var names []string
	for i := range n {
		name := fmt.Sprintf("scenario-%02d", i+1)
		_, err := c.vols.CreateVolume(ctx, &ballastv1.CreateVolumeRequest{Name: name, Spec: &ballastv1.VolumeSpec{
			Capacity: &ballastv1.CapacityRange{RequiredBytes: 1 << 30}, Replicas: replicas, Tier: ballastv1.Tier_TIER_SSD, Spread: spread}})
		if err != nil {
			return nil, fmt.Errorf("create %s: %w", name, err)
		}
		names = append(names, name)
	}
	for _, name := range names {
		if err := c.ready(ctx, name); err != nil {
			return nil, err
		}
	}
	return names, nil
}

// ready follows a volume until it is ready.
func (c scenarioClient) ready(ctx context.Context, name string) error {
	stream, err := c.vols.WatchVolume(ctx, &ballastv1.WatchVolumeRequest{Name: name})
	if err != nil {
		return err
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return fmt.Errorf("volume %s: %w", name, err)
		}
		switch resp.GetVolume().GetState() {
		case ballastv1.VolumeState_VOLUME_STATE_READY:
			return nil
		case ballastv1.VolumeState_VOLUME_STATE_FAILED:
			return fmt.Errorf("volume %s failed: %s", name, resp.GetVolume().GetFailureReason())
		}
	}
}

// ScenarioConfig is cfg with what a scenario runs under where cfg leaves it
// unset: fast telemetry and passes, so that it shows what happens in
// seconds, not minutes.
func ScenarioConfig(cfg UpConfig) UpConfig {
	cfg.TelemetryInterval = cmp.Or(cfg.TelemetryInterval, time.Second)
	cfg.LoadInterval = cmp.Or(cfg.LoadInterval, 2*time.Second)
	cfg.SuspectAfter = cmp.Or(cfg.SuspectAfter, 5*time.Second)
	cfg.DownAfter = cmp.Or(cfg.DownAfter, 15*time.Second)
	cfg.RebalanceEvery = cmp.Or(cfg.RebalanceEvery, 10*time.Second)
	return cfg
}

// Scenarios lists the scenarios' names.
func Scenarios() []string {
	names := slices.Collect(maps.Keys(scenarios))
	slices.Sort(names)
	return names
}

// RunScenario sets the scenario going against the gateway at addr, on a
// fleet of nodes simulated nodes, and says what it did on w.
func RunScenario(ctx context.Context, name, addr string, nodes int, w io.Writer) error {
	s, ok := scenarios[name]
	if !ok {
		return fmt.Errorf("--scenario: no scenario %q; there are: %s", name, scenarioNames())
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return s.run(ctx, scenarioClient{size: nodes, vols: ballastv1.NewVolumeServiceClient(conn), nodes: ballastv1.NewNodeServiceClient(conn),
		sim: ballastv1.NewSimServiceClient(conn)}, w)
}
