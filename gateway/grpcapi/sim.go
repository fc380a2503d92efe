package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"ballast.dev/platform/command"
	ballastv1 "ballast.dev/proto/ballast/v1"
)

// SimService serves ballast.v1.SimService: it passes the simulator's
// commands to the agent that speaks for the node.
type SimService struct {
	ballastv1.UnimplementedSimServiceServer
	cfg Config
}

// FailNode fails a simulated node.
func (s *SimService) FailNode(ctx context.Context, req *ballastv1.FailNodeRequest) (*ballastv1.FailNodeResponse, error) {
	if err := s.send(ctx, req.GetNodeId(), true); err != nil {
		return nil, s.status(err)
	}
	return &ballastv1.FailNodeResponse{}, nil
}

// RecoverNode brings a failed simulated node back.
func (s *SimService) RecoverNode(ctx context.Context, req *ballastv1.RecoverNodeRequest) (*ballastv1.RecoverNodeResponse, error) {
	if err := s.send(ctx, req.GetNodeId(), false); err != nil {
		return nil, s.status(err)
	}
	return &ballastv1.RecoverNodeResponse{}, nil
}

func (s *SimService) send(ctx context.Context, node string, fail bool) error {
	if err := required("node_id", node); err != nil {
		return err
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	// No agent answering for the node is NOT_FOUND, not a wait: a node no
	// simulator speaks for cannot be failed.
	if _, err := s.cfg.Nodes.Node(ctx, node); err != nil {
		return err
	}
	reply := &ballastv1.CommandReply{}
	if err := command.Request(ctx, s.cfg.NC, command.AgentSim(node), &ballastv1.SimNodeCommand{NodeId: node, Fail: fail}, reply); err != nil {
		return err
	}
	if reply.GetError() != nil {
		return newCommandError(reply.GetError())
	}
	return nil
}

func (s *SimService) status(err error) error { return toStatus(s.cfg.Logger, err) }

// InjectHotspot makes every replica of a volume, or every replica on a
// node, hot for a while.
func (s *SimService) InjectHotspot(ctx context.Context, req *ballastv1.InjectHotspotRequest) (*ballastv1.InjectHotspotResponse, error) {
	switch {
	case req.GetVolume() == "" && req.GetNode() == "":
		return nil, s.status(badField("volume", "a volume or a node is required"))
	case req.GetVolume() != "" && req.GetNode() != "":
		return nil, s.status(badField("node", "give a volume or a node, not both"))
	}
	if !(req.GetFactor() > 0) || req.GetFactor() > 1e6 {
		return nil, s.status(badField("factor", fmt.Sprintf("%v is out of range; more than 0, at most 1e6", req.GetFactor())))
	}
	secs := req.GetSeconds()
	if secs == 0 {
		secs = 120
	}
	if !(secs > 0) || secs > 7*24*3600 {
		return nil, s.status(badField("seconds", fmt.Sprintf("%v is out of range; more than 0, at most a week", secs)))
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	var cmds []*ballastv1.SimNodeCommand
	n := int32(0)
	if node := req.GetNode(); node != "" {
		nd, err := s.cfg.Nodes.Node(ctx, node)
		if err != nil {
			return nil, s.status(err)
		}
		cmds = append(cmds, &ballastv1.SimNodeCommand{NodeId: node, HotspotNode: true, HotspotFactor: req.GetFactor(), HotspotSeconds: secs})
		n = int32(nd.GetReplicaCount())
	} else {
		v, err := lookup(ctx, s.cfg, req.GetVolume())
		if err != nil {
			return nil, s.status(err)
		}
		for _, r := range v.GetReplicas() {
			cmds = append(cmds, &ballastv1.SimNodeCommand{NodeId: r.GetNodeId(), HotspotReplicaId: r.GetId(), HotspotFactor: req.GetFactor(), HotspotSeconds: secs})
		}
		n = int32(len(cmds))
	}
	for _, cmd := range cmds {
		reply := &ballastv1.CommandReply{}
		if err := command.Request(ctx, s.cfg.NC, command.AgentSim(cmd.GetNodeId()), cmd, reply); err != nil {
			return nil, s.status(err)
		}
		if reply.GetError() != nil {
			return nil, s.status(newCommandError(reply.GetError()))
		}
	}
	return &ballastv1.InjectHotspotResponse{Replicas: n}, nil
}

// AddNodes asks an agent to add simulated nodes to its fleet, and answers
// once they are registered.
func (s *SimService) AddNodes(ctx context.Context, req *ballastv1.AddNodesRequest) (*ballastv1.AddNodesResponse, error) {
	if c := req.GetCount(); c < 1 || c > 1000 {
		return nil, s.status(badField("count", fmt.Sprintf("%d is out of range; at least 1, at most 1000", c)))
	}
	agent := req.GetAgent()
	if agent == "" {
		agent = "sim"
	}
	if strings.ContainsAny(agent, ".*> \t\r\n") {
		return nil, s.status(badField("agent", fmt.Sprintf("%q is not an agent's name: no dots, wildcards or spaces", agent)))
	}
	// Registering many nodes takes longer than a lookup.
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Minute)
		defer cancel()
	}
	// One attempt: growing is not idempotent, so a lost reply is not
	// resent (the nodes that joined show in `ballast node list`).
	data, err := proto.Marshal(&ballastv1.SimGrowCommand{Count: req.GetCount()})
	if err != nil {
		return nil, s.status(err)
	}
	msg, err := s.cfg.NC.RequestWithContext(ctx, command.AgentGrow(agent), data)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return nil, status.Errorf(codes.NotFound, "no agent named %q is running", agent)
	case err != nil:
		return nil, status.Errorf(codes.Unavailable, "agent %s did not answer (some nodes may have joined: see `ballast node list`): %v", agent, err)
	}
	reply := &ballastv1.SimGrowReply{}
	if err := proto.Unmarshal(msg.Data, reply); err != nil {
		return nil, status.Errorf(codes.Internal, "agent %s answered with garbage: %v", agent, err)
	}
	if reply.GetError() != nil {
		return nil, s.status(newCommandError(reply.GetError()))
	}
	return &ballastv1.AddNodesResponse{NodeIds: reply.GetNodeIds()}, nil
}
