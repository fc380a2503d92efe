package app

import (
	"fmt"
	"slices"
	"time"

	"ballast.dev/services/placement/domain"
)

// Why each replica is where it is: the volume's log says which replicas the
// volume had at a time (its replica set, changed by placements, moves and
// losses), and the placement log says which event put each one there: the
// volume's decision, or a move whose target it is. Both are folded up to
// the time asked, so the answer is the log's as of then, not the live
// state's.

// ReplicaRole is what a replica was to the volume's replica set. The
// values are the contract's (ballast.v1.ReplicaRole).
type ReplicaRole int

// Replica roles.
const (
	// RoleUnspecified: a replica of a history written before roles, or of
	// a set the volume's log has not recorded yet.
	RoleUnspecified ReplicaRole = iota
	RoleHealthy
	RoleRebuilding
	RoleLeaving
	RoleLost
)

// SetReplica is a replica of the volume's replica set.
type SetReplica struct {
	Replica
	Role ReplicaRole
}

// SetChangeKind is what an event of the volume's log did to its replica
// set.
type SetChangeKind int

// Kinds of changes.
const (
	// SetRequested: the incarnation began.
	SetRequested SetChangeKind = iota + 1
	// SetAssigned: Replicas are the whole set, as placed.
	SetAssigned
	// SetAdded: Replicas[0] joined, rebuilding.
	SetAdded
	// SetPromoted: ReplicaID became healthy; RetiredID, if set, leaves.
	SetPromoted
	// SetRetired: ReplicaID leaves.
	SetRetired
	// SetLost: ReplicaID can no longer serve.
	SetLost
	// SetRemoved: ReplicaID is gone.
	SetRemoved
	// SetDeleted: the incarnation is gone, and every replica with it.
	SetDeleted
	// SetRepaired: Replicas are the whole set, as a repair states it.
	SetRepaired
)

// SetChange is one event of the volume's log as it changed the replica
// set of one incarnation.
type SetChange struct {
	Kind SetChangeKind
	// Time is the event's.
	Time                 time.Time
	Replicas             []SetReplica
	ReplicaID, RetiredID string
}

// setAt is the replica set at a time.
type setAt struct {
	Replicas []SetReplica
	// Requested is when the incarnation began; zero when the volume's log
	// does not say.
	Requested time.Time
	// Recorded says the volume's log had recorded a set by then.
	Recorded bool
	// Deleted is when the incarnation was deleted; zero when not by then.
	Deleted time.Time
}

// replicaSetAt folds the changes that happened up to at (in log order).
func replicaSetAt(changes []SetChange, at time.Time) setAt {
	var s setAt
	find := func(id string) int {
		return slices.IndexFunc(s.Replicas, func(r SetReplica) bool { return r.ID == id })
	}
	role := func(id string, r ReplicaRole) {
		if i := find(id); i >= 0 {
			s.Replicas[i].Role = r
		}
	}
	for _, c := range changes {
		if c.Time.After(at) {
			break
		}
		switch c.Kind {
		case SetRequested:
			if s.Requested.IsZero() {
				s.Requested = c.Time
			}
		case SetAssigned, SetRepaired:
			s.Replicas, s.Recorded = slices.Clone(c.Replicas), true
		case SetAdded:
			for _, r := range c.Replicas {
				if i := find(r.ID); i >= 0 {
					s.Replicas = slices.Delete(s.Replicas, i, i+1)
				}
				r.Role = RoleRebuilding
				s.Replicas = append(s.Replicas, r)
			}
		case SetPromoted:
			role(c.ReplicaID, RoleHealthy)
			if c.RetiredID != "" {
				role(c.RetiredID, RoleLeaving)
			}
		case SetRetired:
			role(c.ReplicaID, RoleLeaving)
		case SetLost:
			role(c.ReplicaID, RoleLost)
		case SetRemoved:
			if i := find(c.ReplicaID); i >= 0 {
				s.Replicas = slices.Delete(s.Replicas, i, i+1)
			}
		case SetDeleted:
			s.Replicas, s.Deleted = nil, c.Time
		}
	}
	return s
}

// OriginKind is the kind of event that put a replica where it is.
type OriginKind int

// Kinds of origins.
const (
	// OriginUnknown: no event of the placement log names the replica.
	OriginUnknown OriginKind = iota
	// OriginDecision: the volume's placement decision.
	OriginDecision
	// OriginMove: a move whose target the replica is.
	OriginMove
)

// RecordedMove is a move as its MoveAdmitted holds it.
type RecordedMove struct {
	Move
	// Sequence is the event's sequence in the placement stream; Time is
	// when the move was admitted.
	Sequence uint64
	Time     time.Time
	// Summarized says the event recorded Move.Basis and Move.Summary:
	// moves admitted before it did not.
	Summarized bool
}

// Origin says why one replica is where it is.
type Origin struct {
	Replica SetReplica
	Kind    OriginKind
	// Sequence and Time are those of the event that put it there.
	Sequence uint64
	Time     time.Time
	// Move is the move, for OriginMove.
	Move RecordedMove
	// For a move that recorded its summary: where its table came from,
	// how the recomputation differs from the record ("" when it does not),
	// the best rows of the table and the target's wherever it ranked, the
	// target's rank among the feasible (1 the best, 0 unknown) and the
	// rows of the whole table.
	Source     TableSource
	Mismatch   string
	Rows       []domain.CandidateScore
	TargetRank int
	Total      int
}

// originsOf matches each replica of set with the event that put it there:
// the decision, or the latest of moves (those admitted by the time asked)
// whose target it is. The move's table is left to the caller.
func originsOf(rec RecordedDecision, moves []RecordedMove, set []SetReplica) []Origin {
	out := make([]Origin, 0, len(set))
	for _, r := range set {
		o := Origin{Replica: r}
		if slices.ContainsFunc(rec.Replicas, func(p Replica) bool { return p.ID == r.ID }) {
			o.Kind, o.Sequence, o.Time = OriginDecision, rec.Sequence, rec.Time
		}
		for _, m := range moves {
			if m.Target.ID == r.ID {
				o = Origin{Replica: r, Kind: OriginMove, Sequence: m.Sequence, Time: m.Time, Move: m}
			}
		}
		out = append(out, o)
	}
	return out
}

// moveRows are the rows of a move's ranked table that explain shows with
// it: the best BestCandidates feasible ones and the target wherever it
// ranked, with the target's rank among the feasible.
func moveRows(ranked []domain.CandidateScore) (rows []domain.CandidateScore, targetRank int) {
	feasible := 0
	for _, c := range ranked {
		if !c.Feasible {
			break // Ranked puts the feasible first
		}
		feasible++
		if feasible <= domain.BestCandidates || c.Chosen {
			rows = append(rows, c)
		}
		if c.Chosen && targetRank == 0 {
			targetRank = feasible
		}
	}
	return rows, targetRank
}

// markTarget marks the target's row chosen, and only it: the table of a
// move is the planner's, and the planner may have preferred another node
// than the one the move was asked to go to.
func markTarget(rows []domain.CandidateScore, target domain.Placement) {
	for i := range rows {
		rows[i].Chosen = rows[i].Feasible && rows[i].NodeID == target.NodeID
	}
}

// moveMismatch says how a move recomputed on the model rebuilt at its
// position differs from the recorded one, or "" when it is the same: the
// same target (the planner's choice, or the node asked for judged the
// same), counts and best candidates with the same scores.
func moveMismatch(m RecordedMove, d domain.Decision, err error) string {
	target := m.Target.Placement
	if m.ToNode == "" {
		switch {
		case err != nil:
			return fmt.Sprintf("recorded a move to %s, but the planner now finds no place: %v", placementList([]domain.Placement{target}), err)
		case len(d.Placements) == 0 || d.Placements[0].NodeID != target.NodeID || d.Placements[0].DiskID != target.DiskID:
			return fmt.Sprintf("recorded target %s, the planner now chooses %s", placementList([]domain.Placement{target}), placementList(d.Placements))
		}
	} else {
		i := slices.IndexFunc(d.Candidates, func(c domain.CandidateScore) bool { return c.NodeID == m.ToNode })
		switch {
		case i < 0:
			return fmt.Sprintf("node %s, asked for, is not in the model rebuilt at the move's position", m.ToNode)
		case !d.Candidates[i].Feasible:
			return fmt.Sprintf("recorded a move to %s, but the planner now rejects it: %s", m.ToNode, d.Candidates[i].Reason)
		case d.Candidates[i].DiskID != target.DiskID:
			return fmt.Sprintf("recorded disk %s of %s, the planner now picks %s", target.DiskID, m.ToNode, d.Candidates[i].DiskID)
		}
	}
	return summaryMismatch(m.Summary, moveSummary(d, target))
}
