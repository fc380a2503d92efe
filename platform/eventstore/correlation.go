package eventstore

import "context"

type correlationKey struct{}

// WithCorrelationID returns a context that carries a correlation id. An
// Append under it stamps the id on events that have none, so everything a
// command causes, across services, shares the command's id.
func WithCorrelationID(ctx context.Context, id string) context.Context {
	if id == "" {
		return ctx
	}
	return context.WithValue(ctx, correlationKey{}, id)
}

// CorrelationID is the correlation id ctx carries, or "".
func CorrelationID(ctx context.Context) string {
	id, _ := ctx.Value(correlationKey{}).(string)
	return id
}
