package readmodel

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"ballast.dev/platform/events"
	"ballast.dev/platform/retry"
	ballastv1 "ballast.dev/proto/ballast/v1"
)

// Loads follows the load bucket (the latest summary of each node) into a
// NodeStore: a watch delivers each node's latest value and then every
// change, so a start reads one value per node, whatever the history.
type Loads struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// FollowLoads watches js's load bucket until Stop.
func FollowLoads(js jetstream.JetStream, nodes NodeStore, logger *slog.Logger) *Loads {
	ctx, cancel := context.WithCancel(context.Background())
	l := &Loads{cancel: cancel}
	l.wg.Go(func() {
		for ctx.Err() == nil {
			err := retry.Do(ctx, resubscribe, func(int) error { return followLoads(ctx, js, nodes, logger) })
			if err != nil && ctx.Err() == nil {
				logger.Warn("load watch ended; watching again", "err", err)
			}
		}
	})
	return l
}

// Stop stops following.
func (l *Loads) Stop() {
	l.cancel()
	l.wg.Wait()
}

func followLoads(ctx context.Context, js jetstream.JetStream, nodes NodeStore, logger *slog.Logger) error {
	kv, err := js.KeyValue(ctx, events.LoadBucket)
	if err != nil {
		return err
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case u, ok := <-w.Updates():
			if !ok {
				return errors.New("load watch closed")
			}
			if u == nil || u.Operation() != jetstream.KeyValuePut {
				continue // the initial values are in; or a deleted key
			}
			m := &ballastv1.NodeLoadSummarized{}
			if err := proto.Unmarshal(u.Value(), m); err != nil || m.GetNodeId() != u.Key() {
				logger.Warn("load summary skipped", "node", u.Key(), "err", err)
				continue
			}
			if err := nodes.SetLoad(ctx, m); err != nil {
				return err
			}
		}
	}
}
