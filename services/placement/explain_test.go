package placement_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

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

// volumeEvent appends m to the volume's history as the volume service
// would, after what it has.
func (e *env) volumeEvent(name string, m proto.Message) {
	e.t.Helper()
	recs, _, err := e.conn.Store.Load(context.Background(), events.Volume.Stream, events.Volume.Subject(name))
	if err != nil {
		e.t.Fatal(err)
	}
	var last uint64
	if len(recs) > 0 {
		last = recs[len(recs)-1].Sequence
	}
	e.append(events.Volume.Subject(name), last, m)
}

// standInMigrations answers the migration service's request command as
// the service would when it accepts a move, and records what it was asked:
// placement's part of a move ends with that request.
func standInMigrations(t *testing.T, e *env) chan *pb.RequestMigrationRequest {
	asked := make(chan *pb.RequestMigrationRequest, 4)
	srv, err := command.NewServer(t.Context(), e.conn.NC, "ballast-migration-stand-in", "0.0.1", "test stand-in", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	if err := command.Handle(srv, "request", command.MigrationRequest, func() *pb.RequestMigrationRequest { return &pb.RequestMigrationRequest{} },
		func(_ context.Context, req *pb.RequestMigrationRequest) (proto.Message, error) {
			asked <- proto.CloneOf(req)
			return &pb.MigrationReply{Migration: &pb.Migration{Id: req.GetMigrationId(), VolumeId: req.GetVolumeId(), VolumeName: req.GetVolumeName()}}, nil
		}); err != nil {
		t.Fatal(err)
	}
	return asked
}

// explainAt sends the explain command for the first page at a time.
func (e *env) explainAt(volumeID string, at time.Time) *pb.ExplainPlacementReply {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reply := &pb.ExplainPlacementReply{}
	req := &pb.ExplainPlacementRequest{Name: volumeID}
	if !at.IsZero() {
		req.At = timestamppb.New(at)
	}
	if err := command.Request(ctx, e.conn.NC, command.PlacementExplain, req, reply); err != nil {
		e.t.Fatal(err)
	}
	return reply
}

// origins renders an explanation's origins as "replica@node:kind" words.
func origins(x *pb.ExplainPlacementResponse) string {
	var parts []string
	for _, o := range x.GetOrigins() {
		parts = append(parts, fmt.Sprintf("%s@%s:%s", o.GetReplicaId(), o.GetNodeId(), strings.TrimPrefix(o.GetKind().String(), "ORIGIN_KIND_")))
	}
	return strings.Join(parts, " ")
}

// A replica moved since the decision is explained by its move: the
// operator's reason, the replica it replaced and its target against the
// alternatives, recomputed from the log; and any earlier time by the log
// up to it.
func TestExplainAMovedReplicaAtAnyTime(t *testing.T) {
	// Two nodes per zone: a replica can move within its zone.
	var nodes []*pb.NodeRegistered
	for i := range 6 {
		id := fmt.Sprintf("node-%d", i+1)
		nodes = append(nodes, &pb.NodeRegistered{NodeId: id, Zone: []string{"zone-a", "zone-b", "zone-c"}[i%3], Region: "r1",
			Disks: []*pb.Disk{{Id: id + "-d0", Tier: pb.Tier_TIER_SSD, CapacityBytes: uint64(100+10*i) * gib}}})
	}
	e := startWith(t, nodes...)
	asked := standInMigrations(t, e)

	before := time.Now()
	id := e.request("a", 10*gib)
	decided, ok := e.decision(id, 1).(*pb.PlacementDecided)
	if !ok {
		t.Fatal("a not placed")
	}
	var assigned []*pb.Replica
	for _, p := range decided.GetPlacements() {
		assigned = append(assigned, &pb.Replica{Id: p.GetReplicaId(), NodeId: p.GetNodeId(), DiskId: p.GetDiskId(), Zone: p.GetZone(),
			State: pb.ReplicaState_REPLICA_STATE_READY, Role: pb.ReplicaRole_REPLICA_ROLE_HEALTHY})
	}
	e.volumeEvent("a", &pb.ReplicasAssigned{VolumeId: id, VolumeName: "a", SizeBytes: 10 * gib, Replicas: assigned})
	e.volumeEvent("a", &pb.VolumeReady{VolumeId: id, VolumeName: "a"})
	placed := time.Now()

	// An operator moves the first replica; placement picks the target.
	src := decided.GetPlacements()[0]
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	reply := &pb.MigrationReply{}
	if err := command.Request(ctx, e.conn.NC, command.PlacementMove, &pb.MoveReplicaCommand{RequestId: "op-1", VolumeId: id, VolumeName: "a",
		Source: &pb.ReplicaRef{ReplicaId: src.GetReplicaId(), NodeId: src.GetNodeId()}, Tier: pb.Tier_TIER_SSD, Spread: pb.Spread_SPREAD_ZONE,
		Generation: 1, Reason: "moved by an operator"}, reply); err != nil || reply.GetError() != nil {
		t.Fatalf("move: %v %v", err, reply.GetError())
	}
	req := <-asked
	admitted, ok := e.decision(id, 2).(*pb.MoveAdmitted)
	if !ok {
		t.Fatal("no move admitted")
	}
	s := admitted.GetSummary()
	if admitted.GetKind() != pb.MoveReason_MOVE_REASON_OPERATOR || s.GetRequest().GetReplicas() != 1 || s.GetModelPosition().GetNodeSequence() != 6 ||
		s.GetNodesConsidered() != 6 || len(s.GetBestCandidates()) == 0 || admitted.GetTarget().GetReplicaId() != req.GetTarget().GetReplicaId() {
		t.Fatalf("admitted %v", admitted)
	}
	target := admitted.GetTarget()
	e.volumeEvent("a", &pb.ReplicaAdded{VolumeId: id, VolumeName: "a", Generation: 2, MigrationId: admitted.GetMigrationId(),
		Replica: &pb.Replica{Id: target.GetReplicaId(), NodeId: target.GetNodeId(), DiskId: target.GetDiskId(), Zone: target.GetZone()}})
	copying := time.Now()
	e.volumeEvent("a", &pb.ReplicaPromoted{VolumeId: id, VolumeName: "a", Generation: 3, MigrationId: admitted.GetMigrationId(),
		ReplicaId: target.GetReplicaId(), NodeId: target.GetNodeId(), RetiredReplicaId: src.GetReplicaId(), RetiredNodeId: src.GetNodeId()})
	e.volumeEvent("a", &pb.ReplicaRemoved{VolumeId: id, VolumeName: "a", ReplicaId: src.GetReplicaId(), NodeId: src.GetNodeId()})

	p := decided.GetPlacements()
	word := func(r *pb.ReplicaPlacement, kind string) string {
		return r.GetReplicaId() + "@" + r.GetNodeId() + ":" + kind
	}
	check := func(name string, at time.Time, want string) *pb.ExplainPlacementResponse {
		t.Helper()
		r := e.explainAt(id, at)
		if r.GetError() != nil {
			t.Fatalf("%s: %v", name, r.GetError())
		}
		x := r.GetExplanation()
		if got := origins(x); got != want {
			t.Fatalf("%s: origins\n %s\nwant\n %s", name, got, want)
		}
		// The decision's table is the same at any time.
		if !x.GetReproduced() || x.GetDecisionSequence() == 0 || x.GetTotalSize() != 6 || !proto.Equal(x.GetSummary(), decided.GetSummary()) {
			t.Fatalf("%s: decision %v", name, x)
		}
		return x
	}

	now := check("now", time.Time{}, strings.Join([]string{word(p[1], "DECISION"), word(p[2], "DECISION"), word(target, "MOVE")}, " "))
	mo := now.GetOrigins()[2]
	m := mo.GetMove()
	if mo.GetRole() != pb.ReplicaRole_REPLICA_ROLE_HEALTHY || mo.GetSequence() == 0 || mo.GetTime() == nil ||
		m.GetReason() != pb.MoveReason_MOVE_REASON_OPERATOR || m.GetReasonText() != "moved by an operator" ||
		m.GetSource().GetReplicaId() != src.GetReplicaId() || m.GetSource().GetNodeId() != src.GetNodeId() ||
		m.GetTableSource() != pb.TableSource_TABLE_SOURCE_RECOMPUTED || !m.GetReproduced() || m.GetMismatch() != "" ||
		m.GetTotalSize() != 6 || m.GetTargetRank() != 1 || !proto.Equal(m.GetSummary(), s) {
		t.Fatalf("move origin %v", mo)
	}
	// The target is the only chosen row.
	for _, c := range m.GetCandidates() {
		if c.GetChosen() != (c.GetNodeId() == target.GetNodeId()) {
			t.Fatalf("row %v", c)
		}
	}
	if now.GetAt() == nil || now.GetAt().AsTime().Before(copying) {
		t.Fatalf("explained at %v", now.GetAt())
	}

	check("placed, before the move", placed, strings.Join([]string{word(p[0], "DECISION"), word(p[1], "DECISION"), word(p[2], "DECISION")}, " "))
	during := check("copying", copying, strings.Join([]string{word(p[0], "DECISION"), word(p[1], "DECISION"), word(p[2], "DECISION"), word(target, "MOVE")}, " "))
	if r := during.GetOrigins()[3].GetRole(); r != pb.ReplicaRole_REPLICA_ROLE_REBUILDING {
		t.Fatalf("the target while copying is %v", r)
	}

	// The same after a restart: from the log alone.
	e.restart()
	check("now, restarted", time.Time{}, strings.Join([]string{word(p[1], "DECISION"), word(p[2], "DECISION"), word(target, "MOVE")}, " "))

	r := e.explainAt(id, before)
	if r.GetError().GetCode() != int32(codes.NotFound) || !strings.Contains(r.GetError().GetMessage(), "volume a did not exist at "+before.UTC().Format(time.RFC3339Nano)) {
		t.Fatalf("before the volume: %v", r.GetError())
	}
	r = e.explainAt(id, time.Now().Add(time.Hour))
	if r.GetError().GetCode() != int32(codes.InvalidArgument) || r.GetError().GetField() != "at" || !strings.Contains(r.GetError().GetMessage(), "in the future") {
		t.Fatalf("a time in the future: %v", r.GetError())
	}
}
