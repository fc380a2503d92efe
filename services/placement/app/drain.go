package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"ballast.dev/services/placement/domain"
)

// Volumes is what placement tells the volume service of replicas.
type Volumes interface {
	// Lose records that a replica can no longer serve (its node is down).
	Lose(ctx context.Context, volumeID, volumeName, replicaID, reason string) error
}

// Drainer empties draining and down nodes: for each volume with a replica
// on one, and no move under way, it admits a move of that replica to a
// node the volume's constraints allow; a replica on a down node is first
// recorded lost, and its copy comes from a healthy peer. The migration
// service's throttles pace the moves; the drainer only asks.
type Drainer struct {
	Model    Model
	Holdings Holdings
	Mover    Mover
	Volumes  Volumes
	Log      *slog.Logger
}

// Pass admits the moves that draining nodes need now, and returns how many
// it admitted and how many replicas could not move (no node can take them).
func (d Drainer) Pass(ctx context.Context) (admitted, stuck int) {
	var draining []string
	down := map[string]bool{}
	d.Model.View(func(c *domain.Cluster, _ Position, _ func(string) uint64) {
		for _, n := range c.Nodes() {
			switch n.State {
			case domain.NodeDraining:
				draining = append(draining, n.ID)
			case domain.NodeDown:
				draining = append(draining, n.ID)
				down[n.ID] = true
			}
		}
	})
	for _, node := range draining {
		var firstErr error
		for _, held := range d.Holdings.HeldOn(node) {
			if len(held.Set) > held.Replicas || held.Name == "" {
				continue // a move of the volume is under way; the next pass sees to it
			}
			var src, from Replica
			for _, r := range held.Set {
				switch {
				case r.NodeID == node:
					src = r
				case !down[r.NodeID] && from.NodeID == "":
					from = r
				}
			}
			lost := down[node]
			if lost {
				if from.NodeID == "" {
					stuck++
					if firstErr == nil {
						firstErr = fmt.Errorf("volume %s has no replica left on a node that is up to copy from", held.Name)
					}
					continue
				}
				if err := d.Volumes.Lose(ctx, held.VolumeID, held.Name, src.ID, "node "+node+" is down"); err != nil {
					stuck++
					if firstErr == nil {
						firstErr = err
					}
					continue
				}
			}
			var last uint64
			d.Model.View(func(_ *domain.Cluster, _ Position, l func(string) uint64) { last = l(held.VolumeID) })
			_, err := d.Mover.Move(ctx, MoveReplica{
				// A move that rolled back settles, which changes last: the
				// next pass asks again under a new id.
				RequestID:  fmt.Sprintf("drain:%s:%s:%d", node, held.VolumeID, last),
				VolumeID:   held.VolumeID,
				VolumeName: held.Name,
				Source:     src,
				Tier:       held.Tier,
				Spread:     held.Spread,
				Reason:     reason(node, lost),
				Kind:       kindOf(lost),
				SourceLost: lost,
				CopyFrom:   from,
			})
			if err != nil {
				stuck++
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			admitted++
		}
		if firstErr != nil && ctx.Err() == nil {
			d.Log.Warn("drain cannot move every replica yet", "node", node, "stuck", stuck, "err", firstErr)
		}
	}
	return admitted, stuck
}

// Run passes every interval until ctx ends.
func (d Drainer) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, _ := d.Pass(ctx); n > 0 {
				d.Log.Info("drain moves admitted", "moves", n)
			}
		}
	}
}

func kindOf(lost bool) MoveKind {
	if lost {
		return MoveNodeDown
	}
	return MoveDrain
}

func reason(node string, lost bool) string {
	if lost {
		return "re-created: node " + node + " is down"
	}
	return "drain of " + node
}
