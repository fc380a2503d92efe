package adapters

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
	pb "ballast.dev/proto/ballast/v1"
	"ballast.dev/services/metrics/app"
	"ballast.dev/services/metrics/domain"
)

// Log is the history of summaries of each node, on
// ballast.evt.metrics.<node-id>. It implements app.Log.
type Log struct {
	store  *eventstore.Store
	stream jetstream.Stream
}

var _ app.Log = (*Log)(nil)

// NewLog opens the metrics stream, which must exist (natsconn.Dial makes it).
func NewLog(ctx context.Context, js jetstream.JetStream, store *eventstore.Store) (*Log, error) {
	st, err := js.Stream(ctx, events.Metrics.Stream)
	if err != nil {
		return nil, fmt.Errorf("metrics log: %w", err)
	}
	return &Log{store: store, stream: st}, nil
}

// EventID identifies the summary of a node's window. Retried appends of the
// same window carry the same id, so the log deduplicates them.
func EventID(s domain.Summary) string {
	return fmt.Sprintf("metrics/%s/%d", s.Node, s.End.UnixNano())
}

// Last implements app.Log with one direct get of the subject's last message:
// a node's history grows forever, so it is never loaded whole.
func (l *Log) Last(ctx context.Context, node string) (uint64, time.Time, error) {
	msg, err := l.stream.GetLastMsgForSubject(ctx, events.Metrics.Subject(node))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("last summary of %s: %w", node, err)
	}
	m, err := events.Decode(msg.Header.Get(eventstore.HeaderEventType), msg.Data)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("last summary of %s: %w", node, err)
	}
	// Other metrics events (hotspots, later) may share the subject; their
	// sequence is still the expectation, but they say nothing of windows.
	var end time.Time
	if s, ok := m.(*pb.NodeLoadSummarized); ok && s.GetWindowEndTime() != nil {
		end = s.GetWindowEndTime().AsTime()
	}
	return msg.Sequence, end, nil
}

// Append implements app.Log.
func (l *Log) Append(ctx context.Context, s domain.Summary, expected uint64) (uint64, error) {
	ev, err := events.Encode(EventID(s), SummaryToProto(s))
	if err != nil {
		return 0, err
	}
	seq, err := l.store.Append(ctx, events.Metrics.Subject(s.Node), expected, ev)
	if errors.Is(err, eventstore.ErrConflict) {
		return 0, fmt.Errorf("%w: %w", app.ErrConflict, err)
	}
	return seq, err
}
