package ports

import (
	"time"

	pb "ballast.dev/proto/ballast/v1"
	"ballast.dev/services/placement/balance"
)

// PlanToProto is the API's form of a plan, with at most maxMoves moves (0:
// 100) and as many stranded replicas; name gives a volume's name by id. The
// estimated time is the bytes to copy over bandwidth, bytes per second the
// moves share (0: no estimate).
func PlanToProto(p balance.Plan, took time.Duration, maxMoves int, name func(volumeID string) string, bandwidth uint64) *pb.PlanRebalanceResponse {
	if maxMoves <= 0 {
		maxMoves = 100
	}
	util := func(u balance.Utilisation) *pb.Utilisation { return &pb.Utilisation{Max: u.Max, Mean: u.Mean} }
	bal := func(b balance.Balance) *pb.ClusterBalance {
		return &pb.ClusterBalance{Iops: util(b.IOPS), BytesPerSecond: util(b.Bps), Capacity: util(b.Capacity)}
	}
	out := &pb.PlanRebalanceResponse{
		ModelSequence: p.Sequence, MoveCount: int32(len(p.Moves)), BytesToCopy: p.BytesToCopy,
		Before: bal(p.Before), After: bal(p.After), StrandedCount: int32(len(p.Stranded)), Whole: len(p.Stranded) == 0,
		PlanSeconds: took.Seconds(), BytesLowerBound: p.BytesBound,
	}
	if bandwidth > 0 {
		out.EstimatedSeconds = float64(p.BytesToCopy) / float64(bandwidth)
	}
	for _, m := range p.Moves[:min(len(p.Moves), maxMoves)] {
		out.Moves = append(out.Moves, &pb.PlannedMove{VolumeId: m.VolumeID, VolumeName: name(m.VolumeID), ReplicaId: m.ReplicaID, FromNode: m.From.NodeID, FromDisk: m.From.DiskID,
			ToNode: m.To.NodeID, ToDisk: m.To.DiskID, Bytes: m.Bytes, Reason: m.Reason.String(), Gain: m.Gain, FromDiskUtilizationAfter: m.SourceAfter})
	}
	for _, s := range p.Stranded[:min(len(p.Stranded), maxMoves)] {
		out.Stranded = append(out.Stranded, &pb.PlannedMove{VolumeId: s.VolumeID, VolumeName: name(s.VolumeID), ReplicaId: s.ReplicaID, FromNode: s.At.NodeID, FromDisk: s.At.DiskID, Reason: s.Reason.String()})
	}
	return out
}
