package readmodel_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"ballast.dev/gateway/readmodel"
	"ballast.dev/platform/events"
	ballastv1 "ballast.dev/proto/ballast/v1"
)

// names returns n distinct volume names: random, as users and CSI drivers
// make them (pvc-<uuid>-like), or in order.
func names(n int, random bool) []string {
	r := rand.New(rand.NewPCG(42, 7))
	out := make([]string, n)
	for i := range out {
		if random {
			out[i] = fmt.Sprintf("pvc-%08x-%04x-%04x", r.Uint32(), r.Uint32()&0xffff, i&0xffff)
		} else {
			out[i] = fmt.Sprintf("vol-%07d", i)
		}
	}
	return out
}

// BenchmarkLoadVolumes rebuilds the volumes read model from 200,000
// VolumeRequested events, as a gateway start does.
//
//	cd gateway && go test -run '^$' -bench LoadVolumes -benchtime 3x ./readmodel
func BenchmarkLoadVolumes(b *testing.B) {
	const n = 200_000
	for _, order := range []string{"random", "sequential"} {
		ns := names(n, order == "random")
		evs := make([]readmodel.Event, n)
		for i, name := range ns {
			evs[i] = readmodel.Event{
				Stream: events.Volume.Stream, Subject: events.Volume.Subject(name), Sequence: uint64(i + 1),
				Type:    "ballast.v1.VolumeRequested",
				Message: &ballastv1.VolumeRequested{VolumeId: fmt.Sprintf("id-%d", i), VolumeName: name, SizeBytes: 1 << 30},
			}
		}
		b.Run(order, func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				s := readmodel.NewMemoryVolumes()
				for _, ev := range evs {
					if err := s.Apply(ctx, ev); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/load")
		})
	}
}
