package adapters

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"strconv"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"ballast.dev/platform/events"
	pb "ballast.dev/proto/ballast/v1"
	"ballast.dev/services/metrics/domain"
)

// reference reads a report the general way: protobuf, the subject check,
// SampleFromProto.
func reference(subject string, data []byte) (domain.Sample, error) {
	m := &pb.NodeTelemetry{}
	if err := proto.Unmarshal(data, m); err != nil {
		return domain.Sample{}, err
	}
	if err := events.CheckSubject(subject, m); err != nil {
		return domain.Sample{}, err
	}
	return SampleFromProto(m), nil
}

func randomReport(rng *rand.Rand, node string) *pb.NodeTelemetry {
	m := &pb.NodeTelemetry{NodeId: node, SampleTime: timestamppb.New(time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)))}
	f := func() float64 { return rng.ExpFloat64() * 1000 }
	for d := range rng.IntN(4) {
		m.Disks = append(m.Disks, &pb.DiskTelemetry{DiskId: node + "-d" + strconv.Itoa(d), UsedBytes: rng.Uint64(), CapacityBytes: rng.Uint64(),
			ReadIops: f(), WriteIops: f(), ReadBytesPerSecond: f(), WriteBytesPerSecond: f(), LatencyMicros: rng.Uint64N(1 << 40), Utilization: rng.Float64()})
	}
	for range rng.IntN(40) {
		m.Replicas = append(m.Replicas, &pb.ReplicaTelemetry{ReplicaId: fmt.Sprintf("r-%016x", rng.Uint64()), VolumeId: fmt.Sprintf("%032x", rng.Uint64()),
			DiskId: node + "-d0", ReadIops: f(), WriteIops: f(), ReadBytesPerSecond: f(), WriteBytesPerSecond: f()})
	}
	return m
}

// same tells whether two samples are equal, an empty slice as a nil one.
func same(a, b domain.Sample) bool {
	if !a.At.Equal(b.At) || len(a.Disks) != len(b.Disks) || len(a.Replicas) != len(b.Replicas) {
		return false
	}
	return (len(a.Disks) == 0 || reflect.DeepEqual(a.Disks, b.Disks)) && (len(a.Replicas) == 0 || reflect.DeepEqual(a.Replicas, b.Replicas))
}

func seed(t *testing.T) uint64 {
	if s := os.Getenv("BALLAST_TEST_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	return uint64(time.Now().UnixNano())
}

// The decoder reads every report as protobuf and SampleFromProto would, and
// refuses every one they refuse: valid reports, reports with unknown and
// repeated fields, and the same reports truncated or with bytes changed.
func TestTheTelemetryDecoderAgreesWithProtobuf(t *testing.T) {
	s := seed(t)
	rng := rand.New(rand.NewPCG(s, s))
	const subject = "ballast.telemetry.node-7"
	check := func(what string, data []byte) {
		t.Helper()
		want, werr := reference(subject, data)
		got, gerr := DecodeTelemetry(subject, data)
		switch {
		case (werr == nil) != (gerr == nil):
			t.Fatalf("seed %d (BALLAST_TEST_SEED): %s: protobuf says %v, the decoder %v\n%x", s, what, werr, gerr, data)
		case werr == nil && !same(got, want):
			t.Fatalf("seed %d (BALLAST_TEST_SEED): %s: decoded\n%+v\nprotobuf\n%+v", s, what, got, want)
		case werr != nil && errors.Is(werr, events.ErrSubjectMismatch) != errors.Is(gerr, events.ErrSubjectMismatch):
			t.Fatalf("seed %d (BALLAST_TEST_SEED): %s: protobuf says %v, the decoder %v", s, what, werr, gerr)
		}
	}
	for i := range 3000 {
		node := "node-7"
		if i%50 == 0 {
			node = "node-8" // another node's report on this node's subject
		}
		data, err := proto.Marshal(randomReport(rng, node))
		if err != nil {
			t.Fatal(err)
		}
		check("a report", data)
		// Unknown fields of every wire type, and a repeated node_id and
		// sample_time (the last wins, messages merge).
		extra := protowire.AppendTag(nil, 99, protowire.VarintType)
		extra = protowire.AppendVarint(extra, rng.Uint64())
		extra = protowire.AppendTag(extra, 98, protowire.BytesType)
		extra = protowire.AppendBytes(extra, []byte("opaque"))
		extra = protowire.AppendTag(extra, 97, protowire.Fixed32Type)
		extra = protowire.AppendFixed32(extra, rng.Uint32())
		extra = protowire.AppendTag(extra, 2, protowire.BytesType)
		extra = protowire.AppendBytes(extra, protowire.AppendVarint(protowire.AppendTag(nil, 2, protowire.VarintType), 5))
		extra = protowire.AppendTag(extra, 3, protowire.VarintType) // disks with a scalar's wire type: unknown
		extra = protowire.AppendVarint(extra, 1)
		check("unknown and repeated fields", append(append([]byte{}, data...), extra...))
		if len(data) > 0 {
			check("truncated", data[:rng.IntN(len(data))])
			for range 3 {
				b := append([]byte{}, data...)
				b[rng.IntN(len(b))] = byte(rng.Uint32())
				check("a byte changed", b)
			}
		}
	}
	check("empty, on a subject naming a node", nil)
	bad := protowire.AppendTag(nil, 4, protowire.BytesType)
	bad = protowire.AppendBytes(bad, protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte{0xff, 0xfe}))
	head, err := proto.Marshal(&pb.NodeTelemetry{NodeId: "node-7"})
	if err != nil {
		t.Fatal(err)
	}
	check("a replica id not UTF-8", append(head, bad...))
}

// A latency past what a Duration holds saturates, as SampleFromProto's.
func TestTheDecoderSaturatesAbsurdLatencies(t *testing.T) {
	data, _ := proto.Marshal(&pb.NodeTelemetry{NodeId: "n", SampleTime: timestamppb.Now(), Disks: []*pb.DiskTelemetry{{LatencyMicros: math.MaxUint64}}})
	s, err := DecodeTelemetry("ballast.telemetry.n", data)
	if err != nil || s.Disks[0].Latency != math.MaxInt64 {
		t.Fatalf("latency %v, err %v", s.Disks[0].Latency, err)
	}
}

func FuzzTelemetryDecoder(f *testing.F) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 8 {
		data, _ := proto.Marshal(randomReport(rng, "node-7"))
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want, werr := reference("ballast.telemetry.node-7", data)
		got, gerr := DecodeTelemetry("ballast.telemetry.node-7", data)
		if (werr == nil) != (gerr == nil) || werr == nil && !same(got, want) {
			t.Fatalf("protobuf %v %+v, decoder %v %+v", werr, want, gerr, got)
		}
	})
}

// A report of a node with 100 replicas, decoded straight into a sample
// against protobuf then SampleFromProto.
func BenchmarkDecodeTelemetry(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 7))
	m := randomReport(rng, "node-7")
	for len(m.Replicas) < 100 {
		m.Replicas = append(m.Replicas, randomReport(rng, "node-7").Replicas...)
	}
	m.Replicas = m.Replicas[:100]
	data, err := proto.Marshal(m)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeTelemetry("ballast.telemetry.node-7", data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("protobuf", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := reference("ballast.telemetry.node-7", data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
