package app

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"ballast.dev/platform/retry"
	"ballast.dev/services/placement/domain"
)

// ErrNoReplica: the volume has no replica where the move says.
var ErrNoReplica = errors.New("no such replica")

// ErrUnplaceable: no node can take the replica, or not the one asked for.
var ErrUnplaceable = errors.New("cannot be placed")

// ErrMoveRefused: the migration service refused a move placement had
// admitted.
var ErrMoveRefused = errors.New("move refused")

// MoveKind is why a move was made.
type MoveKind int

// Kinds of moves.
const (
	MoveUnspecified MoveKind = iota
	// MoveBalance: the rebalancer evens out utilisation.
	MoveBalance
	// MoveHotspot: the rebalancer sheds load off a node that is a hotspot.
	MoveHotspot
	// MoveCapacity: the rebalancer sheds a disk fuller than the ceiling.
	MoveCapacity
	// MoveDrain: the replica's node is draining.
	MoveDrain
	// MoveNodeDown: the replica's node is down; it is re-created from a
	// peer.
	MoveNodeDown
	// MoveOperator: an operator asked for it.
	MoveOperator
)

// String names the kind as an operator reads it.
func (k MoveKind) String() string {
	switch k {
	case MoveBalance:
		return "balance"
	case MoveHotspot:
		return "hotspot"
	case MoveCapacity:
		return "capacity"
	case MoveDrain:
		return "drain"
	case MoveNodeDown:
		return "node-down"
	case MoveOperator:
		return "operator"
	}
	return "unspecified"
}

// Move is one move of one replica as placement admitted it.
type Move struct {
	MigrationID string
	VolumeID    string
	VolumeName  string
	Source      Replica
	Target      Replica
	SizeBytes   uint64
	// Placements are the volume's whole reservation with the move
	// admitted (or, once settled, after it).
	Placements []domain.Placement
	Generation uint64
	Reason     string
	Kind       MoveKind
	// Gain is, for a move of the rebalancer, how much it cut the
	// planner's objective.
	Gain       float64
	SourceLost bool
	// CopyFrom is the healthy replica the copy comes from when the source
	// cannot serve.
	CopyFrom Replica
	// ToNode is the node the move was asked to go to; empty when placement
	// chose.
	ToNode string
	// Basis and Summary are what the target was chosen on and how the
	// alternatives fared (moveSummary), recorded with the move so that
	// explain can compute its table again.
	Basis   Basis
	Summary domain.Decision
}

// MoveJournal records moves in the volume's placement history.
type MoveJournal interface {
	// Admission finds a move admitted already in the volume's history.
	Admission(ctx context.Context, volumeID, migrationID string) (Move, bool, error)
	Admitted(ctx context.Context, cause string, expected uint64, m Move) (uint64, error)
	// Settled records that the move is over and released the replica
	// that no longer counts; placements is the reservation after it.
	Settled(ctx context.Context, cause string, expected uint64, m Move, completed bool, released Replica, placements []domain.Placement) (uint64, error)
}

// Migrations asks the migration service to carry a move out. What it
// returns is the service's view of the move, passed on to the caller.
type Migrations interface {
	Request(ctx context.Context, m Move) (any, error)
}

// Mover admits moves: it picks (or checks) the target against the volume's
// constraints and the cluster as it is, reserves it, and hands the move to
// the migration service; it settles them when they are over.
type Mover struct {
	Model      Model
	Journal    MoveJournal
	Migrations Migrations
}

// MoveReplica asks for one replica of a volume to move.
type MoveReplica struct {
	RequestID  string
	VolumeID   string
	VolumeName string
	Source     Replica
	// ToNode is the node asked for; empty lets placement choose.
	ToNode     string
	Tier       domain.Tier
	Spread     domain.SpreadLevel
	Generation uint64
	Reason     string
	Kind       MoveKind
	// Gain is what the rebalancer's plan said the move gains.
	Gain float64
	// SourceLost: the source's node is down; the copy comes from CopyFrom.
	SourceLost bool
	CopyFrom   Replica
}

// stableID derives an id from a request id, so that a request sent again
// admits the same move.
func stableID(prefix, requestID string) string {
	sum := sha256.Sum256([]byte(requestID))
	return prefix + strings.ToLower(base32.StdEncoding.EncodeToString(sum[:])[:20])
}

// Move handles MoveReplica.
func (mv Mover) Move(ctx context.Context, cmd MoveReplica) (any, error) {
	if cmd.VolumeID == "" || cmd.Source.ID == "" || cmd.Source.NodeID == "" {
		return nil, &ArgumentError{Field: "source", Reason: "names no volume, replica or node"}
	}
	id := stableID("m-", cmd.RequestID)
	if have, ok, err := mv.Journal.Admission(ctx, cmd.VolumeID, id); err != nil {
		return nil, err
	} else if ok {
		// The request sent again: the move it admitted.
		have.Generation, have.SourceLost, have.CopyFrom = cmd.Generation, cmd.SourceLost, cmd.CopyFrom
		return mv.Migrations.Request(ctx, have)
	}
	if err := mv.Model.CaughtUp(ctx); err != nil {
		return nil, err
	}
	var move Move
	err := retry.Do(ctx, retry.Conflict, func(attempt int) error {
		if attempt > 1 {
			if err := mv.Model.CaughtUp(ctx); err != nil {
				return retry.Permanent(err)
			}
		}
		var (
			expected uint64
			derr     error
		)
		mv.Model.View(func(c *domain.Cluster, at Position, last func(string) uint64) {
			expected = last(cmd.VolumeID)
			move, derr = admit(c, at, cmd)
		})
		if derr != nil {
			return retry.Permanent(derr)
		}
		seq, err := mv.Journal.Admitted(ctx, "move/"+cmd.RequestID, expected, move)
		if errors.Is(err, ErrStale) {
			return err
		}
		if err != nil {
			return retry.Permanent(err)
		}
		return retry.Permanent(mv.Model.Applied(ctx, seq))
	})
	if err != nil {
		return nil, err
	}
	if have, ok, err := mv.Journal.Admission(ctx, cmd.VolumeID, id); err == nil && ok {
		// An earlier attempt's append is what the log holds.
		move.Source, move.Target, move.Placements, move.SizeBytes = have.Source, have.Target, have.Placements, have.SizeBytes
	}
	out, err := mv.Migrations.Request(ctx, move)
	if errors.Is(err, ErrMoveRefused) {
		// Nothing will carry it out: its target is not held. (A move the
		// migration service could not be reached for keeps it: the request
		// sent again carries it out.)
		if serr := mv.Settle(ctx, "refused/"+cmd.RequestID, move, false); serr != nil {
			return nil, errors.Join(err, serr)
		}
	}
	return out, err
}

// admit decides a move on the cluster, which stands at position at: the
// target, the reservation with it, and what the choice was made on.
func admit(c *domain.Cluster, at Position, cmd MoveReplica) (Move, error) {
	res, src, err := sourceOf(c, cmd.VolumeID, cmd.VolumeName, cmd.Source.NodeID)
	if err != nil {
		return Move{}, err
	}
	source := res.Placements[src]
	if cmd.Source.DiskID == "" {
		cmd.Source.DiskID = source.DiskID
	}
	move := Move{
		MigrationID: stableID("m-", cmd.RequestID), VolumeID: cmd.VolumeID, VolumeName: cmd.VolumeName, SizeBytes: res.SizeBytes,
		Source: Replica{ID: cmd.Source.ID, Placement: source}, Generation: cmd.Generation, Reason: cmd.Reason,
		Kind: cmd.Kind, Gain: cmd.Gain, SourceLost: cmd.SourceLost, CopyFrom: cmd.CopyFrom, ToNode: cmd.ToNode,
	}
	req := domain.Request{VolumeID: cmd.VolumeID, SizeBytes: res.SizeBytes, Replicas: 1, Tier: cmd.Tier, Spread: cmd.Spread}
	d, err := placeMove(c, res, src, req)
	var target domain.Placement
	switch {
	case cmd.ToNode != "":
		i := slices.IndexFunc(d.Candidates, func(cs domain.CandidateScore) bool { return cs.NodeID == cmd.ToNode })
		switch {
		case i < 0:
			return Move{}, fmt.Errorf("node %q: %w", cmd.ToNode, ErrUnknownNode)
		case cmd.ToNode == cmd.Source.NodeID:
			return Move{}, &ArgumentError{Field: "to_node", Reason: "is the node the replica is on"}
		case !d.Candidates[i].Feasible:
			return Move{}, fmt.Errorf("volume %s cannot move to node %s: %s: %w", cmd.VolumeName, cmd.ToNode, d.Candidates[i].Reason, ErrUnplaceable)
		}
		target = domain.Placement{NodeID: cmd.ToNode, DiskID: d.Candidates[i].DiskID, Zone: d.Candidates[i].Zone}
	case err != nil:
		return Move{}, fmt.Errorf("volume %s: no node can take its replica from %s: %w: %w", cmd.VolumeName, cmd.Source.NodeID, ErrUnplaceable, err)
	default:
		target = d.Placements[0]
	}
	if target.NodeID == cmd.Source.NodeID {
		// The target joins beside the source until the cut-over, and a
		// volume has one replica per node.
		return Move{}, fmt.Errorf("volume %s: the only place for its replica from %s is another disk of the same node: %w", cmd.VolumeName, cmd.Source.NodeID, ErrUnplaceable)
	}
	move.Target = Replica{ID: stableID("r-", cmd.RequestID+"/target"), Placement: target}
	move.Placements = append(slices.Clone(res.Placements), target)
	move.Basis = Basis{Request: req, At: at, Overcommit: c.Overcommit()}
	move.Summary = moveSummary(d, target)
	return move, nil
}

// sourceOf finds the volume's replica on sourceNode: the volume's
// reservation and the replica's index in it.
func sourceOf(c *domain.Cluster, volumeID, volumeName, sourceNode string) (domain.Reservation, int, error) {
	res, ok := c.Reservation(volumeID)
	if !ok {
		return domain.Reservation{}, 0, fmt.Errorf("volume %s has no placement: %w", volumeName, ErrNotPlaced)
	}
	src := slices.IndexFunc(res.Placements, func(p domain.Placement) bool { return p.NodeID == sourceNode })
	if src < 0 {
		return domain.Reservation{}, 0, fmt.Errorf("volume %s has no replica on node %s: %w", volumeName, sourceNode, ErrNoReplica)
	}
	return res, src, nil
}

// placeMove runs the planner for the replica of res at index src moving
// away: one replica to place, the failure domains of the others taken,
// every candidate judged. Admitting a move and explaining it both run it.
func placeMove(c *domain.Cluster, res domain.Reservation, src int, req domain.Request, opts ...domain.PlaceOption) (domain.Decision, error) {
	others := slices.Delete(slices.Clone(res.Placements), src, src+1)
	return domain.Place(c, req, append([]domain.PlaceOption{domain.WithExistingReplicas(others...), domain.WithCandidates()}, opts...)...)
}

// moveSummary is what a move records of the choice of its target: the
// decision the planner reached for the one replica, without its table, the
// target marked chosen (an operator or the rebalancer may name a target the
// planner would not have picked) and its row kept among the best wherever
// it ranked.
func moveSummary(d domain.Decision, target domain.Placement) domain.Decision {
	s := domain.Decision{VolumeID: d.VolumeID, Placements: []domain.Placement{target}, Weights: d.Weights,
		Considered: d.Considered, Feasible: d.Feasible, Rejected: d.Rejected}
	found := false
	for _, c := range d.Best {
		c.Chosen = c.NodeID == target.NodeID
		found = found || c.Chosen
		s.Best = append(s.Best, c)
	}
	if i := slices.IndexFunc(d.Candidates, func(c domain.CandidateScore) bool { return c.NodeID == target.NodeID }); !found && i >= 0 {
		c := d.Candidates[i]
		c.Chosen = true
		s.Best = domain.Decision{Candidates: append(s.Best, c)}.Ranked()
	}
	return s
}

// Settle releases what a move that is over no longer holds: the source
// when it completed, the target when it rolled back. A move settled
// already changes nothing.
func (mv Mover) Settle(ctx context.Context, cause string, m Move, completed bool) error {
	return retry.Do(ctx, retry.Conflict, func(attempt int) error {
		if attempt > 1 {
			if err := mv.Model.CaughtUp(ctx); err != nil {
				return retry.Permanent(err)
			}
		}
		var (
			expected uint64
			after    []domain.Placement
			held     bool
		)
		released := m.Target
		if completed {
			released = m.Source
		}
		mv.Model.View(func(c *domain.Cluster, _ Position, last func(string) uint64) {
			expected = last(m.VolumeID)
			res, ok := c.Reservation(m.VolumeID)
			if !ok {
				return
			}
			i := slices.IndexFunc(res.Placements, func(p domain.Placement) bool {
				return p.NodeID == released.NodeID && p.DiskID == released.DiskID
			})
			if i < 0 {
				return
			}
			held, after = true, slices.Delete(slices.Clone(res.Placements), i, i+1)
		})
		if !held {
			return nil
		}
		seq, err := mv.Journal.Settled(ctx, cause, expected, m, completed, released, after)
		if errors.Is(err, ErrStale) {
			return err
		}
		if err != nil {
			return retry.Permanent(err)
		}
		return retry.Permanent(mv.Model.Applied(ctx, seq))
	})
}

// Held is a placed volume as placement holds it: its name, what it asked
// for and its replicas (with a move's target, while it moves).
type Held struct {
	VolumeID, Name string
	SizeBytes      uint64
	Replicas       int
	Tier           domain.Tier
	Spread         domain.SpreadLevel
	Set            []Replica
	// LastMoved is when a move of the volume last settled; zero when
	// none since the model was built.
	LastMoved time.Time
	// MovingFrom and MovingKind are the node and kind of the volume's move
	// under way, as its admission recorded them; empty when none is, or
	// when the model was loaded from a snapshot taken during the move.
	MovingFrom string
	MovingKind MoveKind
}

// Holdings lists the volumes placement holds on a node.
type Holdings interface {
	HeldOn(nodeID string) []Held
}
