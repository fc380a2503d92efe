package domain

import (
	"fmt"
	"strings"
)

// Request asks for the replicas of one volume to be placed.
type Request struct {
	VolumeID  string
	SizeBytes uint64
	// Replicas is how many replicas to place now. With
	// WithExistingReplicas it counts only the new ones.
	Replicas int
	Tier     Tier
	// Spread is the failure domain level: at most one replica per node,
	// zone or region.
	Spread SpreadLevel
	// NodeSelector lists labels a node must carry with exactly these
	// values; empty means any node.
	NodeSelector map[string]string
	// AllowedZones restricts the volume to these zones (its topology, as a
	// CSI driver would pass it); empty means any zone.
	AllowedZones []string
}

// Validate reports, wrapped in ErrInvalidRequest, everything that makes the
// request impossible whatever the cluster looks like.
func (r Request) Validate() error {
	var problems []string
	if r.VolumeID == "" {
		problems = append(problems, "empty volume id")
	}
	if r.SizeBytes == 0 {
		problems = append(problems, "size must be greater than 0")
	}
	if r.Replicas < 1 {
		problems = append(problems, fmt.Sprintf("replicas must be at least 1, got %d", r.Replicas))
	}
	if !r.Tier.Valid() {
		problems = append(problems, fmt.Sprintf("tier must be nvme, ssd or hdd, got %v", r.Tier))
	}
	if !r.Spread.Valid() {
		problems = append(problems, fmt.Sprintf("spread must be node, zone or region, got %v", r.Spread))
	}
	if len(problems) > 0 {
		return fmt.Errorf("place %q: %s: %w", r.VolumeID, strings.Join(problems, "; "), ErrInvalidRequest)
	}
	return nil
}
