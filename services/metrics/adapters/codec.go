// Package adapters connects the metrics service to the event log: the
// protobuf contract on one side, the domain's samples and summaries on the
// other, and the history of summaries per node.
package adapters

import (
	"math"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
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

// MarshalSummary is proto.Marshal(SummaryToProto(s)), written straight
// from the summary: a summary lists every replica of its node, and the
// hundred messages SummaryToProto builds for them were a tenth of the
// metrics service's work at a thousand reports a second.
func MarshalSummary(s domain.Summary) []byte {
	size := 64 + len(s.Node)
	for _, r := range s.Replicas {
		size += 48 + len(r.ID)
	}
	b := make([]byte, 0, size)
	b = appendString(b, 1, s.Node)
	b = appendTimestamp(b, 2, s.Start)
	b = appendTimestamp(b, 3, s.End)
	if n := uint32(min(s.Samples, math.MaxUint32)); n != 0 {
		b = protowire.AppendTag(b, 4, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(n))
	}
	b = appendDouble(b, 5, s.ReadIOPS)
	b = appendDouble(b, 6, s.WriteIOPS)
	b = appendDouble(b, 7, s.ReadBytesPerSecond)
	b = appendDouble(b, 8, s.WriteBytesPerSecond)
	b = appendDouble(b, 9, s.Utilization)
	if us := uint64(s.Latency / time.Microsecond); us != 0 {
		b = protowire.AppendTag(b, 10, protowire.VarintType)
		b = protowire.AppendVarint(b, us)
	}
	for _, r := range s.Replicas {
		b = protowire.AppendTag(b, 11, protowire.BytesType)
		// A replica is at most its id and four doubles, so its length
		// takes one or two bytes: reserve one, move it if it takes two.
		at := len(b)
		b = append(b, 0)
		b = appendString(b, 1, r.ID)
		b = appendDouble(b, 4, r.ReadIOPS)
		b = appendDouble(b, 5, r.WriteIOPS)
		b = appendDouble(b, 6, r.ReadBytesPerSecond)
		b = appendDouble(b, 7, r.WriteBytesPerSecond)
		b = fixLength(b, at)
	}
	return b
}

// fixLength writes, at b[at], the length of what follows it, which was
// appended after a one-byte placeholder.
func fixLength(b []byte, at int) []byte {
	n := len(b) - at - 1
	if n < 0x80 {
		b[at] = byte(n)
		return b
	}
	size := protowire.SizeVarint(uint64(n))
	b = append(b, make([]byte, size-1)...)
	copy(b[at+size:], b[at+1:at+1+n])
	protowire.AppendVarint(b[at:at], uint64(n))
	return b
}

func appendString(b []byte, num protowire.Number, v string) []byte {
	if v == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, v)
}

func appendDouble(b []byte, num protowire.Number, v float64) []byte {
	bits := math.Float64bits(v)
	if bits == 0 {
		return b // proto3: a zero is not written (a negative zero is)
	}
	b = protowire.AppendTag(b, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, bits)
}

// appendTimestamp writes t as a google.protobuf.Timestamp, as
// timestamppb.New does: always present, its zero fields left out.
func appendTimestamp(b []byte, num protowire.Number, t time.Time) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	at := len(b)
	b = append(b, 0)
	if sec := t.Unix(); sec != 0 {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(sec))
	}
	if ns := t.Nanosecond(); ns != 0 {
		b = protowire.AppendTag(b, 2, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(ns))
	}
	return fixLength(b, at)
}
