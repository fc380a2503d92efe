package readmodel

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// memBase is what the memory stores share: the applied sequence per stream,
// kept under the same lock as the rows so that a reader never sees rows
// ahead of or behind the sequence, and a way to wake those waiting for it.
type memBase struct {
	mu      sync.RWMutex
	streams []string
	applied map[string]uint64
	// advanced is closed and replaced whenever a sequence advances and
	// someone took it: one channel wakes every waiter, whatever sequence
	// each waits for.
	advanced chan struct{}
	taken    bool
}

func newMemBase(streams ...string) memBase {
	return memBase{
		streams:  streams,
		applied:  make(map[string]uint64, len(streams)),
		advanced: make(chan struct{}),
	}
}

// Streams lists the streams the store is built from.
func (b *memBase) Streams() []string { return slices.Clone(b.streams) }

// Applied returns the last sequence of stream applied.
func (b *memBase) Applied(_ context.Context, stream string) (uint64, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.applied[stream], nil
}

// WaitApplied blocks until stream is applied up to seq or ctx ends.
func (b *memBase) WaitApplied(ctx context.Context, stream string, seq uint64) error {
	for {
		b.mu.Lock()
		done := b.applied[stream] >= seq
		ch := b.advanced
		b.taken = true
		b.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// begin checks ev before it is applied: an error for a stream the store is
// not built from, false for an event already applied. The caller holds mu.
func (b *memBase) begin(ev Event) (bool, error) {
	if !slices.Contains(b.streams, ev.Stream) {
		return false, fmt.Errorf("readmodel: stream %s is not projected here", ev.Stream)
	}
	return ev.Sequence > b.applied[ev.Stream], nil
}

// advance records ev as applied and wakes waiters. The caller holds mu.
func (b *memBase) advance(ev Event) {
	b.applied[ev.Stream] = ev.Sequence
	if b.taken {
		close(b.advanced)
		b.advanced = make(chan struct{})
		b.taken = false
	}
}

// insertSorted adds key to the sorted keys if it is missing.
func insertSorted(keys []string, key string) []string {
	i, found := slices.BinarySearch(keys, key)
	if found {
		return keys
	}
	return slices.Insert(keys, i, key)
}

// removeSorted removes key from the sorted keys if it is there.
func removeSorted(keys []string, key string) []string {
	i, found := slices.BinarySearch(keys, key)
	if !found {
		return keys
	}
	return slices.Delete(keys, i, i+1)
}

// pageAfter returns the bounds of at most limit keys after after.
func pageAfter(keys []string, after string, limit int) (int, int) {
	start := 0
	if after != "" {
		i, found := slices.BinarySearch(keys, after)
		if found {
			i++
		}
		start = i
	}
	end := min(start+max(limit, 0), len(keys))
	return start, end
}
