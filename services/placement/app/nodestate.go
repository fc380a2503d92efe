package app

import (
	"context"
	"errors"
	"fmt"

	"ballast.dev/services/placement/domain"
)

// Refusals of a node state change.
var (
	// ErrUnknownNode: no agent ever registered the node.
	ErrUnknownNode = errors.New("no such node")
	// ErrNodeUnavailable: the node is down or suspect, and an operator's
	// state would hide it.
	ErrNodeUnavailable = errors.New("node unavailable")
)

// NodeStateLog is where node states are recorded: one history per node.
type NodeStateLog interface {
	// Current is the node's recorded state and the operator's (NodeUp
	// when it has none) and the sequence of its last change, 0 when none.
	Current(ctx context.Context, nodeID string) (state, operator domain.NodeState, seq uint64, err error)
	// Changed records a change, appended only if the node's last change is
	// still at expected; it returns the change's sequence. A conflict is
	// ErrStale.
	Changed(ctx context.Context, cause, nodeID string, expected uint64, from, to, operator domain.NodeState, reason string) (uint64, error)
}

// NodeStates sets nodes' states as an operator asks.
type NodeStates struct {
	Model Model
	Log   NodeStateLog
}

// SetNodeState asks for a node to be up (uncordoned), cordoned or draining.
type SetNodeState struct {
	RequestID string
	NodeID    string
	State     domain.NodeState
	Reason    string
}

// Set handles SetNodeState. It returns the node's state after it and the
// sequence of the node's last change. A node already in the state asked
// for is left as it is.
func (h NodeStates) Set(ctx context.Context, cmd SetNodeState) (domain.NodeState, uint64, error) {
	switch cmd.State {
	case domain.NodeUp, domain.NodeCordoned, domain.NodeDraining:
	default:
		return 0, 0, &ArgumentError{Field: "state", Reason: fmt.Sprintf("an operator sets a node up, cordoned or draining, not %v", cmd.State)}
	}
	if cmd.NodeID == "" {
		return 0, 0, &ArgumentError{Field: "id", Reason: "is required"}
	}
	if err := h.Model.CaughtUp(ctx); err != nil {
		return 0, 0, err
	}
	var known bool
	h.Model.View(func(c *domain.Cluster, _ Position, _ func(string) uint64) {
		_, known = c.Node(cmd.NodeID)
	})
	if !known {
		return 0, 0, fmt.Errorf("node %q: %w", cmd.NodeID, ErrUnknownNode)
	}
	for {
		cur, _, seq, err := h.Log.Current(ctx, cmd.NodeID)
		if err != nil {
			return 0, 0, err
		}
		if cur == cmd.State {
			return cur, seq, nil
		}
		if cur == domain.NodeDown || cur == domain.NodeSuspect {
			return 0, 0, fmt.Errorf("node %q is %v: its replicas are re-created elsewhere if it stays so, and it takes replicas again once its agent reports: %w",
				cmd.NodeID, cur, ErrNodeUnavailable)
		}
		seq, err = h.Log.Changed(ctx, "nodestate/"+cmd.RequestID, cmd.NodeID, seq, cur, cmd.State, cmd.State, cmd.Reason)
		if errors.Is(err, ErrStale) {
			continue // changed meanwhile: decide again
		}
		if err != nil {
			return 0, 0, err
		}
		return cmd.State, seq, nil
	}
}

// Health records what the metrics service found of a node: suspect or
// down (it stopped reporting), or up again (it recovered, back to the state
// its operator set).
func (h NodeStates) Health(ctx context.Context, cause, nodeID string, health domain.NodeState, reason string) error {
	for {
		cur, operator, seq, err := h.Log.Current(ctx, nodeID)
		if err != nil {
			return err
		}
		to := health
		switch {
		case health == domain.NodeUp:
			to = operator
		case health == domain.NodeSuspect && cur == domain.NodeDown:
			return nil // down already: suspect again says nothing new
		}
		if to == cur {
			return nil
		}
		_, err = h.Log.Changed(ctx, cause, nodeID, seq, cur, to, operator, reason)
		if errors.Is(err, ErrStale) {
			continue
		}
		return err
	}
}
