package eventstore

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"ballast.dev/platform/natsserver/natstest"
)

// benchWindow is how many appends each benchmark keeps in flight; the
// same for the event store and the raw baseline.
const benchWindow = 1024

// benchChunk is how many events the interleaved benchmark sends to one
// side before switching to the other.
const benchChunk = 5000

var benchSubjectID atomic.Uint64

// BenchmarkAppendThroughput compares pipelined event-store appends (one new
// aggregate per event, expected sequence 0, so concurrency control is on)
// with raw JetStream async publishes of the same 256-byte payloads, against
// the same embedded server.
//
// "eventstore" and "raw" run one after the other. "raw-with-event-headers"
// is raw with the store's four headers, which separates their cost from the
// store's code. "interleaved" alternates chunks of event-store and raw
// appends, so that both see the same background load, and reports the
// ratio directly: use it on a shared machine.
func BenchmarkAppendThroughput(b *testing.B) {
	nc := natstest.Connect(b, natstest.Start(b))
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	s := New(js)
	for _, name := range []string{"ESBENCH", "RAWBENCH"} {
		cfg := StreamConfig{Name: name, Subjects: []string{"bench." + name + ".>"}}
		if err := s.EnsureStream(context.Background(), cfg); err != nil {
			b.Fatal(err)
		}
	}
	payload := make([]byte, 256)
	for i := range payload {
		payload[i] = byte(i)
	}
	es := &esPipeline{s: s, payload: payload}
	raw := &rawPipeline{js: js, payload: payload}

	b.Run("eventstore", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		es.run(b, b.N)
		reportRate(b, "events/s", b.N, b.Elapsed())
	})
	b.Run("raw", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		raw.run(b, b.N)
		reportRate(b, "events/s", b.N, b.Elapsed())
	})
	rawHeaders := &rawPipeline{js: js, payload: payload, headers: true}
	b.Run("raw-with-event-headers", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		rawHeaders.run(b, b.N)
		reportRate(b, "events/s", b.N, b.Elapsed())
	})
	b.Run("interleaved", func(b *testing.B) {
		var esTime, rawTime time.Duration
		for done := 0; done < b.N; {
			n := min(benchChunk, b.N-done)
			start := time.Now()
			es.run(b, n)
			esTime += time.Since(start)
			start = time.Now()
			raw.run(b, n)
			rawTime += time.Since(start)
			done += n
		}
		reportRate(b, "es-events/s", b.N, esTime)
		reportRate(b, "raw-events/s", b.N, rawTime)
		b.ReportMetric(rawTime.Seconds()/esTime.Seconds(), "ratio")
	})
}

type esPipeline struct {
	s       *Store
	payload []byte
	futures [benchWindow]*AppendFuture
}

// run appends n events, each to a new aggregate, with benchWindow in
// flight, and waits for all of them.
func (p *esPipeline) run(b *testing.B, n int) {
	ctx := context.Background()
	wait := func(f *AppendFuture) {
		if _, err := f.Wait(ctx); err != nil {
			b.Fatal(err)
		}
	}
	clear(p.futures[:])
	for i := range n {
		slot := i % benchWindow
		if f := p.futures[slot]; f != nil {
			wait(f)
		}
		id := strconv.FormatUint(benchSubjectID.Add(1), 10)
		f, err := p.s.AppendAsync(ctx, "bench.ESBENCH."+id, 0, Event{
			Type: "ballast.v1.BenchEvent",
			ID:   "bench-" + id,
			Data: p.payload,
		})
		if err != nil {
			b.Fatal(err)
		}
		p.futures[slot] = f
	}
	for _, f := range p.futures {
		if f != nil {
			wait(f)
		}
	}
}

type rawPipeline struct {
	js      jetstream.JetStream
	payload []byte
	// headers adds the event store's headers, to tell their cost from
	// the store's own.
	headers bool
	futures [benchWindow]jetstream.PubAckFuture
}

// run publishes n payloads (with the event store's headers if
// p.headers), each to a new subject, with benchWindow in
// flight, and waits for all acks.
func (p *rawPipeline) run(b *testing.B, n int) {
	wait := func(f jetstream.PubAckFuture) {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			b.Fatal(err)
		}
	}
	clear(p.futures[:])
	for i := range n {
		slot := i % benchWindow
		if f := p.futures[slot]; f != nil {
			wait(f)
		}
		id := strconv.FormatUint(benchSubjectID.Add(1), 10)
		m := &nats.Msg{Subject: "bench.RAWBENCH." + id, Data: p.payload}
		if p.headers {
			m.Header = nats.Header{
				HeaderEventType:                     {"ballast.v1.BenchEvent"},
				HeaderSchemaVersion:                 {"1"},
				HeaderMsgID:                         {"bench-" + id},
				jetstream.ExpectedLastSubjSeqHeader: {"0"},
			}
		}
		f, err := p.js.PublishMsgAsync(m)
		if err != nil {
			b.Fatal(err)
		}
		p.futures[slot] = f
	}
	for _, f := range p.futures {
		if f != nil {
			wait(f)
		}
	}
}

func reportRate(b *testing.B, unit string, n int, d time.Duration) {
	b.ReportMetric(float64(n)/d.Seconds(), unit)
}
