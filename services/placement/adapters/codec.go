package adapters

import (
	"maps"
	"slices"
	"unique"

	pb "ballast.dev/proto/ballast/v1"
	"ballast.dev/services/placement/app"
	"ballast.dev/services/placement/domain"
)

// TierFromProto maps a tier.
func TierFromProto(t pb.Tier) domain.Tier {
	switch t {
	case pb.Tier_TIER_NVME:
		return domain.TierNVMe
	case pb.Tier_TIER_SSD:
		return domain.TierSSD
	case pb.Tier_TIER_HDD:
		return domain.TierHDD
	}
	return domain.TierUnspecified
}

// TierToProto is the inverse of TierFromProto.
func TierToProto(t domain.Tier) pb.Tier {
	switch t {
	case domain.TierNVMe:
		return pb.Tier_TIER_NVME
	case domain.TierSSD:
		return pb.Tier_TIER_SSD
	case domain.TierHDD:
		return pb.Tier_TIER_HDD
	}
	return pb.Tier_TIER_UNSPECIFIED
}

// SpreadToProto maps a spread level. The contract has no region spread yet
// (SpreadFromProto never makes one), so region maps to unspecified.
func SpreadToProto(s domain.SpreadLevel) pb.Spread {
	switch s {
	case domain.SpreadNode:
		return pb.Spread_SPREAD_NODE
	case domain.SpreadZone:
		return pb.Spread_SPREAD_ZONE
	}
	return pb.Spread_SPREAD_UNSPECIFIED
}

// SpreadFromProto maps a spread level; zone when unspecified.
func SpreadFromProto(s pb.Spread) domain.SpreadLevel {
	if s == pb.Spread_SPREAD_NODE {
		return domain.SpreadNode
	}
	return domain.SpreadZone
}

// NodeFromProto reads a registered node. Nodes register up; cordon and
// drain come later as events of their own.
func NodeFromProto(e *pb.NodeRegistered) domain.Node {
	n := domain.Node{ID: e.GetNodeId(), Zone: e.GetZone(), Region: e.GetRegion(), State: domain.NodeUp, Labels: maps.Clone(e.GetLabels())}
	for _, d := range e.GetDisks() {
		n.Disks = append(n.Disks, domain.Disk{
			ID: d.GetId(), Tier: TierFromProto(d.GetTier()), CapacityBytes: d.GetCapacityBytes(),
			ReadIOPS: d.GetMaxReadIops(), WriteIOPS: d.GetMaxWriteIops(), ThroughputBps: d.GetMaxThroughputBytesPerSecond(),
		})
	}
	return n
}

func placementsFromProto(ps []*pb.ReplicaPlacement) []domain.Placement {
	out := make([]domain.Placement, len(ps))
	for i, p := range ps {
		// One copy of each node, disk and zone name, however many
		// volumes the model holds.
		out[i] = domain.Placement{NodeID: unique.Make(p.GetNodeId()).Value(), DiskID: unique.Make(p.GetDiskId()).Value(), Zone: unique.Make(p.GetZone()).Value()}
	}
	return out
}

// rejectKinds pairs the domain's reject kinds with the contract's reasons.
var rejectKinds = map[domain.RejectKind]pb.RejectionReason{
	domain.RejectCordoned: pb.RejectionReason_REJECTION_REASON_CORDONED,
	domain.RejectDraining: pb.RejectionReason_REJECTION_REASON_DRAINING,
	domain.RejectDown:     pb.RejectionReason_REJECTION_REASON_DOWN,
	domain.RejectHeld:     pb.RejectionReason_REJECTION_REASON_HOLDS_REPLICA,
	domain.RejectTopology: pb.RejectionReason_REJECTION_REASON_TOPOLOGY,
	domain.RejectSelector: pb.RejectionReason_REJECTION_REASON_NODE_SELECTOR,
	domain.RejectNoTier:   pb.RejectionReason_REJECTION_REASON_NO_TIER,
	domain.RejectNoRoom:   pb.RejectionReason_REJECTION_REASON_NO_ROOM,
}

func rejectionToProto(k domain.RejectKind) pb.RejectionReason { return rejectKinds[k] }

func rejectionFromProto(r pb.RejectionReason) domain.RejectKind {
	for k, v := range rejectKinds {
		if v == r {
			return k
		}
	}
	return 0
}

// CandidateToProto is one row of a table; its scores are in score order.
func CandidateToProto(c domain.CandidateScore) *pb.CandidateScore {
	pc := &pb.CandidateScore{NodeId: c.NodeID, Zone: c.Zone, DiskId: c.DiskID, Feasible: c.Feasible,
		Rejection: rejectionToProto(c.Rejection), Reason: c.Reason, Total: c.Total, Chosen: c.Chosen}
	if len(c.Scores) > 0 {
		pc.Scores = make([]float64, len(c.Scores))
		for j, s := range c.Scores {
			pc.Scores[j] = s.Score
		}
	}
	return pc
}

// candidatesFromProto reads rows whose scores are named by names.
func candidatesFromProto(names []string, weights []float64, cs []*pb.CandidateScore) []domain.CandidateScore {
	out := make([]domain.CandidateScore, len(cs))
	for i, c := range cs {
		dc := domain.CandidateScore{NodeID: c.GetNodeId(), Zone: c.GetZone(), DiskID: c.GetDiskId(), Feasible: c.GetFeasible(),
			Rejection: rejectionFromProto(c.GetRejection()), Reason: c.GetReason(), Total: c.GetTotal(), Chosen: c.GetChosen()}
		for j, v := range c.GetScores() {
			s := domain.NamedScore{Score: v}
			if j < len(names) {
				s.Name = names[j]
			}
			if j < len(weights) {
				s.Weight = weights[j]
			}
			dc.Scores = append(dc.Scores, s)
		}
		out[i] = dc
	}
	return out
}

// RequestToProto records what a decision answered.
func RequestToProto(r domain.Request) *pb.PlacementRequest {
	return &pb.PlacementRequest{
		SizeBytes: r.SizeBytes, Replicas: uint32(r.Replicas), Tier: TierToProto(r.Tier), Spread: SpreadToProto(r.Spread),
		NodeSelector: maps.Clone(r.NodeSelector), AllowedZones: slices.Clone(r.AllowedZones),
	}
}

func requestFromProto(volumeID string, r *pb.PlacementRequest) domain.Request {
	return domain.Request{
		VolumeID: volumeID, SizeBytes: r.GetSizeBytes(), Replicas: int(r.GetReplicas()),
		Tier: TierFromProto(r.GetTier()), Spread: SpreadFromProto(r.GetSpread()),
		NodeSelector: maps.Clone(r.GetNodeSelector()), AllowedZones: slices.Clone(r.GetAllowedZones()),
	}
}

// SummaryToProto is what a decision's event records of it: its basis and
// its summary, never the full table.
func SummaryToProto(b app.Basis, d domain.Decision) *pb.DecisionSummary {
	s := &pb.DecisionSummary{
		Request:         RequestToProto(b.Request),
		ModelPosition:   &pb.ModelPosition{NodeSequence: b.At.Node, PlacementSequence: b.At.Placement},
		Overcommit:      b.Overcommit,
		NodesConsidered: uint32(d.Considered),
		NodesFeasible:   uint32(d.Feasible),
	}
	for _, w := range d.Weights {
		s.ScoreNames = append(s.ScoreNames, w.Name)
		s.ScoreWeights = append(s.ScoreWeights, w.Weight)
	}
	for _, c := range d.Best {
		s.BestCandidates = append(s.BestCandidates, CandidateToProto(c))
	}
	for _, r := range d.Rejected {
		s.Rejections = append(s.Rejections, &pb.RejectionCount{Reason: rejectionToProto(r.Kind), Nodes: uint32(r.Nodes), LargestFreeBytes: r.LargestFreeBytes})
	}
	return s
}

// summaryFromProto reads a summary back into the decision it summarises
// (placements aside) and its basis.
func summaryFromProto(volumeID string, s *pb.DecisionSummary) (app.Basis, domain.Decision) {
	b := app.Basis{
		Request:    requestFromProto(volumeID, s.GetRequest()),
		At:         app.Position{Node: s.GetModelPosition().GetNodeSequence(), Placement: s.GetModelPosition().GetPlacementSequence()},
		Overcommit: s.GetOvercommit(),
	}
	d := domain.Decision{VolumeID: volumeID, Considered: int(s.GetNodesConsidered()), Feasible: int(s.GetNodesFeasible())}
	for i, name := range s.GetScoreNames() {
		w := domain.ScoreWeight{Name: name}
		if i < len(s.GetScoreWeights()) {
			w.Weight = s.GetScoreWeights()[i]
		}
		d.Weights = append(d.Weights, w)
	}
	d.Best = candidatesFromProto(s.GetScoreNames(), s.GetScoreWeights(), s.GetBestCandidates())
	for _, r := range s.GetRejections() {
		d.Rejected = append(d.Rejected, domain.RejectCount{Kind: rejectionFromProto(r.GetReason()), Nodes: int(r.GetNodes()), LargestFreeBytes: r.GetLargestFreeBytes()})
	}
	return b, d
}
