package grpcapi

import (
	"context"

	"ballast.dev/gateway/readmodel"
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
