package eventstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// Headers the server adds to direct-get responses; Load drops them so that
// Record.Header is the same whether it came from Load or Subscribe.
var directGetHeaders = []string{
	jetstream.StreamHeader,
	jetstream.SubjectHeader,
	jetstream.SequenceHeader,
	jetstream.TimeStampHeaer,
	"Nats-Num-Pending",
	"Nats-Last-Sequence",
}

// Load returns the whole history of the aggregate on subject, in order, and
// last, the sequence of its last record (0 if none): the expected sequence
// for the next Append.
//
// It uses batched direct gets, which leave no consumer behind. On a
// replicated stream a direct get may be answered by a follower that lags a
// little; an Append based on such a load fails with ErrConflict, never
// silently.
func (s *Store) Load(ctx context.Context, stream, subject string) ([]Record, uint64, error) {
	var (
		records []Record
		next    uint64 = 1
	)
	for {
		page, more, err := s.loadPage(ctx, stream, subject, next)
		if err != nil {
			return nil, 0, fmt.Errorf("load %s from %s: %w", subject, stream, err)
		}
		records = append(records, page...)
		if !more || len(page) == 0 {
			break
		}
		next = page[len(page)-1].Sequence + 1
	}
	var last uint64
	if len(records) > 0 {
		last = records[len(records)-1].Sequence
	}
	return records, last, nil
}

// loadPage reads one batch from sequence next on; more reports whether the
// server said messages remain.
func (s *Store) loadPage(ctx context.Context, stream, subject string, next uint64) ([]Record, bool, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.opts.attemptTimeout)
		defer cancel()
	}
	msgs, err := jetstreamext.GetBatch(ctx, s.js, stream, s.opts.loadBatch,
		jetstreamext.GetBatchSeq(next), jetstreamext.GetBatchSubject(subject))
	if err != nil {
		return nil, false, err
	}
	var (
		page []Record
		more bool
		ierr error
	)
	// Always drain the iterator: it owns a subscription until it ends.
	for m, err := range msgs {
		if err != nil {
			if !errors.Is(err, jetstreamext.ErrNoMessages) {
				ierr = err
			}
			continue
		}
		// Nats-Num-Pending is the number of matching messages after this
		// one, counted when the request started.
		more = m.Header.Get("Nats-Num-Pending") != "0"
		for _, h := range directGetHeaders {
			m.Header.Del(h)
		}
		page = append(page, newRecord(m.Subject, m.Sequence, m.Time, m.Header, m.Data))
	}
	if ierr != nil {
		return nil, false, ierr
	}
	return page, more, nil
}
