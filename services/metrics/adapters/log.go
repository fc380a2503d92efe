package adapters

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"ballast.dev/platform/events"
	pb "ballast.dev/proto/ballast/v1"
	"ballast.dev/services/metrics/app"
	"ballast.dev/services/metrics/domain"
)

// Loads keeps the latest summary of each node in the load bucket
// (events.LoadBucket), keyed by node id: summaries are not history, so no
// reader ever replays them. The key's revision is the optimistic
// expectation. It implements app.Log.
type Loads struct {
	kv jetstream.KeyValue
}

var _ app.Log = (*Loads)(nil)

// NewLoads opens the load bucket, which must exist (natsconn.Dial makes it).
func NewLoads(ctx context.Context, js jetstream.JetStream) (*Loads, error) {
	kv, err := js.KeyValue(ctx, events.LoadBucket)
	if err != nil {
		return nil, fmt.Errorf("load bucket: %w", err)
	}
	return &Loads{kv: kv}, nil
}

// Last implements app.Log: the revision of the node's summary and the end
// of its window.
func (l *Loads) Last(ctx context.Context, node string) (uint64, time.Time, error) {
	e, err := l.kv.Get(ctx, node)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("last summary of %s: %w", node, err)
	}
	var m pb.NodeLoadSummarized
	if err := proto.Unmarshal(e.Value(), &m); err != nil || m.GetWindowEndTime() == nil {
		// Unreadable: the next summary replaces it.
		return e.Revision(), time.Time{}, nil
	}
	return e.Revision(), m.GetWindowEndTime().AsTime(), nil
}

// Append implements app.Log: the summary replaces the node's last if that
// is still the revision expected.
func (l *Loads) Append(ctx context.Context, s domain.Summary, expected uint64) (uint64, error) {
	data := MarshalSummary(s)
	var (
		rev uint64
		err error
	)
	if expected == 0 {
		rev, err = l.kv.Create(ctx, s.Node, data)
	} else {
		rev, err = l.kv.Update(ctx, s.Node, data, expected)
	}
	if conflict(err) {
		return 0, fmt.Errorf("%w: %w", app.ErrConflict, err)
	}
	if err != nil {
		return 0, fmt.Errorf("summary of %s: %w", s.Node, err)
	}
	return rev, nil
}

// wrongLastSequence is JetStream's refusal of an expectation.
const wrongLastSequence jetstream.ErrorCode = 10071

func conflict(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyExists) || (errors.As(err, &apiErr) && apiErr.ErrorCode == wrongLastSequence)
}
