// Package adapters connects the migration service to the event log.
package adapters

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
	"ballast.dev/services/migration/app"
)

// lastBatch is how many subjects one multi-subject direct get asks for;
// the server refuses more than 1024 in one request.
const lastBatch = 256

// Log reads the migration histories on ballast.evt.migration.<id>. It
// implements app.Log.
type Log struct {
	JS jetstream.JetStream
}

var _ app.Log = Log{}

// Heads implements app.Log without a consumer and without reading whole
// histories: the stream's per-subject counts name the migrations, and
// batched direct gets fetch each one's last event, all as of one stream
// sequence.
func (l Log) Heads(ctx context.Context) ([]app.Head, error) {
	stream, err := l.JS.Stream(ctx, events.Migration.Stream)
	if err != nil {
		return nil, fmt.Errorf("migration heads: %w", err)
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(events.Migration.Filter()))
	if err != nil {
		return nil, fmt.Errorf("migration heads: %w", err)
	}
	if len(info.State.Subjects) == 0 {
		return nil, nil
	}
	subjects := slices.Sorted(maps.Keys(info.State.Subjects))
	heads := make([]app.Head, 0, len(subjects))
	for chunk := range slices.Chunk(subjects, lastBatch) {
		last, err := l.last(ctx, chunk, info.State.LastSeq)
		if err != nil {
			return nil, fmt.Errorf("migration heads: %w", err)
		}
		for _, subj := range chunk {
			m, ok := last[subj]
			if !ok {
				return nil, fmt.Errorf("migration heads: no last event for %s", subj)
			}
			heads = append(heads, app.Head{
				ID:           events.Migration.ID(subj),
				Events:       info.State.Subjects[subj],
				LastSequence: m.Sequence,
				LastType:     m.Header.Get(eventstore.HeaderEventType),
			})
		}
	}
	return heads, nil
}

// last fetches the last message of each subject up to sequence upTo.
func (l Log) last(ctx context.Context, subjects []string, upTo uint64) (map[string]*jetstream.RawStreamMsg, error) {
	msgs, err := jetstreamext.GetLastMsgsFor(ctx, l.JS, events.Migration.Stream, subjects,
		jetstreamext.GetLastMsgsUpToSeq(upTo), jetstreamext.GetLastMsgsBatchSize(len(subjects)))
	if err != nil {
		return nil, err
	}
	out := make(map[string]*jetstream.RawStreamMsg, len(subjects))
	var ierr error
	// Drain the iterator: it owns a subscription until it ends.
	for m, err := range msgs {
		if err != nil {
			if !errors.Is(err, jetstreamext.ErrNoMessages) {
				ierr = err
			}
			continue
		}
		out[m.Subject] = m
	}
	return out, ierr
}
