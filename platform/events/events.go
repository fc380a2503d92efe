// Package events is the layout of Ballast's event log: which streams exist,
// how aggregate subjects are named, and how protobuf events become stored
// events and back. Every service uses it, so the layout is defined once.
package events

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/nats-io/nats.go/jetstream"

	"ballast.dev/platform/eventstore"
	"ballast.dev/platform/snapshot"
)

// An aggregate kind: its stream and the root of its subjects.
type Aggregate struct {
	// Kind is the subject token after ballast.evt, e.g. "volume".
	Kind string
	// Stream is the JetStream stream that holds the kind's histories.
	Stream string
	// KeyField is the payload field that names the aggregate, as the last
	// token of its subject does: an event whose payload names another
	// aggregate than its subject is refused.
	KeyField string
}

// The aggregates of the event log. Each service owns the histories of its
// kind; anyone may read them.
var (
	Volume    = Aggregate{Kind: "volume", Stream: "BALLAST_VOLUME", KeyField: "volume_name"}
	Placement = Aggregate{Kind: "placement", Stream: "BALLAST_PLACEMENT", KeyField: "volume_id"}
	Node      = Aggregate{Kind: "node", Stream: "BALLAST_NODE", KeyField: "node_id"}
	Migration = Aggregate{Kind: "migration", Stream: "BALLAST_MIGRATION", KeyField: "migration_id"}
	Metrics   = Aggregate{Kind: "metrics", Stream: "BALLAST_METRICS", KeyField: "node_id"}
	// NodeState is placement's record of each node's state (cordoned,
	// draining, down, ...). It shares placement's stream, so that the
	// cluster model, built from that stream and the node stream, has one
	// position in each whatever it applies.
	NodeState = Aggregate{Kind: "nodestate", Stream: "BALLAST_PLACEMENT", KeyField: "node_id"}
	// MigrationQueue is the migration service's admissions: one history
	// per queue, in the migration stream, so that admissions by any
	// instance are serialized by its expected sequence.
	MigrationQueue = Aggregate{Kind: "migrationqueue", Stream: "BALLAST_MIGRATION", KeyField: "queue"}
)

// All lists every aggregate kind.
var All = []Aggregate{Volume, Placement, Node, Migration, Metrics, NodeState, MigrationQueue}

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

// EnsureStreams declares every stream of the log: the aggregates'
// histories, raw telemetry, dead letters and the latest load per node, each
// with replicas copies. Every
// process calls it at start: it is idempotent, a consumer of another
// service's stream must not wait for that service to come up first, and it
// never lowers the replica count of a stream that has more (an operator's R3
// log stays R3 whatever a process is started with).
func EnsureStreams(ctx context.Context, store *eventstore.Store, replicas int) error {
	var streams []eventstore.StreamConfig
	for _, a := range All {
		i := slices.IndexFunc(streams, func(s eventstore.StreamConfig) bool { return s.Name == a.Stream })
		if i < 0 {
			streams = append(streams, eventstore.StreamConfig{Name: a.Stream, Replicas: replicas, Description: "Ballast " + a.Kind + " histories"})
			i = len(streams) - 1
		} else {
			streams[i].Description += ", " + a.Kind + " histories"
		}
		streams[i].Subjects = append(streams[i].Subjects, a.Filter())
	}
	for _, cfg := range streams {
		if err := store.EnsureStream(ctx, cfg); err != nil {
			return err
		}
	}
	if err := store.DeclareStream(ctx, telemetryStreamConfig(replicas)); err != nil {
		return err
	}
	if err := store.DeclareStream(ctx, deadLetterStreamConfig(replicas)); err != nil {
		return err
	}
	if err := declareKV(ctx, store.JetStream(), loadBucketConfig(replicas)); err != nil {
		return err
	}
	return declareObjectStore(ctx, store.JetStream(), snapshot.BucketConfig(replicas))
}

// Dead letters: an event a service could not handle, with the reason, on
// DeadLetterSubject(service) in DeadLetterStream. They are kept until an
// operator replays or discards them.
const (
	DeadLetterStream = "BALLAST_DEADLETTER"
	deadLetterRoot   = "ballast.dlq"
)

// DeadLetterSubject is where a service's dead letters go.
func DeadLetterSubject(service string) string { return deadLetterRoot + "." + service }

func deadLetterStreamConfig(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        DeadLetterStream,
		Description: "Ballast events that could not be handled, with the reason",
		Subjects:    []string{deadLetterRoot + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
		Duplicates:  eventstore.DuplicateWindow,
		AllowDirect: true,
	}
}

// ErrUnknownType: the event's type is not in this build's contract, as when
// a newer version appended it during a rolling upgrade. Readers skip and
// count such events; they are never fatal.
var ErrUnknownType = errors.New("unknown event type")

// ErrSubjectMismatch: the payload names another aggregate than the subject
// it was appended to. No reader applies such an event.
var ErrSubjectMismatch = errors.New("payload does not match its subject")

// CheckSubject verifies that m, read from subject, names the aggregate the
// subject names (for telemetry, the node). Subjects outside the log's
// aggregates are not checked.
func CheckSubject(subject string, m proto.Message) error {
	field, id := "", ""
	if node, ok := strings.CutPrefix(subject, telemetryRoot); ok {
		field, id = "node_id", node
	} else if rest, ok := strings.CutPrefix(subject, "ballast.evt."); ok {
		kind, key, _ := strings.Cut(rest, ".")
		a, ok := ByKind(kind)
		if !ok {
			return nil
		}
		field, id = a.KeyField, key
	} else {
		return nil
	}
	r := m.ProtoReflect()
	fd := r.Descriptor().Fields().ByName(protoreflect.Name(field))
	if fd == nil || fd.Kind() != protoreflect.StringKind || fd.IsList() {
		return fmt.Errorf("%w: %s on %s has no %s", ErrSubjectMismatch, TypeOf(m), subject, field)
	}
	if got := r.Get(fd).String(); got != id {
		return fmt.Errorf("%w: %s on %s has %s %q", ErrSubjectMismatch, TypeOf(m), subject, field, got)
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

// Known reports whether typ is an event type of this build's contract.
func Known(typ string) bool {
	_, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(typ))
	return err == nil
}

// Decode turns a stored event back into its protobuf message. The message
// type must be linked into the binary (import the contract package).
func Decode(typ string, data []byte) (proto.Message, error) {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(typ))
	if err != nil {
		return nil, fmt.Errorf("decode event: %w %q", ErrUnknownType, typ)
	}
	m := mt.New().Interface()
	if err := proto.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("decode %s: %w", typ, err)
	}
	return m, nil
}

// Now is the time stamped on new events; tests may replace it.
var Now = func() time.Time { return time.Now().UTC() }

// Read decodes a stored event and checks its payload against its subject:
// the way every reader of the log reads an event. Its errors match
// ErrUnknownType or ErrSubjectMismatch when the event is to be passed over
// (see Skip), and are otherwise a payload that cannot be decoded.
func Read(subject, typ string, data []byte) (proto.Message, error) {
	m, err := Decode(typ, data)
	if err != nil {
		return nil, err
	}
	if err := CheckSubject(subject, m); err != nil {
		return nil, err
	}
	return m, nil
}

// skipped counts, per reason and type, the events readers passed over.
var skipped sync.Map // string → *atomic.Uint64

// Skip reports whether err (from Read) means the event is to be passed
// over, an unknown type or a payload that disagrees with its subject, and if
// so counts it.
func Skip(err error, typ string) bool {
	var reason string
	switch {
	case errors.Is(err, ErrUnknownType):
		reason = "unknown type"
	case errors.Is(err, ErrSubjectMismatch):
		reason = "subject mismatch"
	default:
		return false
	}
	key := reason + ": " + typ
	n, ok := skipped.Load(key)
	if !ok {
		n, _ = skipped.LoadOrStore(key, new(atomic.Uint64))
	}
	n.(*atomic.Uint64).Add(1)
	return true
}

// SkippedCounts returns how many events readers passed over, by reason and
// type, e.g. "unknown type: ballast.v2.VolumeTeleported".
func SkippedCounts() map[string]uint64 {
	out := map[string]uint64{}
	skipped.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Uint64).Load()
		return true
	})
	return out
}
