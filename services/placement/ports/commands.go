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
)

// ServeCommands registers the placement commands on srv: explain, a query
// that every instance of the service can answer from the log.
func ServeCommands(srv *command.Server, x *app.Explainer, log *slog.Logger) error {
	return command.Handle(srv, "explain", command.PlacementExplain, func() *pb.ExplainPlacementRequest { return &pb.ExplainPlacementRequest{} },
		func(ctx context.Context, req *pb.ExplainPlacementRequest) (proto.Message, error) {
			e, err := x.Handle(ctx, app.ExplainPlacement{VolumeID: req.GetName(), PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken()})
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
	case errors.Is(err, app.ErrNotPlaced):
		code = codes.NotFound
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
