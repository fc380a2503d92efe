package grpcapi

import (
	"context"
	"fmt"
	"slices"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
	ballastv1 "ballast.dev/proto/ballast/v1"
)

// defaultKinds are watched when a request names none: the lifecycle, not the
// telemetry summaries, which are many and rarely wanted.
var defaultKinds = []string{events.Volume.Kind, events.Placement.Kind, events.Node.Kind}

// EventService serves ballast.v1.EventService.
type EventService struct {
	ballastv1.UnimplementedEventServiceServer
	cfg Config
}

// WatchEvents merges one ordered consumer per aggregate kind into the
// stream. Each kind's events arrive in log order; kinds interleave as they
// come. The response headers are sent once the consumers are in place.
func (s *EventService) WatchEvents(req *ballastv1.WatchEventsRequest, stream ballastv1.EventService_WatchEventsServer) error {
	release, err := s.cfg.EventWatches.acquire()
	if err != nil {
		return s.status(err)
	}
	defer release()
	kinds := req.GetAggregates()
	if len(kinds) == 0 {
		kinds = defaultKinds
	}
	var aggs []events.Aggregate
	for _, kind := range kinds {
		a, ok := events.ByKind(kind)
		if !ok {
			return s.status(badField("aggregates", fmt.Sprintf("aggregates: unknown kind %q", kind)))
		}
		if !slices.Contains(aggs, a) {
			aggs = append(aggs, a)
		}
	}

	// Every consumer ends with the call: the client went away, or the
	// gateway stops.
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	out := make(chan *ballastv1.Event, 64)
	failed := make(chan error, len(aggs))
	var subs []eventstore.Subscription
	defer func() {
		cancel()
		for _, sub := range subs {
			sub.Stop()
			<-sub.Done()
		}
	}()
	for _, a := range aggs {
		var after uint64
		if !req.GetFromStart() {
			last, err := s.cfg.Log.LastSequence(ctx, a.Stream)
			if err != nil {
				return s.status(err)
			}
			after = last
		}
		sub, err := s.cfg.Log.Subscribe(ctx, a.Stream, a.Filter(), after, func(ctx context.Context, rec eventstore.Record) error {
			select {
			case out <- s.toEvent(a.Stream, rec):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		if err != nil {
			return s.status(err)
		}
		subs = append(subs, sub)
		go func() {
			<-sub.Done()
			if err := sub.Err(); err != nil {
				failed <- err
			}
		}()
	}

	// Headers go out once every consumer is in place: a client that waits
	// for them knows that it will see every event appended from then on.
	if err := stream.SendHeader(metadata.MD{}); err != nil {
		return err
	}
	for {
		select {
		case ev := <-out:
			if err := stream.Send(&ballastv1.WatchEventsResponse{Event: ev}); err != nil {
				return err
			}
		case err := <-failed:
			if ctx.Err() != nil {
				return s.status(ctx.Err())
			}
			return s.status(fmt.Errorf("%w: %v", errLogLost, err))
		case <-ctx.Done():
			return s.status(ctx.Err())
		case <-s.cfg.Done:
			return s.status(errShuttingDown)
		}
	}
}

// toEvent makes the API's event of a record. The payload is decoded and
// packed again so that a bad payload shows here rather than in the client;
// one this build cannot decode is passed on as it is stored.
func (s *EventService) toEvent(stream string, rec eventstore.Record) *ballastv1.Event {
	ev := &ballastv1.Event{
		Stream:        stream,
		Subject:       rec.Subject,
		Sequence:      rec.Sequence,
		Type:          rec.Type,
		AppendTime:    timestamppb.New(rec.Time),
		CorrelationId: rec.CorrelationID,
	}
	m, err := events.Decode(rec.Type, rec.Data)
	if err == nil {
		ev.Payload, err = anypb.New(m)
	}
	if err != nil {
		s.cfg.Logger.Warn("event payload passed on undecoded", "subject", rec.Subject, "seq", rec.Sequence, "err", err)
		ev.Payload = &anypb.Any{TypeUrl: "type.googleapis.com/" + rec.Type, Value: rec.Data}
	}
	return ev
}

func (s *EventService) status(err error) error { return toStatus(s.cfg.Logger, err) }
