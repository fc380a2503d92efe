package adapters

import (
	"context"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"ballast.dev/platform/events"
	pb "ballast.dev/proto/ballast/v1"
	"ballast.dev/services/placement/balance"
)

// Loads follows the load bucket (the latest summary of each node, with its
// replicas' loads): what the planner balances on. Loads are not history;
// the bucket holds the latest only, and so does this.
type Loads struct {
	mu       sync.Mutex
	replicas map[string]balance.Load
	byNode   map[string][]string // node → the replicas its last summary named
}

// WatchLoads follows the load bucket until ctx ends. updated, if not nil,
// is told the node of each summary once its loads are in.
func WatchLoads(ctx context.Context, js jetstream.JetStream, updated func(node string)) (*Loads, error) {
	l := &Loads{replicas: map[string]balance.Load{}, byNode: map[string][]string{}}
	kv, err := js.KeyValue(ctx, events.LoadBucket)
	if err != nil {
		return nil, err
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return nil, err
	}
	go func() {
		defer func() { _ = w.Stop() }()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil {
					continue // the initial values are in
				}
				if l.apply(e) && updated != nil {
					updated(e.Key())
				}
			}
		}
	}()
	return l, nil
}

// apply takes in a summary; false if e is none.
func (l *Loads) apply(e jetstream.KeyValueEntry) bool {
	m := &pb.NodeLoadSummarized{}
	if e.Operation() != jetstream.KeyValuePut || proto.Unmarshal(e.Value(), m) != nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range l.byNode[e.Key()] {
		delete(l.replicas, id)
	}
	ids := make([]string, 0, len(m.GetReplicas()))
	for _, r := range m.GetReplicas() {
		l.replicas[r.GetReplicaId()] = balance.Load{ReadIOPS: r.GetReadIops(), WriteIOPS: r.GetWriteIops(),
			ReadBps: r.GetReadBytesPerSecond(), WriteBps: r.GetWriteBytesPerSecond()}
		ids = append(ids, r.GetReplicaId())
	}
	l.byNode[e.Key()] = ids
	return true
}

// Of returns a replica's last measured load.
func (l *Loads) Of(replicaID string) balance.Load {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.replicas[replicaID]
}
