package gateway_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"ballast.dev/gateway"
	"ballast.dev/platform/waitfor"
	ballastv1 "ballast.dev/proto/ballast/v1"
)

// A gateway serves a bounded number of watches of each kind at once: one
// more is RESOURCE_EXHAUSTED naming the limit, and a watch that ends frees
// its place.
func TestConcurrentWatchesAreBounded(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, gateway.Config{MaxVolumeWatches: 2, MaxEventWatches: 1})
	e.log.volume("w", requested("w-id", "w", gib, 0))

	// Each opens a watch and returns nil once it is in place (it stays until
	// ctx ends), or the error that refused it.
	for _, c := range []struct {
		name, limit string
		max         int
		watch       func(context.Context) error
	}{
		{"WatchVolume", "--max-volume-watches", 2, func(ctx context.Context) error {
			stream, err := e.volumes.WatchVolume(ctx, &ballastv1.WatchVolumeRequest{Name: "w"})
			if err != nil {
				return err
			}
			_, err = stream.Recv() // the volume as it is now
			return err
		}},
		{"WatchEvents", "--max-event-watches", 1, func(ctx context.Context) error {
			stream, err := e.events.WatchEvents(ctx, &ballastv1.WatchEventsRequest{})
			if err != nil {
				return err
			}
			// Headers come once the consumers are in place; a refused
			// watch has none, and its error comes with Recv.
			if md, _ := stream.Header(); md != nil {
				return nil
			}
			_, err = stream.Recv()
			return err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var cancels []context.CancelFunc
			defer func() {
				for _, cancel := range cancels {
					cancel()
				}
			}()
			open := func() error {
				ctx, cancel := context.WithCancel(testCtx(t))
				cancels = append(cancels, cancel)
				return c.watch(ctx)
			}
			for range c.max {
				if err := open(); err != nil {
					t.Fatalf("a watch within the limit: %v", err)
				}
			}
			err := open()
			if status.Code(err) != codes.ResourceExhausted || !strings.Contains(status.Convert(err).Message(), c.limit) {
				t.Fatalf("one watch too many: %v, want RESOURCE_EXHAUSTED naming %s", err, c.limit)
			}
			// A watch that ends gives its place to the next.
			cancels[0]()
			waitfor.Condition(t, 10*time.Second, "a place freed", func() bool { return open() == nil })
		})
	}
}
