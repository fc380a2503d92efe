package adapters

import (
	"maps"

	pb "ballast.dev/proto/ballast/v1"
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
		out[i] = domain.Placement{NodeID: p.GetNodeId(), DiskID: p.GetDiskId(), Zone: p.GetZone()}
	}
	return out
}

// candidatesToProto records every candidate compactly: the score names once,
// then each candidate's scores in that order.
func candidatesToProto(cs []domain.CandidateScore) (names []string, out []*pb.CandidateScore) {
	out = make([]*pb.CandidateScore, len(cs))
	for i, c := range cs {
		pc := &pb.CandidateScore{NodeId: c.NodeID, DiskId: c.DiskID, Feasible: c.Feasible, Reason: c.Reason, Total: c.Total, Chosen: c.Chosen}
		if len(c.Scores) > 0 {
			if names == nil {
				for _, s := range c.Scores {
					names = append(names, s.Name)
				}
			}
			pc.Scores = make([]float64, len(c.Scores))
			for j, s := range c.Scores {
				pc.Scores[j] = s.Score
			}
		}
		out[i] = pc
	}
	return names, out
}
