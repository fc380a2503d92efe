// Package adapters connects the metrics service to the event log: the
// protobuf contract on one side, the domain's samples and summaries on the
// other, and the history of summaries per node.
package adapters

import (
	"math"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "ballast.dev/proto/ballast/v1"
	"ballast.dev/services/metrics/domain"
)

// SampleFromProto reads an agent's telemetry. A missing sample time stays
// zero (AsTime would make it 1970), so the domain refuses the sample.
func SampleFromProto(m *pb.NodeTelemetry) domain.Sample {
	s := domain.Sample{Disks: make([]domain.DiskSample, len(m.GetDisks()))}
	if m.GetSampleTime() != nil {
		s.At = m.GetSampleTime().AsTime()
	}
	for _, r := range m.GetReplicas() {
		s.Replicas = append(s.Replicas, domain.ReplicaSample{ID: r.GetReplicaId(), ReadIOPS: r.GetReadIops(), WriteIOPS: r.GetWriteIops(),
			ReadBytesPerSecond: r.GetReadBytesPerSecond(), WriteBytesPerSecond: r.GetWriteBytesPerSecond()})
	}
	for i, d := range m.GetDisks() {
		s.Disks[i] = domain.DiskSample{
			ReadIOPS:            d.GetReadIops(),
			WriteIOPS:           d.GetWriteIops(),
			ReadBytesPerSecond:  d.GetReadBytesPerSecond(),
			WriteBytesPerSecond: d.GetWriteBytesPerSecond(),
			Latency:             micros(d.GetLatencyMicros()),
			Utilization:         d.GetUtilization(),
		}
	}
	return s
}

// micros converts without overflowing: absurd latencies saturate.
func micros(us uint64) time.Duration {
	if us > uint64(math.MaxInt64/int64(time.Microsecond)) {
		return math.MaxInt64
	}
	return time.Duration(us) * time.Microsecond
}

// SummaryToProto writes a summary as the NodeLoadSummarized event.
func SummaryToProto(s domain.Summary) *pb.NodeLoadSummarized {
	out := &pb.NodeLoadSummarized{
		NodeId:              s.Node,
		WindowStartTime:     timestamppb.New(s.Start),
		WindowEndTime:       timestamppb.New(s.End),
		Samples:             uint32(min(s.Samples, math.MaxUint32)),
		ReadIops:            s.ReadIOPS,
		WriteIops:           s.WriteIOPS,
		ReadBytesPerSecond:  s.ReadBytesPerSecond,
		WriteBytesPerSecond: s.WriteBytesPerSecond,
		Utilization:         s.Utilization,
		LatencyMicros:       uint64(s.Latency / time.Microsecond),
	}
	for _, r := range s.Replicas {
		out.Replicas = append(out.Replicas, &pb.ReplicaTelemetry{ReplicaId: r.ID, ReadIops: r.ReadIOPS, WriteIops: r.WriteIOPS,
			ReadBytesPerSecond: r.ReadBytesPerSecond, WriteBytesPerSecond: r.WriteBytesPerSecond})
	}
	return out
}
