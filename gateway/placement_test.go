package gateway_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"ballast.dev/platform/command"
	ballastv1 "ballast.dev/proto/ballast/v1"
)

// fakePlacement answers the explain command with a fixed explanation of the
// volume id "vol-1" and records what it was asked.
type fakePlacement struct {
	mu   sync.Mutex
	asks []*ballastv1.ExplainPlacementRequest
}

func startFakePlacement(t *testing.T, e *env) *fakePlacement {
	f := &fakePlacement{}
	srv, err := command.NewServer(t.Context(), e.conn.NC, "ballast-placement-fake", "0.0.1", "test double", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	err = command.Handle(srv, "explain", command.PlacementExplain, func() *ballastv1.ExplainPlacementRequest { return &ballastv1.ExplainPlacementRequest{} },
		func(_ context.Context, req *ballastv1.ExplainPlacementRequest) (proto.Message, error) {
			f.mu.Lock()
			f.asks = append(f.asks, proto.CloneOf(req))
			f.mu.Unlock()
			switch {
			case req.GetName() != "vol-1":
				return &ballastv1.ExplainPlacementReply{Error: &ballastv1.CommandError{Code: int32(codes.NotFound), Message: "volume " + req.GetName() + ": no placement decision"}}, nil
			case req.GetPageToken() == "stale":
				return &ballastv1.ExplainPlacementReply{Error: &ballastv1.CommandError{Code: int32(codes.InvalidArgument),
					Message: "page_token: page_token belongs to another decision", Field: "page_token"}}, nil
			}
			return &ballastv1.ExplainPlacementReply{Explanation: &ballastv1.ExplainPlacementResponse{
				VolumeId: "vol-1", DecisionSequence: 7, TableSource: ballastv1.TableSource_TABLE_SOURCE_RECOMPUTED, Reproduced: true,
				Candidates: []*ballastv1.CandidateScore{{NodeId: "n1", Feasible: true, Chosen: true}}, TotalSize: 1, At: req.GetAt(),
				Origins: []*ballastv1.ReplicaOrigin{{ReplicaId: "r-2", NodeId: "n2", Kind: ballastv1.OriginKind_ORIGIN_KIND_MOVE, Sequence: 9,
					Move: &ballastv1.MoveOrigin{MigrationId: "m-1", Reason: ballastv1.MoveReason_MOVE_REASON_DRAIN, Source: &ballastv1.ReplicaPlacement{ReplicaId: "r-1", NodeId: "n1"}}}},
			}}, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fakePlacement) asked() []*ballastv1.ExplainPlacementRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*ballastv1.ExplainPlacementRequest(nil), f.asks...)
}

func TestExplainPlacement(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := startFakePlacement(t, e)
	placement := ballastv1.NewPlacementServiceClient(e.cc)
	e.log.volume("db", requested("vol-1", "db", gib, 0))
	e.log.volume("cache", requested("vol-2", "cache", gib, 1))

	// By name: the gateway resolves it, the placement service gets the id.
	resp, err := placement.ExplainPlacement(testCtx(t), &ballastv1.ExplainPlacementRequest{Name: "db", PageToken: "next"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetVolumeName() != "db" || resp.GetDecisionSequence() != 7 || len(resp.GetCandidates()) != 1 {
		t.Fatalf("explanation %v", resp)
	}
	want := &ballastv1.ExplainPlacementRequest{Name: "vol-1", PageSize: 100, PageToken: "next"}
	if got := f.asked(); len(got) != 1 || !proto.Equal(got[0], want) {
		t.Fatalf("placement was asked %v, want %v", got, want)
	}
	// By id, with a page size past the limit.
	if _, err := placement.ExplainPlacement(testCtx(t), &ballastv1.ExplainPlacementRequest{Name: "vol-1", PageSize: 5000}); err != nil {
		t.Fatal(err)
	}
	if got := f.asked(); got[1].GetPageSize() != 1000 {
		t.Fatalf("page size %d sent, want it cut to 1000", got[1].GetPageSize())
	}

	_, err = placement.ExplainPlacement(testCtx(t), &ballastv1.ExplainPlacementRequest{Name: "nope"})
	wantCode(t, err, codes.NotFound, `volume "nope" not found`)
	_, err = placement.ExplainPlacement(testCtx(t), &ballastv1.ExplainPlacementRequest{Name: "cache"})
	wantCode(t, err, codes.NotFound, "volume cache (id vol-2) has no placement decision yet; it is creating")
	_, err = placement.ExplainPlacement(testCtx(t), &ballastv1.ExplainPlacementRequest{Name: ""})
	wantCode(t, err, codes.InvalidArgument, "name")
	_, err = placement.ExplainPlacement(testCtx(t), &ballastv1.ExplainPlacementRequest{Name: "db", PageSize: -1})
	wantCode(t, err, codes.InvalidArgument, "page_size")
	_, err = placement.ExplainPlacement(testCtx(t), &ballastv1.ExplainPlacementRequest{Name: "db", PageToken: "stale"})
	wantCode(t, err, codes.InvalidArgument, "another decision")
	var field string
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			field = br.GetFieldViolations()[0].GetField()
		}
	}
	if field != "page_token" {
		t.Fatalf("bad page token names field %q", field)
	}

	// A deleted volume's decision can still be explained, by its id.
	e.log.volume("db", &ballastv1.VolumeDeleted{VolumeId: "vol-1", VolumeName: "db", OccurTime: at(2)})
	if _, err := placement.ExplainPlacement(testCtx(t), &ballastv1.ExplainPlacementRequest{Name: "vol-1"}); err != nil {
		t.Fatalf("explain a deleted incarnation: %v", err)
	}
}

// At an earlier time, a name is the incarnation that held it then, found
// in the log; placement's answer (or refusal, which names the time) passes
// through.
func TestExplainPlacementAtATime(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := startFakePlacement(t, e)
	placement := ballastv1.NewPlacementServiceClient(e.cc)
	e.log.volume("db", requested("vol-1", "db", gib, 0))
	e.log.volume("db", &ballastv1.VolumeDeleted{VolumeId: "vol-1", VolumeName: "db", OccurTime: at(10)})
	e.log.volume("db", requested("vol-3", "db", gib, 20))

	resp, err := placement.ExplainPlacement(testCtx(t), &ballastv1.ExplainPlacementRequest{Name: "db", At: at(5)})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetVolumeName() != "db" || !proto.Equal(resp.GetAt(), at(5)) || len(resp.GetOrigins()) != 1 ||
		resp.GetOrigins()[0].GetMove().GetSource().GetReplicaId() != "r-1" {
		t.Fatalf("explanation %v", resp)
	}
	asked := f.asked()
	if want := (&ballastv1.ExplainPlacementRequest{Name: "vol-1", PageSize: 100, At: at(5)}); !proto.Equal(asked[0], want) {
		t.Fatalf("placement was asked %v, want %v", asked[0], want)
	}

	// The name now: its new incarnation, not placed in this test. At a
	// time, placement's refusal is passed on as it said it.
	_, err = placement.ExplainPlacement(testCtx(t), &ballastv1.ExplainPlacementRequest{Name: "db", At: at(25)})
	wantCode(t, err, codes.NotFound, "volume vol-3: no placement decision")
	if got := f.asked(); got[len(got)-1].GetName() != "vol-3" {
		t.Fatalf("placement was asked about %s", got[len(got)-1].GetName())
	}
	_, err = placement.ExplainPlacement(testCtx(t), &ballastv1.ExplainPlacementRequest{Name: "db"})
	wantCode(t, err, codes.NotFound, "volume db (id vol-3) has no placement decision yet")

	// An id has no history of its own in the volume log: the read model
	// knows it.
	if _, err := placement.ExplainPlacement(testCtx(t), &ballastv1.ExplainPlacementRequest{Name: "vol-1", At: at(5)}); err != nil {
		t.Fatal(err)
	}

	n := len(f.asked())
	_, err = placement.ExplainPlacement(testCtx(t), &ballastv1.ExplainPlacementRequest{Name: "db", At: at(-5)})
	wantCode(t, err, codes.NotFound, `volume "db" did not exist at `+at(-5).AsTime().Format(time.RFC3339Nano)+"; it was first created at "+at(0).AsTime().Format(time.RFC3339Nano))
	_, err = placement.ExplainPlacement(testCtx(t), &ballastv1.ExplainPlacementRequest{Name: "db", At: &timestamppb.Timestamp{Seconds: 1, Nanos: -1}})
	wantCode(t, err, codes.InvalidArgument, "at: not a valid time")
	if len(f.asked()) != n {
		t.Fatal("placement was asked about a time the gateway refused")
	}
}
