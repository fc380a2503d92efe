// Package readmodel holds the gateway's read models: projections of the event
// log that answer the public API's queries.
//
// A projection is fed one event at a time, each with the stream sequence it
// was stored at, and keeps the last sequence it applied per stream together
// with its rows. That is what lets a store that outlives the process (SQL)
// resume where it stopped, and what lets a read wait until every write that
// finished before it is visible (Sync). The memory stores here are rebuilt
// from the log at every start; a SQL store will implement the same
// interfaces.
package readmodel

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	ballastv1 "ballast.dev/proto/ballast/v1"
)

// ErrNotFound matches every *NotFoundError.
var ErrNotFound = errors.New("readmodel: not found")

// NotFoundError is returned by queries for a volume or node that does not
// exist (any more). Its message is fit for the API's caller.
type NotFoundError struct {
	// Kind is what was looked for: "volume" (by name or id) or "node". The
	// message, `volume "db" not found`, is spelled as the volume service
	// spells it.
	Kind string
	// Key is the name or id asked for.
	Key string
}

func (e *NotFoundError) Error() string { return fmt.Sprintf("%s %q not found", e.Kind, e.Key) }

// Is makes errors.Is(err, ErrNotFound) true.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// Event is one event of the log as a projection sees it.
type Event struct {
	// Stream is the JetStream stream the event is stored in.
	Stream string
	// Subject is the aggregate subject, e.g. ballast.evt.volume.<name>.
	Subject string
	// Sequence is the event's stream sequence.
	Sequence uint64
	// Time is when the server stored it.
	Time time.Time
	// Type is the full protobuf name of the payload.
	Type string
	// Message is the decoded payload, nil when it could not be decoded:
	// the sequence must still be applied, or reads waiting for it would
	// wait forever.
	Message proto.Message
}

// Projection is the write side of a read model.
type Projection interface {
	// Streams lists the streams the projection is built from.
	Streams() []string
	// Applied returns the last sequence of stream the projection applied,
	// 0 when none.
	Applied(ctx context.Context, stream string) (uint64, error)
	// Apply applies ev and records ev.Sequence as applied for ev.Stream,
	// atomically. An event at or below the stream's applied sequence is
	// ignored, so redelivery is harmless. Events of types the projection
	// does not use only advance the sequence.
	Apply(ctx context.Context, ev Event) error
	// WaitApplied blocks until the projection has applied stream up to
	// seq at least, or ctx ends.
	WaitApplied(ctx context.Context, stream string, seq uint64) error
}

// VolumeStore is the volumes read model.
type VolumeStore interface {
	Projection
	// Volume returns the live volume named nameOrID, or whose id it is.
	Volume(ctx context.Context, nameOrID string) (*ballastv1.Volume, error)
	// Incarnation returns the volume with the id, also after it was
	// deleted (then in state DELETED), so that a watcher can see the end
	// of the incarnation it watched. Deleted incarnations may be forgotten
	// after a while.
	Incarnation(ctx context.Context, id string) (*ballastv1.Volume, error)
	// Volumes returns at most limit live volumes whose names sort after
	// after, in name order, and the number of live volumes in all.
	Volumes(ctx context.Context, after string, limit int) ([]*ballastv1.Volume, int, error)
	// VolumeChanged returns a channel that is closed at the next change of
	// any volume under name, and a func to call once the caller no longer
	// waits on it. Take it before reading, so that no change between the
	// read and the wait is missed.
	VolumeChanged(name string) (changed <-chan struct{}, done func())
}

// NodeStore is the nodes read model.
type NodeStore interface {
	Projection
	// Node returns the registered node with the id.
	Node(ctx context.Context, id string) (*ballastv1.Node, error)
	// Nodes returns at most limit nodes whose ids sort after after, in id
	// order, and the number of nodes in all.
	Nodes(ctx context.Context, after string, limit int) ([]*ballastv1.Node, int, error)
	// SetLoad records a node's latest load summary, from the load bucket:
	// loads are not history, so they are not part of the applied
	// sequences.
	SetLoad(ctx context.Context, s *ballastv1.NodeLoadSummarized) error
}

// LastSequencer tells the last sequence of a stream; *eventstore.Store is
// one.
type LastSequencer interface {
	LastSequence(ctx context.Context, stream string) (uint64, error)
}

// Sync waits until p has applied each of its streams up to the stream's last
// sequence as of the call. A read after Sync sees every append that
// finished before it began: that makes reads linearizable without replaying
// the log.
func Sync(ctx context.Context, log LastSequencer, p Projection) error {
	for _, stream := range p.Streams() {
		seq, err := log.LastSequence(ctx, stream)
		if err != nil {
			return err
		}
		if err := p.WaitApplied(ctx, stream, seq); err != nil {
			return fmt.Errorf("wait for %s sequence %d: %w", stream, seq, err)
		}
	}
	return nil
}
