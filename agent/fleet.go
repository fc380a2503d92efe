package agent

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"ballast.dev/agent/sim"
	"ballast.dev/platform/events"
	ballastv1 "ballast.dev/proto/ballast/v1"
)

// MaxGrow bounds the nodes one Grow adds.
const MaxGrow = 1000

// node returns one of our nodes.
func (a *Agent) node(id string) (*node, bool) {
	a.fleetMu.RLock()
	defer a.fleetMu.RUnlock()
	n, ok := a.nodes[id]
	return n, ok
}

// mustNode returns a node the agent's own indexes name: it exists, since
// nodes are never removed.
func (a *Agent) mustNode(id string) *node {
	n, ok := a.node(id)
	if !ok {
		panic("agent: no node " + id)
	}
	return n
}

// nodeIDs returns the sorted ids of our nodes; the caller must not change
// the slice.
func (a *Agent) nodeIDs() []string {
	a.fleetMu.RLock()
	defer a.fleetMu.RUnlock()
	return a.ids
}

// Grow adds count simulated nodes to the fleet, as if machines joined it,
// registers them and returns their ids. The fleet is deterministic from the
// seed, so the new nodes are the ones a larger fleet would have had; a
// restarted agent keeps every node it registered, whatever its --nodes.
func (a *Agent) Grow(ctx context.Context, count int) ([]string, error) {
	if count < 1 || count > MaxGrow {
		return nil, fmt.Errorf("grow by %d nodes: at least 1, at most %d", count, MaxGrow)
	}
	added, err := a.addNodes(len(a.nodeIDs()) + count)
	if err != nil {
		return nil, err
	}
	if _, err := a.register(ctx, added); err != nil {
		return nil, fmt.Errorf("register joined nodes: %w", err)
	}
	a.log.Info("nodes joined", "nodes", added)
	return added, nil
}

// addNodes extends the fleet to total nodes and returns the ids it added:
// the last nodes of a fleet of that size. The nodes there already stay as
// they are (a small fleet's shape depends on its size); a larger fleet
// whose node numbers are wider would rename them, and is refused.
func (a *Agent) addNodes(total int) ([]string, error) {
	a.growMu.Lock()
	defer a.growMu.Unlock()
	have := a.nodeIDs()
	if total <= len(have) {
		return nil, nil
	}
	specs := sim.GenerateFleet(sim.FleetConfig{Seed: a.cfg.Seed, Nodes: total, Zones: a.cfg.Zones})
	for i, id := range have {
		if specs[i].ID != id {
			return nil, fmt.Errorf("a fleet of %d nodes would rename node %s to %s: grow by fewer nodes, or start another agent for the new ones",
				total, id, specs[i].ID)
		}
	}
	added := make(map[string]*node, total-len(have))
	var ids []string
	for _, spec := range specs[len(have):] {
		// Every node gets the fleet's seed, so a replica's workload follows
		// it to another node.
		sn, err := sim.NewNode(spec, a.cfg.Seed)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", spec.ID, err)
		}
		added[spec.ID] = newNode(sn)
		ids = append(ids, spec.ID)
	}
	a.fleetMu.Lock()
	defer a.fleetMu.Unlock()
	for id, n := range added {
		a.nodes[id] = n
	}
	all := append(slices.Clone(a.ids), ids...)
	slices.Sort(all)
	a.ids = all
	return ids, nil
}

// keep extends the fleet to hold nodes this agent registered in an earlier
// life (a fleet grown since it was configured, or started with fewer
// --nodes): dropping them would make them silent, then down, and their
// replicas lost. A node no fleet of ours can hold is logged.
func (a *Agent) keep(ids []string) error {
	total := 0
	for _, id := range ids {
		if i, ok := nodeIndex(id); ok {
			total = max(total, i)
		}
	}
	if _, err := a.addNodes(total); err != nil {
		return err
	}
	for _, id := range ids {
		if _, ok := a.node(id); !ok {
			a.log.Warn("a node this agent registered is not in its fleet: it will be found down", "node", id)
		}
	}
	return nil
}

// nodeIndex is i of GenerateFleet's node-<i>.
func nodeIndex(id string) (int, bool) {
	num, ok := strings.CutPrefix(id, "node-")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(num)
	return i, err == nil && i > 0
}

// ownRegistration reports whether rec is a NodeRegistered this agent
// appended.
func (a *Agent) ownRegistration(subject, typ string, data []byte) bool {
	if typ != events.TypeOf(&ballastv1.NodeRegistered{}) {
		return false
	}
	msg, err := events.Read(subject, typ, data)
	if err != nil {
		return false
	}
	reg, ok := msg.(*ballastv1.NodeRegistered)
	return ok && reg.GetAgent() == a.cfg.Name
}
