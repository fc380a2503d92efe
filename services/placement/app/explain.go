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

// Decisions reads decisions from the placement log.
type Decisions interface {
	// Latest returns the volume incarnation's latest placement decision;
	// ErrNotPlaced when it has none.
	Latest(ctx context.Context, volumeID string) (RecordedDecision, error)
}

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

// NewExplainer returns an Explainer whose computations run under ctx.
func NewExplainer(ctx context.Context, d Decisions, r Replayer, opts ...ExplainerOption) *Explainer {
	x := &Explainer{
		decisions: d, replayer: r, ctx: ctx,
		cacheRows: DefaultCacheRows, computeTimeout: DefaultComputeTimeout,
		tables: make(map[tableKey]*tableEntry),
	}
	for _, o := range opts {
		o(x)
	}
	return x
}

// tableKey names a decision: a volume incarnation's decision at a sequence
// never changes, so neither does its table.
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
// decision.
func (x *Explainer) Handle(ctx context.Context, q ExplainPlacement) (Explanation, error) {
	size, err := pageSize(q.PageSize)
	if err != nil {
		return Explanation{}, err
	}
	rec, err := x.decisions.Latest(ctx, q.VolumeID)
	if err != nil {
		return Explanation{}, err
	}
	offset, err := decodePageToken(q.PageToken, rec.Sequence)
	if err != nil {
		return Explanation{}, err
	}
	t, err := x.table(ctx, rec)
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
	out := Explanation{Decision: rec, Source: t.source, Mismatch: t.mismatch, Page: t.rows[offset:end], Total: len(t.rows)}
	if end < len(t.rows) {
		out.NextPageToken = encodePageToken(rec.Sequence, end)
	}
	return out, nil
}

// table returns the decision's table, from the cache or computed once.
func (x *Explainer) table(ctx context.Context, rec RecordedDecision) (*table, error) {
	key := tableKey{rec.VolumeID, rec.Sequence}
	x.mu.Lock()
	e, ok := x.tables[key]
	if !ok {
		e = &tableEntry{ready: make(chan struct{})}
		x.tables[key] = e
		go x.fill(key, e, rec)
	}
	x.touch(key)
	x.mu.Unlock()
	select {
	case <-e.ready:
		return e.t, e.err
	case <-ctx.Done():
		return nil, fmt.Errorf("explain %s: %w", rec.VolumeID, ctx.Err())
	}
}

// fill computes one table and caches it; a failure is not cached.
func (x *Explainer) fill(key tableKey, e *tableEntry, rec RecordedDecision) {
	ctx, cancel := context.WithTimeout(x.ctx, x.computeTimeout)
	defer cancel()
	t, err := x.compute(ctx, rec)
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
