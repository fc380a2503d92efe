package adapters

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"ballast.dev/services/metrics/domain"
)

// randomSummary is a summary with the edges of its fields: zeros, a
// negative zero, times before 1970 and the zero time, replicas whose
// length takes two bytes, and ids of any length.
func randomSummary(rng *rand.Rand) domain.Summary {
	f := func() float64 {
		switch rng.IntN(6) {
		case 0:
			return 0
		case 1:
			return math.Copysign(0, -1)
		default:
			return rng.ExpFloat64() * math.Pow(10, float64(rng.IntN(12)))
		}
	}
	at := func() time.Time {
		switch rng.IntN(5) {
		case 0:
			return time.Time{}
		case 1:
			return time.Unix(-rng.Int64N(4e9), rng.Int64N(1e9)).UTC()
		case 2:
			return time.Unix(rng.Int64N(4e9), 0).UTC()
		default:
			return time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)).UTC()
		}
	}
	s := domain.Summary{
		Node: strings.Repeat("n", rng.IntN(3)) + fmt.Sprintf("%x", rng.Uint64()), Start: at(), End: at(),
		Samples: rng.IntN(3) * rng.IntN(1<<20), ReadIOPS: f(), WriteIOPS: f(), ReadBytesPerSecond: f(), WriteBytesPerSecond: f(),
		Utilization: f(), Latency: time.Duration(rng.Int64N(1<<50)) * time.Duration(rng.IntN(2)),
	}
	if rng.IntN(4) == 0 {
		s.Node = ""
	}
	for range rng.IntN(120) {
		id := fmt.Sprintf("%016x-%08x", rng.Uint64(), rng.Uint32())
		if rng.IntN(8) == 0 {
			id = strings.Repeat("x", 60+rng.IntN(200)) // a replica of 128 bytes or more
		}
		s.Replicas = append(s.Replicas, domain.ReplicaLoad{ID: id, ReadIOPS: f(), WriteIOPS: f(), ReadBytesPerSecond: f(), WriteBytesPerSecond: f()})
	}
	return s
}

// The summary's own encoding is byte for byte protobuf's of the message
// SummaryToProto makes, and reads back as it.
func TestMarshalSummaryIsProtobufs(t *testing.T) {
	sd := seed(t)
	rng := rand.New(rand.NewPCG(sd, sd))
	for i := range 3000 {
		s := randomSummary(rng)
		want, err := proto.Marshal(SummaryToProto(s))
		if err != nil {
			t.Fatal(err)
		}
		got := MarshalSummary(s)
		if !bytes.Equal(got, want) {
			back := SummaryToProto(domain.Summary{})
			uerr := proto.Unmarshal(got, back)
			t.Fatalf("seed %d (BALLAST_TEST_SEED), summary %d: %d bytes against protobuf's %d (reads back: %v, equal: %v)\n%+v",
				sd, i, len(got), len(want), uerr, proto.Equal(back, SummaryToProto(s)), s)
		}
	}
}

func BenchmarkMarshalSummary(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	s := domain.Summary{Node: "i-0123456789abcdef0", Start: time.Now(), End: time.Now().Add(30 * time.Second), Samples: 30,
		ReadIOPS: 1000, WriteIOPS: 500, ReadBytesPerSecond: 1e8, WriteBytesPerSecond: 5e7, Utilization: 0.5, Latency: time.Millisecond}
	for range 100 {
		s.Replicas = append(s.Replicas, domain.ReplicaLoad{ID: fmt.Sprintf("%016x-%016x", rng.Uint64(), rng.Uint64()),
			ReadIOPS: rng.Float64() * 1000, WriteIOPS: rng.Float64() * 100, ReadBytesPerSecond: rng.Float64() * 1e7, WriteBytesPerSecond: rng.Float64() * 1e6})
	}
	b.Run("protobuf", func(b *testing.B) {
		for b.Loop() {
			if _, err := proto.Marshal(SummaryToProto(s)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			MarshalSummary(s)
		}
	})
}
