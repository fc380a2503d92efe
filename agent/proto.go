package agent

import (
	"maps"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"ballast.dev/agent/sim"
	"ballast.dev/platform/events"
	ballastv1 "ballast.dev/proto/ballast/v1"
)

// now is the time stamped on the agent's events.
func now() *timestamppb.Timestamp { return timestamppb.New(events.Now()) }

// registration is the NodeRegistered that announces spec, without its time.
// Reserved bytes and replica counts stay zero: they change with every
// replica and follow from the replica events, so a registration is only
// the node's fixed shape.
func registration(spec sim.NodeSpec, agent string) *ballastv1.NodeRegistered {
	disks := make([]*ballastv1.Disk, len(spec.Disks))
	for i, d := range spec.Disks {
		disks[i] = &ballastv1.Disk{
			Id:                          d.ID,
			Tier:                        tier(d.Tier),
			CapacityBytes:               d.CapacityBytes,
			MaxReadIops:                 d.MaxReadIOPS,
			MaxWriteIops:                d.MaxWriteIOPS,
			MaxThroughputBytesPerSecond: d.MaxThroughputBps,
		}
	}
	return &ballastv1.NodeRegistered{
		NodeId: spec.ID,
		Zone:   spec.Zone,
		Region: spec.Region,
		Labels: maps.Clone(spec.Labels),
		Disks:  disks,
		Agent:  agent,
	}
}

func tier(t sim.Tier) ballastv1.Tier {
	switch t {
	case sim.TierNVMe:
		return ballastv1.Tier_TIER_NVME
	case sim.TierSSD:
		return ballastv1.Tier_TIER_SSD
	case sim.TierHDD:
		return ballastv1.Tier_TIER_HDD
	}
	return ballastv1.Tier_TIER_UNSPECIFIED
}

// telemetry converts a sample into the message the metrics service reads.
func telemetry(s sim.NodeSample) *ballastv1.NodeTelemetry {
	m := &ballastv1.NodeTelemetry{
		NodeId:     s.NodeID,
		SampleTime: timestamppb.New(s.At),
		Disks:      make([]*ballastv1.DiskTelemetry, len(s.Disks)),
		Replicas:   make([]*ballastv1.ReplicaTelemetry, len(s.Replicas)),
	}
	for i, d := range s.Disks {
		m.Disks[i] = &ballastv1.DiskTelemetry{
			DiskId:              d.DiskID,
			UsedBytes:           d.UsedBytes,
			CapacityBytes:       d.CapacityBytes,
			ReadIops:            d.ReadIOPS,
			WriteIops:           d.WriteIOPS,
			ReadBytesPerSecond:  d.ReadBps,
			WriteBytesPerSecond: d.WriteBps,
			LatencyMicros:       micros(d.Latency),
			Utilization:         d.Utilization,
		}
	}
	for i, r := range s.Replicas {
		m.Replicas[i] = &ballastv1.ReplicaTelemetry{
			ReplicaId:           r.ReplicaID,
			VolumeId:            r.VolumeID,
			DiskId:              r.DiskID,
			ReadIops:            r.ReadIOPS,
			WriteIops:           r.WriteIOPS,
			ReadBytesPerSecond:  r.ReadBps,
			WriteBytesPerSecond: r.WriteBps,
		}
	}
	return m
}

func micros(d time.Duration) uint64 {
	if d < 0 {
		return 0
	}
	return uint64(d / time.Microsecond)
}

// telemetryType is the event type header of telemetry messages.
var telemetryType = events.TypeOf((*ballastv1.NodeTelemetry)(nil))
