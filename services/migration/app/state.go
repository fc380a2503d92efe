package app

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"ballast.dev/services/migration/domain"
)

// State is every move as the migration stream makes it, kept in memory and
// fed in order from the log (and from this process's own appends, at once).
// Moves that are over are kept for a while, for list and get.
type State struct {
	mu      sync.Mutex
	moves   map[string]*entry
	applied uint64 // the stream's last sequence applied
	// queueSeq is the last sequence of the admission queue's history: the
	// expectation for the next admission.
	queueSeq uint64
	// byReplica finds a move by its target's or source's replica id.
	byReplica map[string]string
	changed   chan struct{}
	// progress is what the agents last reported of each copy: not
	// history, only the latest.
	progress map[string]Progress
}

type entry struct {
	m   domain.Migration
	seq uint64 // the sequence of the move's last event
}

// Progress is a copy's progress as its agent reported it.
type Progress struct {
	Copied, Bytes, Rate uint64
	At                  time.Time
}

// NewState makes an empty state.
func NewState() *State {
	return &State{moves: map[string]*entry{}, byReplica: map[string]string{}, changed: make(chan struct{}), progress: map[string]Progress{}}
}

// Apply folds the event stored at seq into the move id. Events of the
// admission queue are given with queue set.
func (s *State) Apply(seq uint64, id string, e domain.Event, queue bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apply(seq, id, e, queue)
}

func (s *State) apply(seq uint64, id string, e domain.Event, queue bool) {
	if seq <= s.applied {
		return
	}
	s.applied = seq
	defer s.notify()
	if queue {
		s.queueSeq = seq
	}
	if e == nil {
		return
	}
	en, ok := s.moves[id]
	if !ok {
		if _, req := e.(domain.Requested); !req {
			return // a move whose request this build could not read
		}
		en = &entry{}
		s.moves[id] = en
	}
	en.m.Apply(e)
	if !queue {
		en.seq = seq
	}
	if r, ok := e.(domain.Requested); ok {
		s.byReplica[r.Migration.Target.ReplicaID] = id
		s.byReplica[r.Migration.Source.ReplicaID] = id
	}
}

// Skip advances past a sequence that holds nothing this build applies.
func (s *State) Skip(seq uint64, queue bool) { s.Apply(seq, "", nil, queue) }

// Recorded applies an event this process just appended at seq, if it
// directly follows what the state has applied; otherwise the log brings it.
func (s *State) Recorded(seq uint64, id string, e domain.Event, queue bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq == s.applied+1 {
		s.apply(seq, id, e, queue)
	}
}

func (s *State) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Applied is the stream's last sequence the state has applied.
func (s *State) Applied() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.applied
}

// Wait waits until the state has applied seq.
func (s *State) Wait(ctx context.Context, seq uint64) error {
	for {
		s.mu.Lock()
		done, ch := s.applied >= seq, s.changed
		s.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("migration state waiting for sequence %d: %w", seq, ctx.Err())
		}
	}
}

// Changed is closed at the next change.
func (s *State) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// Get returns a move and the sequence of its last event.
func (s *State) Get(id string) (domain.Migration, uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	en, ok := s.moves[id]
	if !ok {
		return domain.Migration{}, 0, false
	}
	return en.m, en.seq, true
}

// ByReplica finds the move a replica is the target or source of.
func (s *State) ByReplica(replicaID string) (domain.Migration, uint64, bool) {
	s.mu.Lock()
	id, ok := s.byReplica[replicaID]
	s.mu.Unlock()
	if !ok {
		return domain.Migration{}, 0, false
	}
	return s.Get(id)
}

// All returns every move, oldest first.
func (s *State) All() []domain.Migration {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]domain.Migration, 0, len(s.moves))
	for _, en := range s.moves {
		out = append(out, en.m)
	}
	slices.SortFunc(out, func(a, b domain.Migration) int {
		return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.ID, b.ID))
	})
	return out
}

// QueueSequence is the admission queue's last sequence.
func (s *State) QueueSequence() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queueSeq
}

// SetProgress records what an agent reported of a copy.
func (s *State) SetProgress(id string, p Progress) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.progress[id]; ok && old.Copied > p.Copied {
		return // reports arrive in any order: progress only grows
	}
	s.progress[id] = p
	s.notify()
}

// Progress returns what an agent last reported of a copy.
func (s *State) Progress(id string) (Progress, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.progress[id]
	return p, ok
}
