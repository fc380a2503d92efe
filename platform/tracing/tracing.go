// Package tracing carries W3C trace context in NATS message headers.
//
// OpenTelemetry's propagation.HeaderCarrier is built on http.Header and
// writes canonical names ("Traceparent"), but NATS header lookups are
// case-sensitive and the W3C names are lowercase ("traceparent"), so the
// receiving side would find nothing. HeaderCarrier uses the names exactly as
// the propagator gives them.
package tracing

import (
	"context"
	"strings"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// HeaderCarrier adapts nats.Header to propagation.TextMapCarrier, keeping
// the lowercase W3C names ("traceparent", "tracestate", "baggage").
type HeaderCarrier nats.Header

var _ propagation.TextMapCarrier = HeaderCarrier(nil)

// Get returns the value for key. It falls back to a case-insensitive match
// so that messages written with canonical names are still understood.
func (c HeaderCarrier) Get(key string) string {
	if v := c[key]; len(v) > 0 {
		return v[0]
	}
	for k, v := range c {
		if len(v) > 0 && strings.EqualFold(k, key) {
			return v[0]
		}
	}
	return ""
}

// Set stores value under the lowercase key, writing the map directly.
func (c HeaderCarrier) Set(key, value string) {
	c[strings.ToLower(key)] = []string{value}
}

// Keys lists the header names.
func (c HeaderCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// Inject writes the trace context of ctx into h with the global propagator
// (otel.GetTextMapPropagator). h must not be nil.
func Inject(ctx context.Context, h nats.Header) {
	InjectWith(ctx, otel.GetTextMapPropagator(), h)
}

// Extract returns ctx with the trace context found in h, read with the
// global propagator.
func Extract(ctx context.Context, h nats.Header) context.Context {
	return ExtractWith(ctx, otel.GetTextMapPropagator(), h)
}

// InjectWith is Inject with an explicit propagator.
func InjectWith(ctx context.Context, p propagation.TextMapPropagator, h nats.Header) {
	p.Inject(ctx, HeaderCarrier(h))
}

// ExtractWith is Extract with an explicit propagator.
func ExtractWith(ctx context.Context, p propagation.TextMapPropagator, h nats.Header) context.Context {
	if len(h) == 0 {
		return ctx
	}
	return p.Extract(ctx, HeaderCarrier(h))
}

// Setup installs a process's OpenTelemetry defaults: the W3C trace-context
// and baggage propagators, and a tracer provider that samples every trace, so
// that the ids exist to travel from the API through every service's events.
// Spans are not exported yet; an exporter joins the provider when
// OpenTelemetry export lands. The returned function shuts the provider down.
func Setup() func(context.Context) error {
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())))
	otel.SetTracerProvider(tp)
	return tp.Shutdown
}

// TraceID is the trace id of the "traceparent" in h, or "" when there is
// none: version-traceid-spanid-flags.
func TraceID(h nats.Header) string {
	parts := strings.Split(HeaderCarrier(h).Get("traceparent"), "-")
	if len(parts) != 4 {
		return ""
	}
	return parts[1]
}
