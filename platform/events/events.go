// Package events is the layout of Ballast's event log: which streams exist,
// how aggregate subjects are named, and how protobuf events become stored
// events and back. Every service uses it, so the layout is defined once.
package events

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"ballast.dev/platform/eventstore"
)

// An aggregate kind: its stream and the root of its subjects.
type Aggregate struct {
	// Kind is the subject token after ballast.evt, e.g. "volume".
	Kind string
	// Stream is the JetStream stream that holds the kind's histories.
	Stream string
}

// The aggregates of the event log. Each service owns the histories of its
// kind; anyone may read them.
var (
	Volume    = Aggregate{Kind: "volume", Stream: "BALLAST_VOLUME"}
	Placement = Aggregate{Kind: "placement", Stream: "BALLAST_PLACEMENT"}
	Node      = Aggregate{Kind: "node", Stream: "BALLAST_NODE"}
	Migration = Aggregate{Kind: "migration", Stream: "BALLAST_MIGRATION"}
	Metrics   = Aggregate{Kind: "metrics", Stream: "BALLAST_METRICS"}
)

// All lists every aggregate kind.
var All = []Aggregate{Volume, Placement, Node, Migration, Metrics}

// ByKind finds an aggregate by its kind.
func ByKind(kind string) (Aggregate, bool) {
	for _, a := range All {
		if a.Kind == kind {
			return a, true
		}
	}
	return Aggregate{}, false
}

// Subject is the subject of one aggregate's history.
func (a Aggregate) Subject(id string) string { return "ballast.evt." + a.Kind + "." + id }

// Filter matches every history of the kind.
func (a Aggregate) Filter() string { return "ballast.evt." + a.Kind + ".>" }

// ID is the aggregate id in a subject of this kind.
func (a Aggregate) ID(subject string) string {
	return subject[len("ballast.evt."+a.Kind+"."):]
}

// EnsureStreams creates or updates the streams of every aggregate kind. Every
// process calls it at start: it is idempotent, and a consumer of another
// service's stream must not wait for that service to come up first.
func EnsureStreams(ctx context.Context, store *eventstore.Store, replicas int) error {
	for _, a := range All {
		err := store.EnsureStream(ctx, eventstore.StreamConfig{
			Name:        a.Stream,
			Subjects:    []string{a.Filter()},
			Replicas:    replicas,
			Description: "Ballast " + a.Kind + " histories",
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Encode makes a stored event of a protobuf message. id is the event's
// deduplication id: derive it from the command or the event that caused it.
func Encode(id string, m proto.Message) (eventstore.Event, error) {
	data, err := proto.Marshal(m)
	if err != nil {
		return eventstore.Event{}, fmt.Errorf("encode %s: %w", TypeOf(m), err)
	}
	return eventstore.Event{Type: TypeOf(m), Data: data, ID: id}, nil
}

// TypeOf is the event type name of a message: its full protobuf name.
func TypeOf(m proto.Message) string { return string(m.ProtoReflect().Descriptor().FullName()) }

// Decode turns a stored event back into its protobuf message. The message
// type must be linked into the binary (import the contract package).
func Decode(typ string, data []byte) (proto.Message, error) {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(typ))
	if err != nil {
		return nil, fmt.Errorf("decode event: unknown type %q: %w", typ, err)
	}
	m := mt.New().Interface()
	if err := proto.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("decode %s: %w", typ, err)
	}
	return m, nil
}

// Now is the time stamped on new events; tests may replace it.
var Now = func() time.Time { return time.Now().UTC() }
