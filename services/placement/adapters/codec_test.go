package adapters

import (
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "ballast.dev/proto/ballast/v1"
	"ballast.dev/services/placement/app"
	"ballast.dev/services/placement/domain"
)

// A decision's record reads back as the decision it summarises, with the
// basis it was computed from.
func TestDecisionRecordRoundTrip(t *testing.T) {
	c := fleet(t, 200)
	r := domain.Request{VolumeID: "vol-1", SizeBytes: 100 * gib, Replicas: 3, Tier: domain.TierSSD, Spread: domain.SpreadZone,
		NodeSelector: map[string]string{"rack": "r07"}}
	d, err := domain.Place(c, domain.Request{VolumeID: "vol-1", SizeBytes: 100 * gib, Replicas: 3, Tier: domain.TierSSD, Spread: domain.SpreadZone})
	if err != nil {
		t.Fatal(err)
	}
	b := app.Basis{Request: r, At: app.Position{Node: 812, Placement: 9031}, Overcommit: 1.5}
	ev := decidedEvent("db", b, d, timestamppb.Now())
	data, err := proto.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var back pb.PlacementDecided
	if err := proto.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	rec, ok := recordedDecision(&back)
	if !ok || !rec.Summarized || rec.Failed || rec.VolumeName != "db" {
		t.Fatalf("record %+v", rec)
	}
	if !reflect.DeepEqual(rec.Basis, b) {
		t.Errorf("basis %+v, want %+v", rec.Basis, b)
	}
	if !reflect.DeepEqual(rec.Decision, d) {
		t.Errorf("decision read back\n%+v\nwant\n%+v", rec.Decision, d)
	}
	seen := map[string]bool{}
	for i, rep := range rec.Replicas {
		if !strings.HasPrefix(rep.ID, "r-") || len(rep.ID) != 22 || seen[rep.ID] || rep.Placement != d.Placements[i] {
			t.Errorf("replica %d: %+v", i, rep)
		}
		seen[rep.ID] = true
	}
}

// A decision recorded before summaries, with every candidate, still reads:
// the model reserves its placements and explain has its table.
func TestDecisionRecordedBeforeSummaries(t *testing.T) {
	old := &pb.PlacementDecided{
		VolumeId: "vol-old", VolumeName: "legacy", SizeBytes: 10 * gib,
		Placements: []*pb.ReplicaPlacement{{ReplicaId: "vol-old-0", NodeId: "n1", DiskId: "d0", Zone: "zone-a"}},
		ScoreNames: []string{domain.ScoreHeadroom, domain.ScoreDomainBalance},
		Candidates: []*pb.CandidateScore{
			{NodeId: "n1", DiskId: "d0", Feasible: true, Scores: []float64{0.9, 0.8}, Total: 0.87, Chosen: true},
			{NodeId: "n2", Reason: "node is cordoned"},
		},
	}
	data, err := proto.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	var back pb.PlacementDecided
	if err := proto.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}

	c, err := domain.NewCluster()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.UpsertNode(domain.Node{ID: "n1", Zone: "zone-a", Region: "r1", State: domain.NodeUp,
		Disks: []domain.Disk{{ID: "d0", Tier: domain.TierSSD, CapacityBytes: 100 * gib}}}); err != nil {
		t.Fatal(err)
	}
	if id, err := applyEvent(c, &back); err != nil || id != "vol-old" {
		t.Fatalf("apply: %q, %v", id, err)
	}
	if free, _ := c.FreeBytes("n1", "d0"); free != 90*gib {
		t.Errorf("free after the old decision %d GiB, want 90", free/gib)
	}

	rec, ok := recordedDecision(&back)
	if !ok || rec.Summarized || len(rec.Decision.Candidates) != 2 {
		t.Fatalf("record %+v", rec)
	}
	best := rec.Decision.Candidates[0]
	if h, ok := best.Score(domain.ScoreHeadroom); !ok || h != 0.9 || !best.Chosen {
		t.Errorf("row %+v", best)
	}
	if rec.Decision.Candidates[1].Reason != "node is cordoned" || rec.Decision.Candidates[1].Feasible {
		t.Errorf("row %+v", rec.Decision.Candidates[1])
	}
}
