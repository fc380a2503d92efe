package cli

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	ballastv1 "ballast.dev/proto/ballast/v1"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden with the current output")

// golden compares got with testdata/name.golden, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

var t0 = time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)

const gib = 1 << 30

func fixtureVolume() *ballastv1.Volume {
	return &ballastv1.Volume{
		Id:   "vol-7f3a9c",
		Name: "pg-data",
		Spec: &ballastv1.VolumeSpec{
			Capacity: &ballastv1.CapacityRange{RequiredBytes: 10 * gib, LimitBytes: 50 * gib},
			Replicas: 3,
			Tier:     ballastv1.Tier_TIER_SSD,
			Spread:   ballastv1.Spread_SPREAD_ZONE,
			Labels:   map[string]string{"team": "db", "env": "prod"},
		},
		SizeBytes: 10 * gib,
		State:     ballastv1.VolumeState_VOLUME_STATE_READY,
		Replicas: []*ballastv1.Replica{
			{Id: "rep-1", NodeId: "node-a1", DiskId: "ssd-0", Zone: "zone-a", State: ballastv1.ReplicaState_REPLICA_STATE_READY},
			{Id: "rep-2", NodeId: "node-b1", DiskId: "ssd-1", Zone: "zone-b", State: ballastv1.ReplicaState_REPLICA_STATE_READY},
			{Id: "rep-3", NodeId: "node-c12", DiskId: "ssd-0", Zone: "zone-c", State: ballastv1.ReplicaState_REPLICA_STATE_READY},
		},
		CreateTime: timestamppb.New(t0),
		UpdateTime: timestamppb.New(t0.Add(1500 * time.Millisecond)),
		Version:    42,
	}
}

func fixtureVolumes() []*ballastv1.Volume {
	creating := &ballastv1.Volume{
		Id:   "vol-01b2",
		Name: "cache",
		Spec: &ballastv1.VolumeSpec{
			Capacity: &ballastv1.CapacityRange{RequiredBytes: 500_000_000},
			Replicas: 2,
			Tier:     ballastv1.Tier_TIER_NVME,
			Spread:   ballastv1.Spread_SPREAD_NODE,
		},
		SizeBytes: 500_000_000,
		State:     ballastv1.VolumeState_VOLUME_STATE_CREATING,
		Replicas: []*ballastv1.Replica{
			{Id: "rep-4", NodeId: "node-a1", DiskId: "nvme-0", Zone: "zone-a", State: ballastv1.ReplicaState_REPLICA_STATE_READY},
			{Id: "rep-5", NodeId: "node-a2", DiskId: "nvme-0", Zone: "zone-a", State: ballastv1.ReplicaState_REPLICA_STATE_PENDING},
		},
		CreateTime: timestamppb.New(t0),
		Version:    7,
	}
	return []*ballastv1.Volume{creating, fixtureVolume()}
}

func fixtureNodes() []*ballastv1.Node {
	const tb = 1_000_000_000_000
	return []*ballastv1.Node{
		{
			Id: "node-a1", Zone: "zone-a", Region: "eu-west", State: ballastv1.NodeState_NODE_STATE_UP,
			Disks: []*ballastv1.Disk{
				{Id: "ssd-0", Tier: ballastv1.Tier_TIER_SSD, CapacityBytes: 3840 * tb / 1000, ReservedBytes: 30 * gib, ReplicaCount: 3},
				{Id: "ssd-1", Tier: ballastv1.Tier_TIER_SSD, CapacityBytes: 3840 * tb / 1000},
				{Id: "nvme-0", Tier: ballastv1.Tier_TIER_NVME, CapacityBytes: 1920 * tb / 1000, ReservedBytes: 500_000_000, ReplicaCount: 1},
			},
			ReplicaCount: 4,
			Load:         &ballastv1.NodeLoad{ReadIops: 1200, WriteIops: 340.4, Utilization: 0.452, WindowEndTime: timestamppb.New(t0)},
			RegisterTime: timestamppb.New(t0),
		},
		{
			Id: "node-b1", Zone: "zone-b", Region: "eu-west", State: ballastv1.NodeState_NODE_STATE_DRAINING,
			Labels: map[string]string{"rack": "r7"},
			Disks: []*ballastv1.Disk{
				{Id: "hdd-0", Tier: ballastv1.Tier_TIER_HDD, CapacityBytes: 16 * tb},
				{Id: "hdd-1", Tier: ballastv1.Tier_TIER_HDD, CapacityBytes: 18 * tb, ReservedBytes: 2 * tb, ReplicaCount: 2},
			},
			ReplicaCount: 2,
			RegisterTime: timestamppb.New(t0),
		},
	}
}

func fixtureEvent(t *testing.T) *ballastv1.Event {
	t.Helper()
	payload, err := anypb.New(&ballastv1.ReplicaConfirmed{
		VolumeId: "vol-7f3a9c", VolumeName: "pg-data", ReplicaId: "rep-2", NodeId: "node-b1",
		OccurTime: timestamppb.New(t0),
	})
	if err != nil {
		t.Fatal(err)
	}
	return &ballastv1.Event{
		Stream:        "BALLAST_EVENTS",
		Subject:       "ballast.evt.volume.pg-data",
		Sequence:      1042,
		Type:          string(proto.MessageName(&ballastv1.ReplicaConfirmed{})),
		AppendTime:    timestamppb.New(t0.Add(12 * time.Millisecond)),
		CorrelationId: "req-9",
		Payload:       payload,
	}
}

// fixtureExplanation is a recomputed explanation of a 3-replica volume on a
// cluster of seven nodes, three of them rejected.
func fixtureExplanation() *ballastv1.ExplainPlacementResponse {
	row := func(node, zone, disk string, total, headroom, balance float64, chosen bool) *ballastv1.CandidateScore {
		return &ballastv1.CandidateScore{NodeId: node, Zone: zone, DiskId: disk, Feasible: true, Total: total, Scores: []float64{headroom, balance}, Chosen: chosen}
	}
	rejected := func(node, zone string, why ballastv1.RejectionReason, reason string) *ballastv1.CandidateScore {
		return &ballastv1.CandidateScore{NodeId: node, Zone: zone, Rejection: why, Reason: reason}
	}
	best := []*ballastv1.CandidateScore{
		row("node-a1", "zone-a", "ssd-0", 0.9123, 0.95, 0.8369, true),
		row("node-b1", "zone-b", "ssd-1", 0.9, 0.93, 0.84, true),
		row("node-a2", "zone-a", "ssd-0", 0.88, 0.9, 0.84, false),
		row("node-c12", "zone-c", "ssd-0", 0.7, 0.71, 0.68, true),
	}
	return &ballastv1.ExplainPlacementResponse{
		VolumeId: "vol-7f3a9c", VolumeName: "pg-data", DecisionSequence: 812, DecideTime: timestamppb.New(t0),
		Placements: []*ballastv1.ReplicaPlacement{
			{ReplicaId: "vol-7f3a9c-0", NodeId: "node-a1", DiskId: "ssd-0", Zone: "zone-a"},
			{ReplicaId: "vol-7f3a9c-1", NodeId: "node-b1", DiskId: "ssd-1", Zone: "zone-b"},
			{ReplicaId: "vol-7f3a9c-2", NodeId: "node-c12", DiskId: "ssd-0", Zone: "zone-c"},
		},
		Summary: &ballastv1.DecisionSummary{
			Request:       &ballastv1.PlacementRequest{SizeBytes: 10 * gib, Replicas: 3, Tier: ballastv1.Tier_TIER_SSD, Spread: ballastv1.Spread_SPREAD_ZONE},
			ModelPosition: &ballastv1.ModelPosition{NodeSequence: 1042, PlacementSequence: 811},
			Overcommit:    1, ScoreNames: []string{"headroom", "domain-balance"}, ScoreWeights: []float64{1, 0.5},
			NodesConsidered: 7, NodesFeasible: 4, BestCandidates: best,
			Rejections: []*ballastv1.RejectionCount{
				{Reason: ballastv1.RejectionReason_REJECTION_REASON_CORDONED, Nodes: 1},
				{Reason: ballastv1.RejectionReason_REJECTION_REASON_NO_ROOM, Nodes: 2, LargestFreeBytes: 4 * gib},
			},
		},
		TableSource: ballastv1.TableSource_TABLE_SOURCE_RECOMPUTED, Reproduced: true,
		ScoreNames: []string{"headroom", "domain-balance"},
		Candidates: append(best,
			rejected("node-b2", "zone-b", ballastv1.RejectionReason_REJECTION_REASON_CORDONED, "node is cordoned"),
			rejected("node-c1", "zone-c", ballastv1.RejectionReason_REJECTION_REASON_NO_ROOM, "no ssd disk with 10.0 GiB free (largest free 4.0 GiB)"),
			rejected("node-c2", "zone-c", ballastv1.RejectionReason_REJECTION_REASON_NO_ROOM, "no ssd disk with 10.0 GiB free (largest free 1.0 GiB)"),
		),
		TotalSize: 7,
	}
}

// fixtureMovedExplanation is fixtureExplanation 45 minutes later: replica 1
// was drained off node-b1 onto node-b3, a node that joined since, and
// replica 2 was moved by an operator before moves recorded their scores.
func fixtureMovedExplanation() *ballastv1.ExplainPlacementResponse {
	x := fixtureExplanation()
	x.At = timestamppb.New(t0.Add(45 * time.Minute))
	row := func(node, zone string, total, headroom, balance float64, chosen bool) *ballastv1.CandidateScore {
		return &ballastv1.CandidateScore{NodeId: node, Zone: zone, DiskId: "ssd-0", Feasible: true, Total: total, Scores: []float64{headroom, balance}, Chosen: chosen}
	}
	best := []*ballastv1.CandidateScore{row("node-b3", "zone-b", 0.97, 0.99, 0.93, true), row("node-b4", "zone-b", 0.95, 0.96, 0.93, false)}
	x.Origins = []*ballastv1.ReplicaOrigin{
		{ReplicaId: "vol-7f3a9c-0", NodeId: "node-a1", DiskId: "ssd-0", Zone: "zone-a", Role: ballastv1.ReplicaRole_REPLICA_ROLE_HEALTHY,
			Kind: ballastv1.OriginKind_ORIGIN_KIND_DECISION, Sequence: 812, Time: timestamppb.New(t0)},
		{ReplicaId: "r-q3x7", NodeId: "node-b3", DiskId: "ssd-0", Zone: "zone-b", Role: ballastv1.ReplicaRole_REPLICA_ROLE_HEALTHY,
			Kind: ballastv1.OriginKind_ORIGIN_KIND_MOVE, Sequence: 1207, Time: timestamppb.New(t0.Add(30 * time.Minute)),
			Move: &ballastv1.MoveOrigin{MigrationId: "m-5kd2", Reason: ballastv1.MoveReason_MOVE_REASON_DRAIN, ReasonText: "drain of node-b1",
				Source: &ballastv1.ReplicaPlacement{ReplicaId: "vol-7f3a9c-1", NodeId: "node-b1", DiskId: "ssd-1", Zone: "zone-b"},
				Summary: &ballastv1.DecisionSummary{
					Request:       &ballastv1.PlacementRequest{SizeBytes: 10 * gib, Replicas: 1, Tier: ballastv1.Tier_TIER_SSD, Spread: ballastv1.Spread_SPREAD_ZONE},
					ModelPosition: &ballastv1.ModelPosition{NodeSequence: 1187, PlacementSequence: 1206},
					Overcommit:    1, ScoreNames: []string{"headroom", "domain-balance"}, ScoreWeights: []float64{1, 0.5},
					NodesConsidered: 9, NodesFeasible: 2, BestCandidates: best,
					Rejections: []*ballastv1.RejectionCount{
						{Reason: ballastv1.RejectionReason_REJECTION_REASON_DRAINING, Nodes: 1},
						{Reason: ballastv1.RejectionReason_REJECTION_REASON_HOLDS_REPLICA, Nodes: 6},
					},
				},
				TableSource: ballastv1.TableSource_TABLE_SOURCE_RECOMPUTED, Reproduced: true, Candidates: best, TargetRank: 1, TotalSize: 9}},
		{ReplicaId: "r-m2p9", NodeId: "node-c2", DiskId: "ssd-0", Zone: "zone-c", Role: ballastv1.ReplicaRole_REPLICA_ROLE_REBUILDING,
			Kind: ballastv1.OriginKind_ORIGIN_KIND_MOVE, Sequence: 1190, Time: timestamppb.New(t0.Add(20 * time.Minute)),
			Move: &ballastv1.MoveOrigin{MigrationId: "m-9aa1", Reason: ballastv1.MoveReason_MOVE_REASON_OPERATOR, ReasonText: "moved by an operator",
				Source: &ballastv1.ReplicaPlacement{ReplicaId: "vol-7f3a9c-2", NodeId: "node-c12", DiskId: "ssd-0", Zone: "zone-c"}, ToNode: "node-c2"}},
		{ReplicaId: "vol-7f3a9c-2", NodeId: "node-c12", DiskId: "ssd-0", Zone: "zone-c", Role: ballastv1.ReplicaRole_REPLICA_ROLE_HEALTHY,
			Kind: ballastv1.OriginKind_ORIGIN_KIND_DECISION, Sequence: 812, Time: timestamppb.New(t0)},
	}
	return x
}

// fixtureOldExplanation is a failed decision recorded before summaries, with
// every candidate in its event, and no zones in its rows.
func fixtureOldExplanation() *ballastv1.ExplainPlacementResponse {
	return &ballastv1.ExplainPlacementResponse{
		VolumeId: "vol-01b2", VolumeName: "cache", DecisionSequence: 9, DecideTime: timestamppb.New(t0),
		FailureReason: "place vol-01b2: need 2 replicas on distinct up nodes with an nvme disk with 500.0 GiB free; no node qualifies (2 short of space (largest free 120.0 GiB))",
		TableSource:   ballastv1.TableSource_TABLE_SOURCE_RECORDED,
		ScoreNames:    []string{"headroom", "domain-balance"},
		Candidates: []*ballastv1.CandidateScore{
			{NodeId: "node-a1", Reason: "no nvme disk with 500.0 GiB free (largest free 120.0 GiB)"},
			{NodeId: "node-a2", Reason: "no nvme disk with 500.0 GiB free (largest free 80.0 GiB)"},
		},
		TotalSize: 2,
	}
}

func TestRenderGolden(t *testing.T) {
	tests := []struct {
		name   string
		render func(*bytes.Buffer, outputFormat) error
	}{
		{"volume", func(b *bytes.Buffer, f outputFormat) error { return renderVolume(b, f, fixtureVolume()) }},
		{"volume_failed", func(b *bytes.Buffer, f outputFormat) error {
			v := fixtureVolume()
			v.State = ballastv1.VolumeState_VOLUME_STATE_FAILED
			v.FailureCode = 8
			v.FailureReason = "need 3 zones with 10 GiB free on ssd, found 2"
			v.Replicas = []*ballastv1.Replica{{Id: "rep-1", NodeId: "node-a1", DiskId: "ssd-0", Zone: "zone-a",
				State: ballastv1.ReplicaState_REPLICA_STATE_FAILED, FailureReason: "disk full"}}
			return renderVolume(b, f, v)
		}},
		{"volume_resizing", func(b *bytes.Buffer, f outputFormat) error {
			// One replica has grown, two have yet to.
			v := fixtureVolume()
			v.ResizingToBytes = 20 * gib
			for i, r := range v.Replicas {
				r.SizeBytes = 10 * gib
				if i == 0 {
					r.SizeBytes = 20 * gib
				}
			}
			return renderVolume(b, f, v)
		}},
		{"volume_moving", func(b *bytes.Buffer, f outputFormat) error {
			// A move: the new replica rebuilding on node-d4; and one lost.
			v := fixtureVolume()
			v.State, v.Generation = ballastv1.VolumeState_VOLUME_STATE_DEGRADED, 4
			v.Replicas[1].Role, v.Replicas[1].FailureReason = ballastv1.ReplicaRole_REPLICA_ROLE_LOST, "node node-b1 is down"
			v.Replicas = append(v.Replicas, &ballastv1.Replica{Id: "rep-5", NodeId: "node-d4", DiskId: "ssd-2", Zone: "zone-b",
				State: ballastv1.ReplicaState_REPLICA_STATE_READY, Role: ballastv1.ReplicaRole_REPLICA_ROLE_REBUILDING})
			return renderVolume(b, f, v)
		}},
		{"volume_list", func(b *bytes.Buffer, f outputFormat) error { return renderVolumes(b, f, fixtureVolumes(), "") }},
		{"volume_page", func(b *bytes.Buffer, f outputFormat) error {
			return renderVolumes(b, f, fixtureVolumes()[:1], "cGc6Mg")
		}},
		{"volume_list_empty", func(b *bytes.Buffer, f outputFormat) error { return renderVolumes(b, f, nil, "") }},
		{"node_list", func(b *bytes.Buffer, f outputFormat) error { return renderNodes(b, f, fixtureNodes()) }},
		{"explain", func(b *bytes.Buffer, f outputFormat) error { return renderExplanation(b, f, fixtureExplanation()) }},
		{"explain_mismatch", func(b *bytes.Buffer, f outputFormat) error {
			x := fixtureExplanation()
			x.Reproduced, x.Mismatch = false, "recorded placements node-a1/ssd-0, node-b1/ssd-1, node-c12/ssd-0, the planner now chooses node-a1/ssd-0, node-b1/ssd-1, node-c2/ssd-0"
			return renderExplanation(b, f, x)
		}},
		{"explain_recorded_failed", func(b *bytes.Buffer, f outputFormat) error { return renderExplanation(b, f, fixtureOldExplanation()) }},
		{"explain_moved", func(b *bytes.Buffer, f outputFormat) error { return renderExplanation(b, f, fixtureMovedExplanation()) }},
		{"explain_deleted", func(b *bytes.Buffer, f outputFormat) error {
			x := fixtureExplanation()
			x.At, x.DeleteTime = timestamppb.New(t0.Add(2*time.Hour)), timestamppb.New(t0.Add(time.Hour))
			return renderExplanation(b, f, x)
		}},
		{"event", func(b *bytes.Buffer, f outputFormat) error {
			if err := renderEvent(b, f, fixtureEvent(t)); err != nil {
				return err
			}
			// A payload this binary has no type for still gets its line.
			e := fixtureEvent(t)
			e.Sequence, e.Type = 1043, "ballast.v1.FromTheFuture"
			e.Payload = &anypb.Any{TypeUrl: "type.googleapis.com/ballast.v1.FromTheFuture", Value: []byte{8, 1}}
			return renderEvent(b, f, e)
		}},
	}
	for _, tt := range tests {
		for _, f := range []outputFormat{formatTable, formatJSON} {
			t.Run(tt.name+"/"+string(f), func(t *testing.T) {
				var b bytes.Buffer
				if err := tt.render(&b, f); err != nil {
					t.Fatal(err)
				}
				golden(t, tt.name+"."+string(f), b.Bytes())
			})
		}
	}
}
