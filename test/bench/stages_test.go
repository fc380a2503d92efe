package bench

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
	pb "ballast.dev/proto/ballast/v1"
)

// stagesWanted: BALLAST_BENCH_STAGES=1 has the concurrent benchmark print
// where a create's time goes, from the log's append times.
func stagesWanted() bool { return os.Getenv("BALLAST_BENCH_STAGES") != "" }

// stage is one step of a create, from the first event of one type to the
// last of the next, per volume.
var stages = []struct{ from, to string }{
	{"VolumeRequested", "PlacementDecided"},
	{"PlacementDecided", "ReplicasAssigned"},
	{"ReplicasAssigned", "ReplicaConfirmed"},
	{"ReplicaConfirmed", "VolumeReady"},
}

// logStages reads the volume and placement streams through natsURL and logs
// the median and p99 of every stage over the volumes created.
func logStages(b *testing.B, natsURL string) {
	nc, err := nats.Connect(natsURL)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	type key struct{ volume, typ string }
	at := map[key]time.Time{}
	for _, stream := range []string{events.Volume.Stream, events.Placement.Stream} {
		readStream(b, js, stream, func(subject, typ string, data []byte, t time.Time) {
			name := events.Volume.ID(subject)
			if stream == events.Placement.Stream {
				m, err := events.Read(subject, typ, data)
				d, ok := m.(*pb.PlacementDecided)
				if err != nil || !ok {
					return
				}
				name = d.GetVolumeName()
			}
			k := key{name, typ[len("ballast.v1."):]}
			if first, ok := at[k]; !ok || t.After(first) {
				at[k] = t // the last of its type: the third confirmation
			}
		})
	}
	for _, s := range stages {
		var ds []time.Duration
		for k, t0 := range at {
			if t1, ok := at[key{k.volume, s.to}]; ok && k.typ == s.from {
				ds = append(ds, t1.Sub(t0))
			}
		}
		if len(ds) == 0 {
			continue
		}
		slices.Sort(ds)
		b.Logf("%-16s -> %-16s p50 %8s  p99 %8s  (%d volumes)", s.from, s.to,
			ds[len(ds)/2].Round(10*time.Microsecond), ds[len(ds)*99/100].Round(10*time.Microsecond), len(ds))
	}
}

// readStream calls fn for every message of the stream, in order.
func readStream(b *testing.B, js jetstream.JetStream, stream string, fn func(subject, typ string, data []byte, at time.Time)) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		b.Fatal(err)
	}
	last := s.CachedInfo().State.LastSeq
	if last == 0 {
		return
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		b.Fatal(err)
	}
	for {
		m, err := c.Next(jetstream.FetchMaxWait(10 * time.Second))
		if err != nil {
			b.Fatalf("read %s: %v", stream, err)
		}
		meta, err := m.Metadata()
		if err != nil {
			b.Fatal(err)
		}
		fn(m.Subject(), m.Headers().Get(eventstore.HeaderEventType), m.Data(), meta.Timestamp)
		if meta.Sequence.Stream >= last {
			return
		}
	}
}
