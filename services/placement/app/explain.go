package app

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"ballast.dev/services/placement/domain"
)

// Explaining a decision: its event records only a summary (the choice, the
// best few candidates, rejections counted by reason) and its basis (the
// request, the model's position in the log, the overcommit, the weights).
// The full per-candidate table is recomputed from the log: the model rebuilt
// as it stood at the decision, and the planner run again on the recorded
// request. Decisions recorded before summaries carry their table.

// ErrNotPlaced: the volume has no placement decision, because no such
// volume was ever asked for or placement has not decided on it yet.
var ErrNotPlaced = errors.New("no placement decision")

// ArgumentError is a query argument that can never succeed as given.
type ArgumentError struct{ Field, Reason string }

func (e *ArgumentError) Error() string { return e.Field + ": " + e.Reason }

// Decisions reads a volume incarnation's history from the log.
type Decisions interface {
	// Latest returns the volume incarnation's latest placement decision;
	// ErrNotPlaced when it has none.
	Latest(ctx context.Context, volumeID string) (RecordedDecision, error)
	// Moves returns the moves placement admitted of the incarnation,
	// oldest first.
	Moves(ctx context.Context, volumeID string) ([]RecordedMove, error)
	// ReplicaSet returns the changes of the incarnation's replica set as
	// the volume's log records them, oldest first. name is the volume's
	// name, which keys that log.
	ReplicaSet(ctx context.Context, volumeID, name string) ([]SetChange, error)
}

// TooEarlyError: the time asked for comes before the volume existed, or
// before it was placed. It matches ErrNotPlaced.
type TooEarlyError struct {
	Volume string
	At     time.Time
	// Requested is when the volume was asked for (zero when the log does
	// not say); Decided when placement decided on it.
	Requested, Decided time.Time
}

func (e *TooEarlyError) Error() string {
	at := e.At.UTC().Format(time.RFC3339Nano)
	if e.Requested.IsZero() || e.Requested.After(e.At) {
		msg := fmt.Sprintf("volume %s did not exist at %s", e.Volume, at)
		if !e.Requested.IsZero() {
			msg += "; it was created at " + e.Requested.UTC().Format(time.RFC3339Nano)
		} else {
			msg += "; it was placed at " + e.Decided.UTC().Format(time.RFC3339Nano)
		}
		return msg
	}
	return fmt.Sprintf("volume %s was not placed yet at %s; it was created at %s and placed at %s", e.Volume, at,
		e.Requested.UTC().Format(time.RFC3339Nano), e.Decided.UTC().Format(time.RFC3339Nano))
}

// Is makes errors.Is(err, ErrNotPlaced) hold.
func (e *TooEarlyError) Is(target error) bool { return target == ErrNotPlaced }

// Replayer rebuilds the cluster model from the log.
type Replayer interface {
	// ClusterAt returns the cluster as the model had it at a position.
	ClusterAt(ctx context.Context, at Position, overcommit float64) (*domain.Cluster, error)
}

// Replica is a placed replica of a recorded decision.
type Replica struct {
	ID string
	domain.Placement
}

// RecordedDecision is a placement decision as its event holds it.
type RecordedDecision struct {
	VolumeID, VolumeName string
	// Sequence is the decision's sequence in the placement stream; Time is
	// when it was taken.
	Sequence uint64
	Time     time.Time
	// Failed says placement could not place the volume; FailureReason
	// says why. Replicas are where the replicas went otherwise.
	Failed        bool
	FailureReason string
	Replicas      []Replica
	// Summarized says the event recorded a basis and a summary: Decision
	// has the placements, weights, Considered, Feasible, Best and Rejected.
	// An event recorded before summaries has neither; Decision.Candidates
	// then holds every node, as it recorded them.
	Summarized bool
	Basis      Basis
	Decision   domain.Decision
}

// TableSource says where an explanation's table came from.
type TableSource int

// Table sources.
const (
	// TableRecomputed: recomputed on the model rebuilt from the log.
	TableRecomputed TableSource = iota + 1
	// TableRecorded: read from an event that recorded every candidate.
	TableRecorded
)

// ExplainPlacement asks for one page of a volume's explanation.
type ExplainPlacement struct {
	VolumeID string
	// At is the time the replica set is explained as of: only events up
	// to it count. Zero means now; a time in the future is refused.
	At time.Time
	// PageSize is at most how many rows; 0 means DefaultPageSize, more
	// than MaxPageSize is cut to it.
	PageSize  int
	PageToken string
}

// Explanation is one page of a decision's explanation.
type Explanation struct {
	Decision RecordedDecision
	Source   TableSource
	// Mismatch is, for a recomputed table, how the decision the planner
	// reaches now differs from the recorded one; empty when it reproduced
	// it.
	Mismatch string
	// Page holds rows of the table in the order domain.Decision.Ranked
	// gives them; Total is the rows of the whole table.
	Page          []domain.CandidateScore
	Total         int
	NextPageToken string
	// At is the time the replica set is explained as of.
	At time.Time
	// Origins says, on the first page (a query without a page token), why
	// each replica the volume had at At is where it is.
	Origins []Origin
	// Deleted is when the volume was deleted, if it was by At.
	Deleted time.Time
}

// Paging and caching limits.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
	// MaxPageBytes bounds the rows of one page, encoded, well inside NATS's
	// 1 MiB payload whatever the reasons say.
	MaxPageBytes = 512 << 10
	// DefaultCacheRows bounds the rows of the tables kept for paging:
	// about four tables of a 50,000-node fleet.
	DefaultCacheRows = 200_000
	// DefaultComputeTimeout bounds one recomputation.
	DefaultComputeTimeout = 2 * time.Minute
	// MaxClockSkew is how far in the future a time asked for may be: the
	// caller's clock and this one need not agree exactly. Such a time
	// is taken as now.
	MaxClockSkew = time.Minute
)

// Explainer answers ExplainPlacement. It keeps recently computed tables,
// so that paging through one computes it once, and computes a table once
// however many requests ask for it at the same time: a caller that gives up
// (a command resent after a slow first attempt) finds the computation still
// going when it asks again.
type Explainer struct {
	decisions Decisions
	replayer  Replayer
	// ctx bounds the computations, which outlive the requests that start
	// them; it ends with the service.
	ctx context.Context
	// cacheRows and computeTimeout default to DefaultCacheRows and
	// DefaultComputeTimeout.
	cacheRows      int
	computeTimeout time.Duration
	now            func() time.Time

	mu     sync.Mutex
	tables map[tableKey]*tableEntry
	// recent orders the keys of tables, most recently used last.
	recent []tableKey
	rows   int
}

// ExplainerOption tunes an Explainer.
type ExplainerOption func(*Explainer)

// WithCacheRows bounds the rows of the tables kept for paging. The table of
// the latest request is kept whatever its size.
func WithCacheRows(n int) ExplainerOption { return func(x *Explainer) { x.cacheRows = n } }

// WithClock sets what now is (time.Now by default).
func WithClock(now func() time.Time) ExplainerOption { return func(x *Explainer) { x.now = now } }

// NewExplainer returns an Explainer whose computations run under ctx.
func NewExplainer(ctx context.Context, d Decisions, r Replayer, opts ...ExplainerOption) *Explainer {
	x := &Explainer{
		decisions: d, replayer: r, ctx: ctx,
		cacheRows: DefaultCacheRows, computeTimeout: DefaultComputeTimeout, now: time.Now,
		tables: make(map[tableKey]*tableEntry),
	}
	for _, o := range opts {
		o(x)
	}
	return x
}

// tableKey names a decision or a move: a volume incarnation's event at a
// sequence never changes, so neither does its table.
type tableKey struct {
	volumeID string
	sequence uint64
}

type table struct {
	rows     []domain.CandidateScore
	source   TableSource
	mismatch string
}

type tableEntry struct {
	ready chan struct{} // closed once t or err is set
	t     *table
	err   error
}

// Handle returns one page of the explanation of the volume's latest
// decision and, on the first page, the origin of each replica it had at
// the time asked.
func (x *Explainer) Handle(ctx context.Context, q ExplainPlacement) (Explanation, error) {
	size, err := pageSize(q.PageSize)
	if err != nil {
		return Explanation{}, err
	}
	now, at := x.now(), q.At
	switch {
	case at.IsZero():
		at = now
	case at.After(now.Add(MaxClockSkew)):
		return Explanation{}, &ArgumentError{Field: "at", Reason: fmt.Sprintf("%s is in the future (now is %s)",
			at.UTC().Format(time.RFC3339Nano), now.UTC().Format(time.RFC3339))}
	case at.After(now):
		at = now
	}
	rec, err := x.decisions.Latest(ctx, q.VolumeID)
	if err != nil {
		return Explanation{}, err
	}
	if rec.Time.After(at) {
		return Explanation{}, x.tooEarly(ctx, rec, at)
	}
	offset, err := decodePageToken(q.PageToken, rec.Sequence)
	if err != nil {
		return Explanation{}, err
	}
	t, err := x.table(ctx, tableKey{rec.VolumeID, rec.Sequence}, func(ctx context.Context) (*table, error) { return x.compute(ctx, rec) })
	if err != nil {
		return Explanation{}, err
	}
	if offset > len(t.rows) {
		return Explanation{}, &ArgumentError{Field: "page_token", Reason: "page_token is past the end of the table"}
	}
	end, bytes := offset, 0
	for end < len(t.rows) && end-offset < size {
		bytes += RowSize(t.rows[end])
		if bytes > MaxPageBytes && end > offset {
			break
		}
		end++
	}
	out := Explanation{Decision: rec, Source: t.source, Mismatch: t.mismatch, Page: t.rows[offset:end], Total: len(t.rows), At: at}
	if end < len(t.rows) {
		out.NextPageToken = encodePageToken(rec.Sequence, end)
	}
	if q.PageToken == "" {
		if out.Origins, out.Deleted, err = x.origins(ctx, rec, at); err != nil {
			return Explanation{}, err
		}
	}
	return out, nil
}

// tooEarly says why a volume placed after at cannot be explained at at:
// it did not exist yet, or was not placed yet.
func (x *Explainer) tooEarly(ctx context.Context, rec RecordedDecision, at time.Time) error {
	e := &TooEarlyError{Volume: rec.VolumeName, At: at, Decided: rec.Time}
	if e.Volume == "" {
		e.Volume = rec.VolumeID
	}
	changes, err := x.decisions.ReplicaSet(ctx, rec.VolumeID, rec.VolumeName)
	if err != nil {
		return err
	}
	e.Requested = replicaSetAt(changes, rec.Time).Requested
	return e
}

// origins explains each replica the volume had at at, and says when it
// was deleted if it was by then. A volume whose log has no replica set
// recorded by then (placement decided, the volume service has not taken
// it in yet) has the decision's replicas.
func (x *Explainer) origins(ctx context.Context, rec RecordedDecision, at time.Time) ([]Origin, time.Time, error) {
	changes, err := x.decisions.ReplicaSet(ctx, rec.VolumeID, rec.VolumeName)
	if err != nil {
		return nil, time.Time{}, err
	}
	set := replicaSetAt(changes, at)
	if !set.Recorded && set.Deleted.IsZero() {
		for _, r := range rec.Replicas {
			set.Replicas = append(set.Replicas, SetReplica{Replica: r})
		}
	}
	all, err := x.decisions.Moves(ctx, rec.VolumeID)
	if err != nil {
		return nil, time.Time{}, err
	}
	var moves []RecordedMove
	for _, m := range all {
		if !m.Time.After(at) {
			moves = append(moves, m)
		}
	}
	out := originsOf(rec, moves, set.Replicas)
	for i := range out {
		o := &out[i]
		if o.Kind != OriginMove || !o.Move.Summarized {
			continue
		}
		m := o.Move
		t, err := x.table(ctx, tableKey{m.VolumeID, m.Sequence}, func(ctx context.Context) (*table, error) { return x.computeMove(ctx, m) })
		if err != nil {
			return nil, time.Time{}, err
		}
		o.Source, o.Mismatch, o.Total = t.source, t.mismatch, len(t.rows)
		o.Rows, o.TargetRank = moveRows(t.rows)
	}
	return out, set.Deleted, nil
}

// table returns the table of the event key names, from the cache or
// computed once.
func (x *Explainer) table(ctx context.Context, key tableKey, compute func(context.Context) (*table, error)) (*table, error) {
	x.mu.Lock()
	e, ok := x.tables[key]
	if !ok {
		e = &tableEntry{ready: make(chan struct{})}
		x.tables[key] = e
		go x.fill(key, e, compute)
	}
	x.touch(key)
	x.mu.Unlock()
	select {
	case <-e.ready:
		return e.t, e.err
	case <-ctx.Done():
		return nil, fmt.Errorf("explain %s: %w", key.volumeID, ctx.Err())
	}
}

// fill computes one table and caches it; a failure is not cached.
func (x *Explainer) fill(key tableKey, e *tableEntry, compute func(context.Context) (*table, error)) {
	ctx, cancel := context.WithTimeout(x.ctx, x.computeTimeout)
	defer cancel()
	t, err := compute(ctx)
	x.mu.Lock()
	defer x.mu.Unlock()
	e.t, e.err = t, err
	close(e.ready)
	if err != nil {
		x.forget(key)
		return
	}
	x.rows += len(t.rows)
	// Evict the least recently used tables, never the one just made.
	for x.rows > x.cacheRows && len(x.recent) > 1 {
		i := slices.IndexFunc(x.recent, func(k tableKey) bool {
			old := x.tables[k]
			return k != key && old.t != nil
		})
		if i < 0 {
			break
		}
		x.forget(x.recent[i])
	}
}

// touch marks key as the most recently used; x.mu is held.
func (x *Explainer) touch(key tableKey) {
	if i := slices.Index(x.recent, key); i >= 0 {
		x.recent = slices.Delete(x.recent, i, i+1)
	}
	x.recent = append(x.recent, key)
}

// forget drops a table; x.mu is held.
func (x *Explainer) forget(key tableKey) {
	if e, ok := x.tables[key]; ok && e.t != nil {
		x.rows -= len(e.t.rows)
	}
	delete(x.tables, key)
	if i := slices.Index(x.recent, key); i >= 0 {
		x.recent = slices.Delete(x.recent, i, i+1)
	}
}

// compute makes the table of a decision: recorded in its event, or
// recomputed on the model rebuilt at its position.
func (x *Explainer) compute(ctx context.Context, rec RecordedDecision) (*table, error) {
	if !rec.Summarized {
		return &table{rows: rec.Decision.Ranked(), source: TableRecorded}, nil
	}
	c, err := x.replayer.ClusterAt(ctx, rec.Basis.At, rec.Basis.Overcommit)
	if err != nil {
		return nil, fmt.Errorf("explain %s: %w", rec.VolumeID, err)
	}
	opts := []domain.PlaceOption{domain.WithCandidates()}
	for _, w := range rec.Decision.Weights {
		opts = append(opts, domain.WithScoreWeight(w.Name, w.Weight))
	}
	// Place fails only for a request it refuses or cannot hold: either is
	// an outcome to compare with the record, not an error of explain.
	d, err := domain.Place(c, rec.Basis.Request, opts...)
	return &table{rows: d.Ranked(), source: TableRecomputed, mismatch: mismatch(rec, d, err)}, nil
}

// computeMove makes the table of a move: the planner run again for the
// moving replica on the model rebuilt at the move's position, the target
// marked chosen.
func (x *Explainer) computeMove(ctx context.Context, m RecordedMove) (*table, error) {
	c, err := x.replayer.ClusterAt(ctx, m.Basis.At, m.Basis.Overcommit)
	if err != nil {
		return nil, fmt.Errorf("explain move %s of %s: %w", m.MigrationID, m.VolumeID, err)
	}
	res, src, err := sourceOf(c, m.VolumeID, m.VolumeName, m.Source.NodeID)
	if err != nil {
		return &table{source: TableRecomputed, mismatch: "the model rebuilt at the move's position: " + err.Error()}, nil
	}
	var opts []domain.PlaceOption
	for _, w := range m.Summary.Weights {
		opts = append(opts, domain.WithScoreWeight(w.Name, w.Weight))
	}
	// As for a decision, a failure is an outcome to compare with the
	// record.
	d, err := placeMove(c, res, src, m.Basis.Request, opts...)
	rows := d.Ranked()
	markTarget(rows, m.Target.Placement)
	return &table{rows: rows, source: TableRecomputed, mismatch: moveMismatch(m, d, err)}, nil
}

// mismatch says how a recomputed decision differs from the recorded one,
// or "" when it is the same: the same outcome, placements, counts and best
// candidates with the same scores.
func mismatch(rec RecordedDecision, d domain.Decision, err error) string {
	r := rec.Decision
	switch {
	case rec.Failed && err == nil:
		return "recorded as failed, but the planner now places it on " + placementList(d.Placements)
	case !rec.Failed && err != nil:
		return "recorded as placed, but the planner now fails: " + err.Error()
	case !slices.Equal(r.Placements, d.Placements):
		return fmt.Sprintf("recorded placements %s, the planner now chooses %s", placementList(r.Placements), placementList(d.Placements))
	}
	return summaryMismatch(r, d)
}

// summaryMismatch compares what a record keeps of a decision beside its
// placements: the counts, the rejections and the best candidates.
func summaryMismatch(r, d domain.Decision) string {
	switch {
	case r.Considered != d.Considered || r.Feasible != d.Feasible:
		return fmt.Sprintf("recorded %d nodes considered and %d feasible, recomputed %d and %d", r.Considered, r.Feasible, d.Considered, d.Feasible)
	case !slices.Equal(r.Rejected, d.Rejected):
		return fmt.Sprintf("recorded rejections %v, recomputed %v", r.Rejected, d.Rejected)
	}
	if len(r.Best) != len(d.Best) {
		return fmt.Sprintf("recorded %d best candidates, recomputed %d", len(r.Best), len(d.Best))
	}
	for i := range r.Best {
		if !sameRow(r.Best[i], d.Best[i]) {
			return fmt.Sprintf("best candidate %d: recorded %s (total %v), recomputed %s (total %v)",
				i+1, r.Best[i].NodeID, r.Best[i].Total, d.Best[i].NodeID, d.Best[i].Total)
		}
	}
	return ""
}

// sameRow compares what a record keeps of a row.
func sameRow(a, b domain.CandidateScore) bool {
	if a.NodeID != b.NodeID || a.DiskID != b.DiskID || a.Total != b.Total || a.Chosen != b.Chosen || len(a.Scores) != len(b.Scores) {
		return false
	}
	for i := range a.Scores {
		if a.Scores[i].Name != b.Scores[i].Name || a.Scores[i].Score != b.Scores[i].Score {
			return false
		}
	}
	return true
}

func placementList(ps []domain.Placement) string {
	if len(ps) == 0 {
		return "nothing"
	}
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.NodeID + "/" + p.DiskID
	}
	return strings.Join(parts, ", ")
}

// RowSize bounds the encoded size of a row in a reply: its strings, its
// scores, and what the encoding adds per field.
func RowSize(c domain.CandidateScore) int {
	return len(c.NodeID) + len(c.Zone) + len(c.DiskID) + len(c.Reason) + 9*len(c.Scores) + 64
}

func pageSize(n int) (int, error) {
	switch {
	case n < 0:
		return 0, &ArgumentError{Field: "page_size", Reason: "page_size must not be negative"}
	case n == 0:
		return DefaultPageSize, nil
	}
	return min(n, MaxPageSize), nil
}

// A page token is the decision's sequence and the offset of the next row,
// base64-encoded so that callers treat it as opaque. The table of a decision
// never changes, so an offset stays valid; the sequence ties the token to
// its decision.
func encodePageToken(sequence uint64, offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatUint(sequence, 10) + ":" + strconv.Itoa(offset)))
}

func decodePageToken(token string, sequence uint64) (int, error) {
	if token == "" {
		return 0, nil
	}
	bad := &ArgumentError{Field: "page_token", Reason: "page_token is not valid"}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return 0, bad
	}
	seqText, offText, ok := strings.Cut(string(raw), ":")
	seq, err1 := strconv.ParseUint(seqText, 10, 64)
	off, err2 := strconv.Atoi(offText)
	if !ok || err1 != nil || err2 != nil || off < 0 {
		return 0, bad
	}
	if seq != sequence {
		return 0, &ArgumentError{Field: "page_token", Reason: "page_token belongs to another decision"}
	}
	return off, nil
}
