package placement_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"ballast.dev/platform/command"
	"ballast.dev/platform/events"
	pb "ballast.dev/proto/ballast/v1"
	"ballast.dev/services/placement/adapters"
	"ballast.dev/services/placement/domain"
)

// explain sends the explain command for one page.
func (e *env) explain(volumeID string, pageSize int32, token string) *pb.ExplainPlacementReply {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reply := &pb.ExplainPlacementReply{}
	req := &pb.ExplainPlacementRequest{Name: volumeID, PageSize: pageSize, PageToken: token}
	if err := command.Request(ctx, e.conn.NC, command.PlacementExplain, req, reply); err != nil {
		e.t.Fatal(err)
	}
	return reply
}

// explainAll fetches every page; pages counts them.
func (e *env) explainAll(volumeID string, pageSize int32) (first *pb.ExplainPlacementResponse, rows []*pb.CandidateScore, pages int) {
	e.t.Helper()
	for token := ""; ; {
		reply := e.explain(volumeID, pageSize, token)
		if reply.GetError() != nil {
			e.t.Fatalf("explain %s: %v", volumeID, reply.GetError())
		}
		x := reply.GetExplanation()
		if first == nil {
			first = x
		}
		rows = append(rows, x.GetCandidates()...)
		pages++
		if token = x.GetNextPageToken(); token == "" {
			return first, rows, pages
		}
	}
}

// fleetNodes are n nodes over three zones with ssds of varied sizes; each
// is also returned as the domain reads it.
func fleetNodes(prefix string, n int, capGiB func(i int) uint64) ([]*pb.NodeRegistered, []domain.Node) {
	var regs []*pb.NodeRegistered
	var nodes []domain.Node
	for i := range n {
		id := fmt.Sprintf("%s-%03d", prefix, i)
		reg := &pb.NodeRegistered{NodeId: id, Zone: []string{"zone-a", "zone-b", "zone-c"}[i%3], Region: "r1",
			Disks: []*pb.Disk{{Id: "d0", Tier: pb.Tier_TIER_SSD, CapacityBytes: capGiB(i) * gib}}}
		if i%17 == 0 {
			// Some nodes have only an hdd: rejected for want of an ssd.
			reg.Disks[0].Tier = pb.Tier_TIER_HDD
		}
		regs = append(regs, reg)
		nodes = append(nodes, adapters.NodeFromProto(reg))
	}
	return regs, nodes
}

// Explain returns exactly the table Place computed when it decided, however
// the cluster changed since, a page at a time, through NATS.
func TestExplainRecomputesTheTableAsItWasAtTheDecision(t *testing.T) {
	regs, nodes := fleetNodes("node", 240, func(i int) uint64 { return 100 + uint64(i*7%240) })
	e := startWith(t, regs...)

	pre := e.request("pre", 50*gib)
	preDecided, ok := e.decision(pre, 1).(*pb.PlacementDecided)
	if !ok {
		t.Fatal("pre not placed")
	}
	id := e.request("a", 20*gib)
	decided, ok := e.decision(id, 1).(*pb.PlacementDecided)
	if !ok {
		t.Fatal("a not placed")
	}

	// The table as Place computed it then: the nodes, and pre's reservation.
	c, err := domain.NewCluster()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if err := c.UpsertNode(n); err != nil {
			t.Fatal(err)
		}
	}
	var prePlaced []domain.Placement
	for _, p := range preDecided.GetPlacements() {
		prePlaced = append(prePlaced, domain.Placement{NodeID: p.GetNodeId(), DiskID: p.GetDiskId()})
	}
	if err := c.Reserve(pre, prePlaced, 50*gib); err != nil {
		t.Fatal(err)
	}
	then, err := domain.Place(c, domain.Request{VolumeID: id, SizeBytes: 20 * gib, Replicas: 3, Tier: domain.TierSSD, Spread: domain.SpreadZone}, domain.WithCandidates())
	if err != nil {
		t.Fatal(err)
	}
	want := then.Ranked()

	// The cluster moves on: emptier nodes join, and space is taken on the
	// nodes that were chosen.
	more, _ := fleetNodes("late", 30, func(int) uint64 { return 2000 })
	e.register(more...)
	for i := range 3 {
		if _, ok := e.decision(e.request(fmt.Sprintf("b%d", i), 60*gib), 1).(*pb.PlacementDecided); !ok {
			t.Fatalf("b%d not placed", i)
		}
	}

	check := func(first *pb.ExplainPlacementResponse, rows []*pb.CandidateScore) {
		t.Helper()
		if len(rows) != len(want) || int(first.GetTotalSize()) != len(want) {
			t.Fatalf("%d rows (total %d), want the %d nodes of the cluster then", len(rows), first.GetTotalSize(), len(want))
		}
		for i, w := range want {
			if !proto.Equal(rows[i], adapters.CandidateToProto(w)) {
				t.Fatalf("row %d: got %v, want %v", i+1, rows[i], adapters.CandidateToProto(w))
			}
		}
		if first.GetTableSource() != pb.TableSource_TABLE_SOURCE_RECOMPUTED || !first.GetReproduced() || first.GetMismatch() != "" {
			t.Fatalf("source %v, reproduced %v, mismatch %q", first.GetTableSource(), first.GetReproduced(), first.GetMismatch())
		}
		if first.GetVolumeName() != "a" || !proto.Equal(first.GetSummary(), decided.GetSummary()) || len(first.GetPlacements()) != 3 ||
			!proto.Equal(first.GetPlacements()[0], decided.GetPlacements()[0]) || len(first.GetScoreNames()) != 2 {
			t.Fatalf("decision %v, recorded %v", first, decided)
		}
	}
	first, rows, pages := e.explainAll(id, 100)
	if pages != 3 {
		t.Errorf("%d pages of 100 for %d rows", pages, len(rows))
	}
	check(first, rows)

	// Another instance (here: the service restarted, its cache gone) takes
	// up a page token where the last one left off.
	token := e.explain(id, 100, "").GetExplanation().GetNextPageToken()
	e.restart()
	reply := e.explain(id, 100, token)
	if reply.GetError() != nil || !proto.Equal(reply.GetExplanation().GetCandidates()[0], adapters.CandidateToProto(want[100])) {
		t.Fatalf("page 2 after a restart: %v", reply.GetError())
	}
	first, rows, _ = e.explainAll(id, 1000)
	check(first, rows)
}

func TestExplainRefusals(t *testing.T) {
	e := start(t)
	if r := e.explain("vol-never", 0, ""); r.GetError().GetCode() != int32(codes.NotFound) {
		t.Fatalf("a volume never placed: %v", r)
	}
	id := e.request("a", 10*gib)
	decided := e.decision(id, 1).(*pb.PlacementDecided)
	// The decision stays the one explained after later events of the
	// volume's placement history.
	e.append(events.Volume.Subject("a"), 1, &pb.VolumeResizeRequested{VolumeId: id, VolumeName: "a", SizeBytes: 20 * gib})
	if _, ok := e.decision(id, 2).(*pb.ResizeApproved); !ok {
		t.Fatal("resize not approved")
	}
	if x := e.explain(id, 0, "").GetExplanation(); x.GetDecisionSequence() == 0 || !proto.Equal(x.GetSummary(), decided.GetSummary()) || len(x.GetCandidates()) != 3 {
		t.Fatalf("explained after a resize as %v", x)
	}
	r := e.explain(id, 0, "bm90LWEtdG9rZW4")
	if r.GetError().GetCode() != int32(codes.InvalidArgument) || r.GetError().GetField() != "page_token" {
		t.Fatalf("a bad page token: %v", r)
	}
	// A failed placement is explained too: every node, and why not.
	f := e.request("huge", 500*gib)
	if _, ok := e.decision(f, 1).(*pb.PlacementFailed); !ok {
		t.Fatal("500 GiB placed on 100 GiB disks")
	}
	x := e.explain(f, 0, "").GetExplanation()
	if x.GetFailureReason() == "" || len(x.GetPlacements()) != 0 || len(x.GetCandidates()) != 3 || !x.GetReproduced() {
		t.Fatalf("failed decision explained as %v", x)
	}
	for _, c := range x.GetCandidates() {
		if c.GetFeasible() || c.GetRejection() != pb.RejectionReason_REJECTION_REASON_NO_ROOM {
			t.Fatalf("row %v", c)
		}
	}
}

// A decision recorded before summaries, with every candidate in its event,
// is explained from the event.
func TestExplainAnOldDecisionFromItsEvent(t *testing.T) {
	e := start(t)
	old := &pb.PlacementDecided{VolumeId: "vol-old", VolumeName: "old", SizeBytes: gib,
		Placements: []*pb.ReplicaPlacement{{ReplicaId: "vol-old-0", NodeId: "node-1", DiskId: "node-1-d0", Zone: "zone-a"}},
		ScoreNames: []string{domain.ScoreHeadroom, domain.ScoreDomainBalance},
		Candidates: []*pb.CandidateScore{
			{NodeId: "node-1", DiskId: "node-1-d0", Feasible: true, Scores: []float64{0.5, 0.6}, Total: 0.53, Chosen: true},
			{NodeId: "node-2", DiskId: "node-2-d0", Feasible: true, Scores: []float64{0.9, 0.9}, Total: 0.9},
			{NodeId: "node-3", Reason: "node is cordoned"},
		}}
	e.append(events.Placement.Subject("vol-old"), 0, old)
	x := e.explain("vol-old", 0, "").GetExplanation()
	if x.GetTableSource() != pb.TableSource_TABLE_SOURCE_RECORDED || x.GetSummary() != nil || x.GetReproduced() {
		t.Fatalf("explanation %v", x)
	}
	var order []string
	for _, c := range x.GetCandidates() {
		order = append(order, c.GetNodeId())
	}
	if fmt.Sprint(order) != "[node-2 node-1 node-3]" || fmt.Sprint(x.GetScoreNames()) != "[headroom domain-balance]" {
		t.Fatalf("rows %v, score names %v", order, x.GetScoreNames())
	}
	// The model reserved it as it always did.
	if _, ok := e.decision(e.request("b", 100*gib), 1).(*pb.PlacementFailed); !ok {
		t.Fatal("node-1 holds the old volume's GiB: 100 GiB no longer fits in three zones")
	}
}
