package tracing

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

func TestCarrierRoundTrip(t *testing.T) {
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:     trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8},
		TraceFlags: trace.FlagsSampled,
	})
	p := propagation.TraceContext{}
	h := nats.Header{}
	InjectWith(trace.ContextWithSpanContext(context.Background(), sc), p, h)
	if h.Get("traceparent") == "" {
		t.Fatalf("no lowercase traceparent in %v", h)
	}
	if _, ok := h["Traceparent"]; ok {
		t.Fatalf("canonical name written: %v", h)
	}
	got := trace.SpanContextFromContext(ExtractWith(context.Background(), p, h))
	if got.TraceID() != sc.TraceID() || got.SpanID() != sc.SpanID() {
		t.Fatalf("extracted %v, want %v", got, sc)
	}
}

func TestCarrierReadsCanonicalNames(t *testing.T) {
	h := nats.Header{"Traceparent": {"00-0102030405060708090a0b0c0d0e0f10-0102030405060708-01"}}
	got := trace.SpanContextFromContext(ExtractWith(context.Background(), propagation.TraceContext{}, h))
	if !got.IsValid() {
		t.Fatal("trace context with canonical header name not extracted")
	}
	if ctx := ExtractWith(context.Background(), propagation.TraceContext{}, nil); trace.SpanContextFromContext(ctx).IsValid() {
		t.Fatal("span context from nil headers")
	}
}
