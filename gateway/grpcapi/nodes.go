package grpcapi

import (
	"context"

	"github.com/google/uuid"

	"ballast.dev/gateway/readmodel"
	"ballast.dev/platform/command"
	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
	ballastv1 "ballast.dev/proto/ballast/v1"
)

// NodeService serves ballast.v1.NodeService.
type NodeService struct {
	ballastv1.UnimplementedNodeServiceServer
	cfg Config
}

// ListNodes lists nodes in id order, a page at a time.
func (s *NodeService) ListNodes(ctx context.Context, req *ballastv1.ListNodesRequest) (*ballastv1.ListNodesResponse, error) {
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, s.status(err)
	}
	after, err := decodeToken("node", req.GetPageToken())
	if err != nil {
		return nil, s.status(err)
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	if err := readmodel.Sync(ctx, s.cfg.Log, s.cfg.Nodes); err != nil {
		return nil, s.status(err)
	}
	nodes, total, err := s.cfg.Nodes.Nodes(ctx, after, size+1)
	if err != nil {
		return nil, s.status(err)
	}
	resp := &ballastv1.ListNodesResponse{TotalSize: int32(total)}
	if len(nodes) > size {
		nodes = nodes[:size]
		resp.NextPageToken = encodeToken("node", nodes[size-1].GetId())
	}
	resp.Nodes = nodes
	return resp, nil
}

// GetNode returns one node.
func (s *NodeService) GetNode(ctx context.Context, req *ballastv1.GetNodeRequest) (*ballastv1.GetNodeResponse, error) {
	if err := required("id", req.GetId()); err != nil {
		return nil, s.status(err)
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	if err := readmodel.Sync(ctx, s.cfg.Log, s.cfg.Nodes); err != nil {
		return nil, s.status(err)
	}
	n, err := s.cfg.Nodes.Node(ctx, req.GetId())
	if err != nil {
		return nil, s.status(err)
	}
	return &ballastv1.GetNodeResponse{Node: n}, nil
}

func (s *NodeService) status(err error) error { return toStatus(s.cfg.Logger, err) }

// CordonNode stops placing new replicas on a node.
func (s *NodeService) CordonNode(ctx context.Context, req *ballastv1.CordonNodeRequest) (*ballastv1.CordonNodeResponse, error) {
	n, err := s.setState(ctx, req.GetId(), ballastv1.NodeState_NODE_STATE_CORDONED, req.GetReason(), req.GetRequestId())
	if err != nil {
		return nil, s.status(err)
	}
	return &ballastv1.CordonNodeResponse{Node: n}, nil
}

// UncordonNode lets a node take replicas again.
func (s *NodeService) UncordonNode(ctx context.Context, req *ballastv1.UncordonNodeRequest) (*ballastv1.UncordonNodeResponse, error) {
	n, err := s.setState(ctx, req.GetId(), ballastv1.NodeState_NODE_STATE_UP, req.GetReason(), req.GetRequestId())
	if err != nil {
		return nil, s.status(err)
	}
	return &ballastv1.UncordonNodeResponse{Node: n}, nil
}

// DrainNode marks a node draining: it takes no new replicas, and the
// rebalancer moves those it holds elsewhere.
func (s *NodeService) DrainNode(ctx context.Context, req *ballastv1.DrainNodeRequest) (*ballastv1.DrainNodeResponse, error) {
	n, err := s.setState(ctx, req.GetId(), ballastv1.NodeState_NODE_STATE_DRAINING, req.GetReason(), req.GetRequestId())
	if err != nil {
		return nil, s.status(err)
	}
	return &ballastv1.DrainNodeResponse{Node: n}, nil
}

// setState sends the state to placement and answers with the node as the
// read model has it once it has applied the change.
func (s *NodeService) setState(ctx context.Context, id string, state ballastv1.NodeState, reason, requestID string) (*ballastv1.Node, error) {
	if err := required("id", id); err != nil {
		return nil, err
	}
	if requestID == "" {
		requestID = uuid.NewString()
	}
	if err := command.CheckRequestID(requestID); err != nil {
		return nil, badField("request_id", err.Error())
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	ctx = eventstore.WithCorrelationID(ctx, requestID)
	reply := &ballastv1.SetNodeStateReply{}
	req := &ballastv1.SetNodeStateRequest{RequestId: requestID, NodeId: id, State: state, Reason: reason}
	if err := command.Request(ctx, s.cfg.NC, command.NodeState, req, reply); err != nil {
		return nil, err
	}
	if reply.GetError() != nil {
		return nil, newCommandError(reply.GetError())
	}
	if err := s.cfg.Nodes.WaitApplied(ctx, events.NodeState.Stream, reply.GetSequence()); err != nil {
		return nil, err
	}
	return s.cfg.Nodes.Node(ctx, id)
}
