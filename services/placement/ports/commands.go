package ports

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"ballast.dev/platform/command"
	pb "ballast.dev/proto/ballast/v1"
	"ballast.dev/services/placement/adapters"
	"ballast.dev/services/placement/app"
	"ballast.dev/services/placement/domain"
)

// ServeCommands registers the placement commands on srv: explain, a query
// that every instance of the service can answer from the log, and the node
// states an operator sets. A dry run plans on planning(): the planner as the
// rebalancer would run it next.
func ServeCommands(srv *command.Server, x *app.Explainer, nodes app.NodeStates, mover app.Mover, planning func() app.Planner, log *slog.Logger) error {
	if err := command.Handle(srv, "plan", command.PlacementPlan, func() *pb.PlanRebalanceRequest { return &pb.PlanRebalanceRequest{} },
		func(ctx context.Context, req *pb.PlanRebalanceRequest) (proto.Message, error) {
			planner := planning()
			planner.WithBound = true
			plan, took, err := planner.Plan(ctx, app.WhatIf{DrainNodes: req.GetDrainNodes(), FailNodes: req.GetFailNodes(),
				FailZones: req.GetFailZones(), AddNodes: int(req.GetAddNodes())})
			if err != nil {
				return &pb.PlanRebalanceReply{Error: commandError(ctx, log, err)}, nil
			}
			names := map[string]string{}
			for _, h := range planner.Holdings.HeldAll() {
				names[h.VolumeID] = h.Name
			}
			return &pb.PlanRebalanceReply{Plan: PlanToProto(plan, took, int(req.GetMaxMoves()), func(id string) string { return names[id] }, planner.CopyBandwidth)}, nil
		}); err != nil {
		return err
	}
	if err := command.Handle(srv, "move", command.PlacementMove, func() *pb.MoveReplicaCommand { return &pb.MoveReplicaCommand{} },
		func(ctx context.Context, req *pb.MoveReplicaCommand) (proto.Message, error) {
			if err := command.CheckRequestID(req.GetRequestId()); err != nil {
				return &pb.MigrationReply{Error: &pb.CommandError{Code: int32(codes.InvalidArgument), Message: "request_id: " + err.Error(), Field: "request_id"}}, nil
			}
			s := req.GetSource()
			out, err := mover.Move(ctx, app.MoveReplica{RequestID: req.GetRequestId(), VolumeID: req.GetVolumeId(), VolumeName: req.GetVolumeName(),
				Source: app.Replica{ID: s.GetReplicaId(), Placement: domain.Placement{NodeID: s.GetNodeId(), DiskID: s.GetDiskId(), Zone: s.GetZone()}},
				ToNode: req.GetToNode(), Tier: adapters.TierFromProto(req.GetTier()), Spread: adapters.SpreadFromProto(req.GetSpread()),
				Generation: req.GetGeneration(), Reason: req.GetReason(), Kind: app.MoveOperator})
			if err != nil {
				return &pb.MigrationReply{Error: commandError(ctx, log, err)}, nil
			}
			return out.(*pb.MigrationReply), nil
		}); err != nil {
		return err
	}
	if err := command.Handle(srv, "nodestate", command.NodeState, func() *pb.SetNodeStateRequest { return &pb.SetNodeStateRequest{} },
		func(ctx context.Context, req *pb.SetNodeStateRequest) (proto.Message, error) {
			if err := command.CheckRequestID(req.GetRequestId()); err != nil {
				return &pb.SetNodeStateReply{Error: &pb.CommandError{Code: int32(codes.InvalidArgument), Message: "request_id: " + err.Error(), Field: "request_id"}}, nil
			}
			state, seq, err := nodes.Set(ctx, app.SetNodeState{RequestID: req.GetRequestId(), NodeID: req.GetNodeId(), State: domain.NodeState(req.GetState()), Reason: req.GetReason()})
			if err != nil {
				return &pb.SetNodeStateReply{Error: commandError(ctx, log, err)}, nil
			}
			return &pb.SetNodeStateReply{State: pb.NodeState(state), Sequence: seq}, nil
		}); err != nil {
		return err
	}
	return command.Handle(srv, "explain", command.PlacementExplain, func() *pb.ExplainPlacementRequest { return &pb.ExplainPlacementRequest{} },
		func(ctx context.Context, req *pb.ExplainPlacementRequest) (proto.Message, error) {
			q := app.ExplainPlacement{VolumeID: req.GetName(), PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken()}
			if at := req.GetAt(); at != nil {
				if err := at.CheckValid(); err != nil {
					return &pb.ExplainPlacementReply{Error: commandError(ctx, log, &app.ArgumentError{Field: "at", Reason: "not a valid time: " + err.Error()})}, nil
				}
				q.At = at.AsTime()
			}
			e, err := x.Handle(ctx, q)
			if err != nil {
				return &pb.ExplainPlacementReply{Error: commandError(ctx, log, err)}, nil
			}
			return &pb.ExplainPlacementReply{Explanation: ExplanationToProto(e)}, nil
		})
}

// commandError maps a refusal to its API code. This is the one place where
// the placement service's errors become codes.
func commandError(ctx context.Context, log *slog.Logger, err error) *pb.CommandError {
	var ae *app.ArgumentError
	code := codes.Internal
	switch {
	case errors.As(err, &ae):
		return &pb.CommandError{Code: int32(codes.InvalidArgument), Message: err.Error(), Field: ae.Field}
	case errors.Is(err, app.ErrNotPlaced), errors.Is(err, app.ErrUnknownNode), errors.Is(err, app.ErrNoReplica):
		code = codes.NotFound
	case errors.Is(err, app.ErrUnplaceable), errors.Is(err, app.ErrMoveRefused):
		code = codes.FailedPrecondition
	case errors.Is(err, app.ErrNodeUnavailable):
		code = codes.FailedPrecondition
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	default:
		log.ErrorContext(ctx, "placement command failed", "err", err)
	}
	return &pb.CommandError{Code: int32(code), Message: err.Error()}
}

// ExplanationToProto is the API's form of one page of an explanation.
func ExplanationToProto(e app.Explanation) *pb.ExplainPlacementResponse {
	d := e.Decision
	out := &pb.ExplainPlacementResponse{
		VolumeId:         d.VolumeID,
		VolumeName:       d.VolumeName,
		DecisionSequence: d.Sequence,
		FailureReason:    d.FailureReason,
		TotalSize:        int32(e.Total),
		NextPageToken:    e.NextPageToken,
		Reproduced:       e.Source == app.TableRecomputed && e.Mismatch == "",
		Mismatch:         e.Mismatch,
	}
	if !d.Time.IsZero() {
		out.DecideTime = timestamppb.New(d.Time)
	}
	for _, r := range d.Replicas {
		out.Placements = append(out.Placements, &pb.ReplicaPlacement{ReplicaId: r.ID, NodeId: r.NodeID, DiskId: r.DiskID, Zone: r.Zone})
	}
	if d.Summarized {
		out.Summary = adapters.SummaryToProto(d.Basis, d.Decision)
	}
	out.ScoreNames = scoreNames(d)
	switch e.Source {
	case app.TableRecomputed:
		out.TableSource = pb.TableSource_TABLE_SOURCE_RECOMPUTED
	case app.TableRecorded:
		out.TableSource = pb.TableSource_TABLE_SOURCE_RECORDED
	}
	out.Candidates = make([]*pb.CandidateScore, len(e.Page))
	for i, c := range e.Page {
		out.Candidates[i] = adapters.CandidateToProto(c)
	}
	if !e.At.IsZero() {
		out.At = timestamppb.New(e.At)
	}
	if !e.Deleted.IsZero() {
		out.DeleteTime = timestamppb.New(e.Deleted)
	}
	for _, o := range e.Origins {
		out.Origins = append(out.Origins, originToProto(o))
	}
	return out
}

var originKinds = map[app.OriginKind]pb.OriginKind{
	app.OriginDecision: pb.OriginKind_ORIGIN_KIND_DECISION,
	app.OriginMove:     pb.OriginKind_ORIGIN_KIND_MOVE,
}

// originToProto is the API's form of why one replica is where it is.
func originToProto(o app.Origin) *pb.ReplicaOrigin {
	r := o.Replica
	out := &pb.ReplicaOrigin{ReplicaId: r.ID, NodeId: r.NodeID, DiskId: r.DiskID, Zone: r.Zone, Role: pb.ReplicaRole(r.Role),
		Kind: originKinds[o.Kind], Sequence: o.Sequence}
	if !o.Time.IsZero() {
		out.Time = timestamppb.New(o.Time)
	}
	if o.Kind != app.OriginMove {
		return out
	}
	m := o.Move
	mo := &pb.MoveOrigin{MigrationId: m.MigrationID, Reason: adapters.MoveKindToProto(m.Kind), ReasonText: m.Reason,
		Source: &pb.ReplicaPlacement{ReplicaId: m.Source.ID, NodeId: m.Source.NodeID, DiskId: m.Source.DiskID, Zone: m.Source.Zone},
		ToNode: m.ToNode, Gain: m.Gain, TargetRank: int32(o.TargetRank), TotalSize: int32(o.Total), Mismatch: o.Mismatch,
		Reproduced: o.Source == app.TableRecomputed && o.Mismatch == ""}
	if m.Summarized {
		mo.Summary = adapters.SummaryToProto(m.Basis, m.Summary)
	}
	if o.Source == app.TableRecomputed {
		mo.TableSource = pb.TableSource_TABLE_SOURCE_RECOMPUTED
	}
	for _, c := range o.Rows {
		mo.Candidates = append(mo.Candidates, adapters.CandidateToProto(c))
	}
	out.Move = mo
	return out
}

// scoreNames names the scores of the decision's rows: from its weights, or,
// for a decision recorded before summaries, from its rows.
func scoreNames(d app.RecordedDecision) []string {
	var names []string
	for _, w := range d.Decision.Weights {
		names = append(names, w.Name)
	}
	if len(names) > 0 {
		return names
	}
	for _, c := range d.Decision.Candidates {
		if len(c.Scores) > 0 {
			for _, s := range c.Scores {
				names = append(names, s.Name)
			}
			return names
		}
	}
	return nil
}
