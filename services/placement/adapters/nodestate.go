package adapters

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
	pb "ballast.dev/proto/ballast/v1"
	"ballast.dev/services/placement/app"
	"ballast.dev/services/placement/domain"
)

// NodeStateLog keeps node states on ballast.evt.nodestate.<node-id>. It
// implements app.NodeStateLog.
type NodeStateLog struct {
	Store *eventstore.Store
	// Recorded, as Journal's, applies a stored change to the model at once.
	Recorded func(seq uint64, m proto.Message)
}

var _ app.NodeStateLog = NodeStateLog{}

// Current implements app.NodeStateLog. A history is a node's few state
// changes; what this build cannot read is passed over.
func (l NodeStateLog) Current(ctx context.Context, nodeID string) (state, operator domain.NodeState, seq uint64, err error) {
	recs, last, err := l.Store.Load(ctx, events.NodeState.Stream, events.NodeState.Subject(nodeID))
	if err != nil {
		return 0, 0, 0, err
	}
	state, operator = domain.NodeUp, domain.NodeUp
	for _, rec := range recs {
		m, err := events.Read(rec.Subject, rec.Type, rec.Data)
		if err != nil {
			events.Skip(err, rec.Type)
			continue
		}
		if c, ok := m.(*pb.NodeStateChanged); ok && domain.NodeState(c.GetState()).Valid() {
			state = domain.NodeState(c.GetState())
			operator = domain.NodeState(c.GetOperatorState())
			if !operator.Valid() {
				operator = state // logs written before operator states
			}
		}
	}
	return state, operator, last, nil
}

// Changed implements app.NodeStateLog.
func (l NodeStateLog) Changed(ctx context.Context, cause, nodeID string, expected uint64, from, to, operator domain.NodeState, reason string) (uint64, error) {
	m := &pb.NodeStateChanged{NodeId: nodeID, State: pb.NodeState(to), Previous: pb.NodeState(from), OperatorState: pb.NodeState(operator), Reason: reason, OccurTime: now()}
	ev, err := events.Encode(cause+"/"+nodeID, m)
	if err != nil {
		return 0, err
	}
	seq, fresh, err := l.Store.AppendOnce(ctx, events.NodeState.Subject(nodeID), expected, ev)
	if errors.Is(err, eventstore.ErrConflict) {
		return 0, fmt.Errorf("%w: %w", app.ErrStale, err)
	}
	if err == nil && fresh && l.Recorded != nil {
		l.Recorded(seq, m)
	}
	return seq, err
}
