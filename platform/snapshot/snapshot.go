// Package snapshot keeps the latest snapshot of each in-memory model
// (placement's cluster model, the gateway's read models, an agent's nodes):
// the model's state and the stream sequences it covers, in a JetStream
// object store bucket. A restart loads the latest and replays only the tail
// of the log after it, so restart time does not grow with history.
//
// A snapshot is a cache of the log, never the truth: one that cannot be
// read, or that is ahead of its streams (the log was recreated), is ignored
// and the model is rebuilt from the start.
package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Bucket is the object store bucket that holds the snapshots, one object
// per model.
const Bucket = "BALLAST_SNAPSHOTS"

// BucketConfig is the bucket's declaration; events.EnsureStreams declares
// it with the log.
func BucketConfig(replicas int) jetstream.ObjectStoreConfig {
	return jetstream.ObjectStoreConfig{
		Bucket:      Bucket,
		Description: "Ballast: the latest snapshot of each in-memory model and the stream sequences it covers",
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
		// No compression: nats-server keeps an s2 writer per block of a
		// compressed stream, tens of MB for a bucket of large objects.
	}
}

// Snapshot is a model's state as of the sequences it covers.
type Snapshot struct {
	// Format names the encoding of Data; a reader that does not know it
	// ignores the snapshot.
	Format string
	// Sequences are, per stream, the last sequence the state covers.
	Sequences map[string]uint64
	Data      []byte
}

// Store reads and writes snapshots.
type Store struct {
	js  jetstream.JetStream
	mu  sync.Mutex
	obs jetstream.ObjectStore
}

// NewStore returns a store on js's snapshot bucket.
func NewStore(js jetstream.JetStream) *Store { return &Store{js: js} }

func (s *Store) bucket(ctx context.Context) (jetstream.ObjectStore, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.obs != nil {
		return s.obs, nil
	}
	obs, err := s.js.ObjectStore(ctx, Bucket)
	if err != nil {
		return nil, fmt.Errorf("snapshot bucket: %w", err)
	}
	s.obs = obs
	return obs, nil
}

const (
	metaFormat = "format"
	metaSeq    = "seq-"
)

// Save replaces model's snapshot.
func (s *Store) Save(ctx context.Context, model string, snap Snapshot) error {
	obs, err := s.bucket(ctx)
	if err != nil {
		return err
	}
	meta := map[string]string{metaFormat: snap.Format}
	for stream, seq := range snap.Sequences {
		meta[metaSeq+stream] = strconv.FormatUint(seq, 10)
	}
	_, err = obs.Put(ctx, jetstream.ObjectMeta{Name: model, Metadata: meta}, bytes.NewReader(snap.Data))
	if err != nil {
		return fmt.Errorf("save snapshot of %s: %w", model, err)
	}
	return nil
}

// ErrNone: the model has no snapshot yet.
var ErrNone = errors.New("no snapshot")

// Load returns model's latest snapshot, ErrNone if it has none.
func (s *Store) Load(ctx context.Context, model string) (Snapshot, error) {
	obs, err := s.bucket(ctx)
	if err != nil {
		return Snapshot{}, err
	}
	res, err := obs.Get(ctx, model)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return Snapshot{}, ErrNone
	}
	if err != nil {
		return Snapshot{}, fmt.Errorf("load snapshot of %s: %w", model, err)
	}
	defer res.Close()
	info, err := res.Info()
	if err != nil {
		return Snapshot{}, fmt.Errorf("load snapshot of %s: %w", model, err)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(res); err != nil {
		return Snapshot{}, fmt.Errorf("load snapshot of %s: %w", model, err)
	}
	snap := Snapshot{Format: info.Metadata[metaFormat], Sequences: map[string]uint64{}, Data: buf.Bytes()}
	for k, v := range info.Metadata {
		if stream, ok := strings.CutPrefix(k, metaSeq); ok {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return Snapshot{}, fmt.Errorf("load snapshot of %s: sequence of %s: %w", model, stream, err)
			}
			snap.Sequences[stream] = n
		}
	}
	return snap, nil
}

// Policy says when a model writes a snapshot: after Every events applied
// since the last one, or after Interval when any was applied at all.
type Policy struct {
	Every    uint64
	Interval time.Duration
}

// DefaultPolicy writes a snapshot every 20,000 events, or every minute
// while events arrive.
var DefaultPolicy = Policy{Every: 20_000, Interval: time.Minute}

// Due reports whether a model that applied applied events since its last
// snapshot, taken at last, should take one now.
func (p Policy) Due(applied uint64, last, now time.Time) bool {
	return applied > 0 && (applied >= p.Every || now.Sub(last) >= p.Interval)
}

// Model is what Run snapshots.
type Model interface {
	// Events counts the events the model applied since it started (or was
	// restored): Run takes a snapshot when enough have been.
	Events() uint64
	// Take returns the model's state as of now.
	Take() (Snapshot, error)
}

// Run takes snapshots of m under name as p says, until ctx ends; then it
// takes a last one, so that the next start has little to replay.
func Run(ctx context.Context, s *Store, name string, m Model, p Policy, log interface {
	Warn(msg string, args ...any)
}) {
	tick := time.NewTicker(min(p.Interval/4, 5*time.Second))
	defer tick.Stop()
	lastN, lastT := m.Events(), time.Now()
	take := func(ctx context.Context) {
		n := m.Events()
		snap, err := m.Take()
		if err == nil {
			err = s.Save(ctx, name, snap)
		}
		if err != nil {
			log.Warn("snapshot not taken", "model", name, "err", err)
			return
		}
		lastN, lastT = n, time.Now()
	}
	for {
		select {
		case <-ctx.Done():
			if m.Events() != lastN {
				final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				take(final)
				cancel()
			}
			return
		case now := <-tick.C:
			if p.Due(m.Events()-lastN, lastT, now) {
				take(ctx)
			}
		}
	}
}

// LastSequencer tells the last sequence of a stream; *eventstore.Store is
// one.
type LastSequencer interface {
	LastSequence(ctx context.Context, stream string) (uint64, error)
}

// Latest returns model's latest snapshot if a reader of format can restore
// it: in that format, and covering no more of any stream than the stream
// holds (a log recreated since would otherwise be shadowed by an old
// snapshot). ErrNone when there is none; another error says why the one
// there cannot be used, and the model is rebuilt from the log.
func (s *Store) Latest(ctx context.Context, model, format string, log LastSequencer) (Snapshot, error) {
	snap, err := s.Load(ctx, model)
	if err != nil {
		return Snapshot{}, err
	}
	if snap.Format != format {
		return Snapshot{}, fmt.Errorf("snapshot in format %q, want %q", snap.Format, format)
	}
	for stream, seq := range snap.Sequences {
		have, err := log.LastSequence(ctx, stream)
		if err != nil {
			return Snapshot{}, err
		}
		if seq > have {
			return Snapshot{}, fmt.Errorf("snapshot covers %s up to %d, but the stream ends at %d", stream, seq, have)
		}
	}
	return snap, nil
}
