package adapters

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
	"ballast.dev/platform/retry"
	pb "ballast.dev/proto/ballast/v1"
	"ballast.dev/services/metrics/app"
	"ballast.dev/services/metrics/domain"
)

// HealthLog appends health changes to ballast.evt.metrics.<node-id>. It
// implements app.HealthLog.
type HealthLog struct {
	store *eventstore.Store
	mu    sync.Mutex
	last  map[string]uint64 // node → its subject's last sequence
	// hot are the nodes the log said were hotspots when it was opened.
	hot []string
}

var _ app.HealthLog = (*HealthLog)(nil)

// OpenHealth reads every node's last recorded health from the metrics
// stream, and the nodes that ever reported from the load bucket (alive,
// when they have no health history).
func OpenHealth(ctx context.Context, store *eventstore.Store, js jetstream.JetStream) (*HealthLog, map[string]domain.Health, error) {
	h := &HealthLog{store: store, last: map[string]uint64{}}
	known := map[string]domain.Health{}
	if kv, err := js.KeyValue(ctx, events.LoadBucket); err == nil {
		if keys, err := kv.ListKeys(ctx); err == nil {
			for k := range keys.Keys() {
				known[k] = domain.Alive
			}
		}
	}
	hot := map[string]bool{}
	err := store.Replay(ctx, events.Metrics.Stream, func(rec eventstore.Record) error {
		node := events.Metrics.ID(rec.Subject)
		h.last[node] = rec.Sequence
		if m, err := events.Read(rec.Subject, rec.Type, rec.Data); err == nil {
			switch m.(type) {
			case *pb.NodeSuspected:
				known[node] = domain.Suspect
			case *pb.NodeDown:
				known[node] = domain.Down
			case *pb.NodeRecovered:
				known[node] = domain.Alive
			case *pb.HotspotDetected:
				hot[node] = true
			case *pb.HotspotCleared:
				delete(hot, node)
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	for node := range hot {
		h.hot = append(h.hot, node)
	}
	slices.Sort(h.hot)
	return h, known, nil
}

// Hot lists the nodes the log said were hotspots when it was opened: a
// service that starts again goes on from there, so that it records when
// they clear (they may have while it was down).
func (h *HealthLog) Hot() []string { return h.hot }

// Record implements app.HealthLog. Its id is the change's, so that two
// instances recording one change store it once.
func (h *HealthLog) Record(ctx context.Context, c domain.Change) error {
	at := timestamppb.New(events.Now())
	seen := timestamppb.New(c.LastSeen)
	var m proto.Message
	switch c.To {
	case domain.Suspect:
		m = &pb.NodeSuspected{NodeId: c.Node, LastSeenTime: seen, OccurTime: at}
	case domain.Down:
		m = &pb.NodeDown{NodeId: c.Node, LastSeenTime: seen, OccurTime: at}
	default:
		m = &pb.NodeRecovered{NodeId: c.Node, OccurTime: at}
	}
	return h.append(ctx, c.Node, fmt.Sprintf("health/%s/%s/%d", c.Node, c.To, c.LastSeen.UnixNano()), m)
}

// RecordHotspot implements app.HotspotLog.
func (h *HealthLog) RecordHotspot(ctx context.Context, c domain.HotspotChange, windowEnd time.Time) error {
	at, end := timestamppb.New(events.Now()), timestamppb.New(windowEnd)
	var m proto.Message = &pb.HotspotCleared{NodeId: c.Node, Utilization: c.Utilization, WindowEndTime: end, OccurTime: at}
	if c.Hot {
		m = &pb.HotspotDetected{NodeId: c.Node, Utilization: c.Utilization, WindowEndTime: end, OccurTime: at, ClearUtilization: c.Clear}
	}
	return h.append(ctx, c.Node, fmt.Sprintf("hotspot/%s/%v/%d", c.Node, c.Hot, windowEnd.UnixNano()), m)
}

func (h *HealthLog) append(ctx context.Context, node, id string, m proto.Message) error {
	ev, err := events.Encode(id, m)
	if err != nil {
		return err
	}
	return retry.Do(ctx, retry.Conflict, func(int) error {
		h.mu.Lock()
		expected := h.last[node]
		h.mu.Unlock()
		seq, err := h.store.Append(ctx, events.Metrics.Subject(node), expected, ev)
		var conflict *eventstore.ConflictError
		if errors.As(err, &conflict) {
			// Another instance recorded first: follow it.
			h.mu.Lock()
			h.last[node] = conflict.Actual
			h.mu.Unlock()
			return err
		}
		if err != nil {
			return retry.Permanent(fmt.Errorf("health of %s: %w", node, err))
		}
		h.mu.Lock()
		h.last[node] = max(h.last[node], seq)
		h.mu.Unlock()
		return nil
	})
}
