// Package metrics is the metrics service: it keeps a telemetry window per
// node and records the summary of each window (NodeLoadSummarized) as the
// node's latest load in the load bucket, at most once per interval. Neither
// raw telemetry nor summaries are history: what is history is a decision
// taken on them.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"ballast.dev/platform/bus"
	"ballast.dev/platform/events"
	"ballast.dev/platform/natsconn"
	pb "ballast.dev/proto/ballast/v1"
	"ballast.dev/services/metrics/adapters"
	"ballast.dev/services/metrics/app"
	"ballast.dev/services/metrics/domain"
	"ballast.dev/services/metrics/ports"
)

// Config is what the service needs.
type Config struct {
	Conn *natsconn.Conn
	// Interval is the length of a window, and so the least time between
	// two summaries of a node; 0 means domain.DefaultInterval.
	Interval time.Duration
	// Liveness says when a silent node is suspect and when down; zero is
	// domain.DefaultLiveness.
	Liveness domain.Liveness
	// Hotspots are the bars of a hotspot; zero is domain.DefaultHotspotBars.
	Hotspots domain.HotspotBars
}

// Service is a running metrics service.
type Service struct {
	feed     *bus.FeedReader
	stop     context.CancelFunc
	flushed  chan struct{}
	watching sync.WaitGroup
}

// Start consumes telemetry until Close.
func Start(ctx context.Context, cfg Config) (*Service, error) {
	c := cfg.Conn
	log := c.Logger.With("service", "metrics")
	if cfg.Interval <= 0 {
		cfg.Interval = domain.DefaultInterval
	}
	summaries, err := adapters.NewLoads(ctx, c.JS)
	if err != nil {
		return nil, fmt.Errorf("metrics service: %w", err)
	}
	ctx, stop := context.WithCancel(ctx)
	s := &Service{stop: stop}
	summarizer := app.NewSummarizer(summaries, cfg.Interval, events.Now, log)
	if cfg.Liveness.SuspectAfter <= 0 {
		cfg.Liveness.SuspectAfter = domain.DefaultLiveness.SuspectAfter
	}
	if cfg.Liveness.DownAfter <= 0 {
		cfg.Liveness.DownAfter = max(domain.DefaultLiveness.DownAfter, 2*cfg.Liveness.SuspectAfter)
	}
	if cfg.Liveness.DownAfter <= cfg.Liveness.SuspectAfter {
		stop()
		return nil, fmt.Errorf("metrics service: a node is down after %s of silence, which must be longer than the %s after which it is suspect",
			cfg.Liveness.DownAfter, cfg.Liveness.SuspectAfter)
	}
	health, known, err := adapters.OpenHealth(ctx, c.Store, c.JS)
	if err != nil {
		stop()
		return nil, fmt.Errorf("metrics service: node health: %w", err)
	}
	watcher := app.NewWatcher(cfg.Liveness, known, health, events.Now, log)
	if cfg.Hotspots == (domain.HotspotBars{}) {
		cfg.Hotspots = domain.DefaultHotspotBars
	}
	hotspots := app.NewHotspotWatch(cfg.Hotspots, health, log)
	hotspots.Known(health.Hot())
	summarizer.OnSummary, summarizer.OnOpen = hotspots.Summary, hotspots.Open

	feed, err := bus.ReadFeed(ctx, c.JS, "metrics", ports.TelemetryFeed, log,
		&pb.NodeTelemetry{}, adapters.DecodeTelemetry, ports.Telemetry(summarizer, watcher, log))
	if err != nil {
		return nil, s.fail(err)
	}
	s.feed = feed

	// Samples close windows as they arrive; the ticker closes the windows
	// of nodes that went quiet and retries appends that failed. A quarter
	// interval keeps a quiet node's last summary within 1.25 intervals.
	s.flushed = make(chan struct{})
	go func() {
		defer close(s.flushed)
		t := time.NewTicker(max(cfg.Interval/4, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := summarizer.Flush(ctx); err != nil && ctx.Err() == nil {
					log.Warn("metrics flush", "err", err)
				}

			}
		}
	}()
	s.watching.Go(func() {
		// Silence is checked often enough that a node is found suspect
		// within a quarter of the bar after it crosses it.
		t := time.NewTicker(min(max(cfg.Liveness.SuspectAfter/4, 10*time.Millisecond), time.Second))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := watcher.Check(ctx); err != nil && ctx.Err() == nil {
					log.Warn("node health not recorded yet", "err", err)
				}
			}
		}
	})
	return s, nil
}

// Telemetry counts the reports the service read.
func (s *Service) Telemetry() bus.FeedStats { return s.feed.Stats() }

func (s *Service) fail(err error) error {
	_ = s.Close()
	return fmt.Errorf("metrics service: %w", err)
}

// Close stops consuming, waiting for the samples in flight. Open windows are
// not summarized: their samples were read, and a partial window
// recorded now would make the rest of it late after a restart.
func (s *Service) Close() error {
	var err error
	if s.feed != nil {
		err = errors.Join(err, s.feed.Close())
	}
	s.stop()
	if s.flushed != nil {
		<-s.flushed
	}
	s.watching.Wait()
	return err
}
