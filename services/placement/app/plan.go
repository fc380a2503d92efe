package app

import (
	"context"
	"fmt"
	"slices"
	"time"

	"ballast.dev/services/placement/balance"
	"ballast.dev/services/placement/domain"
)

// LoadView gives each replica's last measured load.
type LoadView interface {
	Of(replicaID string) balance.Load
}

// AllHoldings lists every volume placement holds.
type AllHoldings interface {
	HeldAll() []Held
}

// WhatIf changes a copy of the model before planning on it.
type WhatIf struct {
	DrainNodes, FailNodes, FailZones []string
	AddNodes                         int
}

// Planner runs the rebalancing planner on the model as it stands.
type Planner struct {
	Model    Model
	Holdings AllHoldings
	Loads    LoadView
	Config   balance.Config
	// Cooling, if set, says which volumes moved too recently to move
	// again.
	Cooling func(Held) bool
	// Joining, if set, says which nodes joined the fleet recently: balance
	// moves go onto them first.
	Joining func(nodeID string) bool
	// CopyBandwidth is the bytes per second the moves under way share (the
	// migration throttles' budget), which a dry run's time estimate
	// assumes; 0 is no limit known.
	CopyBandwidth uint64
	// WithBound has a plan carry the lower bound of the bytes any plan
	// must copy (it costs about as much as the plan): for operators' dry
	// runs, not the rebalancer's passes.
	WithBound bool
}

// Plan computes a plan on the model, with the what-ifs applied to a copy.
func (p Planner) Plan(ctx context.Context, w WhatIf) (balance.Plan, time.Duration, error) {
	if err := p.Model.CaughtUp(ctx); err != nil {
		return balance.Plan{}, 0, err
	}
	m, overcommit, err := p.model(w)
	if err != nil {
		return balance.Plan{}, 0, err
	}
	cfg := p.Config
	cfg.Overcommit = overcommit
	began := time.Now()
	plan := balance.Propose(m, cfg)
	took := time.Since(began)
	if p.WithBound {
		plan.BytesBound = balance.Bound(m, cfg)
	}
	return plan, took, nil
}

// model builds the planner's model of the cluster.
func (p Planner) model(w WhatIf) (balance.Model, float64, error) {
	var (
		m          balance.Model
		overcommit float64
		werr       error
	)
	p.Model.View(func(c *domain.Cluster, at Position, _ func(string) uint64) {
		m.Sequence = at.Placement
		overcommit = c.Overcommit()
		for _, n := range c.Nodes() {
			bn := balance.Node{ID: n.ID, Zone: n.Zone, Region: n.Region, State: n.State,
				Joining: p.Joining != nil && n.State == domain.NodeUp && p.Joining(n.ID)}
			for _, d := range n.Disks {
				bn.Disks = append(bn.Disks, balance.Disk{ID: d.ID, Tier: d.Tier, CapacityBytes: d.CapacityBytes,
					IOPS: float64(d.ReadIOPS + d.WriteIOPS), Bps: float64(d.ThroughputBps)})
			}
			m.Nodes = append(m.Nodes, bn)
		}
	})
	for _, h := range p.Holdings.HeldAll() {
		v := balance.Volume{ID: h.VolumeID, SizeBytes: h.SizeBytes, Tier: h.Tier, Spread: h.Spread}
		for _, r := range h.Set {
			v.Replicas = append(v.Replicas, balance.Replica{ID: r.ID, NodeID: r.NodeID, DiskID: r.DiskID, Load: p.Loads.Of(r.ID)})
		}
		// A volume with a move under way stays as it is, and so does one
		// that moved recently.
		v.CoolingDown = len(h.Set) > h.Replicas || p.Cooling != nil && p.Cooling(h)
		m.Volumes = append(m.Volumes, v)
	}
	werr = whatIf(&m, w)
	return m, overcommit, werr
}

// whatIf applies the what-ifs to m.
func whatIf(m *balance.Model, w WhatIf) error {
	set := func(ids []string, s domain.NodeState, what string) error {
		for _, id := range ids {
			i := slices.IndexFunc(m.Nodes, func(n balance.Node) bool { return n.ID == id })
			if i < 0 {
				return &ArgumentError{Field: what, Reason: fmt.Sprintf("no node %q", id)}
			}
			m.Nodes[i].State = s
		}
		return nil
	}
	if err := set(w.DrainNodes, domain.NodeDraining, "drain_nodes"); err != nil {
		return err
	}
	if err := set(w.FailNodes, domain.NodeDown, "fail_nodes"); err != nil {
		return err
	}
	for _, z := range w.FailZones {
		found := false
		for i := range m.Nodes {
			if m.Nodes[i].Zone == z {
				m.Nodes[i].State, found = domain.NodeDown, true
			}
		}
		if !found {
			return &ArgumentError{Field: "fail_zones", Reason: fmt.Sprintf("no node in zone %q", z)}
		}
	}
	if w.AddNodes < 0 || w.AddNodes > 10_000 {
		return &ArgumentError{Field: "add_nodes", Reason: fmt.Sprintf("%d is out of range; 0 to 10000", w.AddNodes)}
	}
	if w.AddNodes > 0 && len(m.Nodes) == 0 {
		return &ArgumentError{Field: "add_nodes", Reason: "the fleet has no node to model new ones on"}
	}
	// New nodes are like the fleet's first node, spread over its zones.
	var zones []string
	for _, n := range m.Nodes {
		if !slices.Contains(zones, n.Zone) {
			zones = append(zones, n.Zone)
		}
	}
	for i := range w.AddNodes {
		tmpl := m.Nodes[0]
		n := balance.Node{ID: fmt.Sprintf("what-if-%04d", i+1), Zone: zones[i%len(zones)], Region: tmpl.Region, State: domain.NodeUp, Joining: true}
		for j, d := range tmpl.Disks {
			d.ID = fmt.Sprintf("%s-d%d", n.ID, j)
			n.Disks = append(n.Disks, d)
		}
		m.Nodes = append(m.Nodes, n)
	}
	return nil
}
