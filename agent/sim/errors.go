package sim

import (
	"errors"
	"fmt"
)

// Sentinel errors, to be checked with errors.Is.
var (
	// ErrInvalid marks an argument or spec that cannot be valid.
	ErrInvalid = errors.New("invalid argument")
	// ErrUnknownDisk marks a disk the node does not have.
	ErrUnknownDisk = errors.New("unknown disk")
	// ErrUnknownReplica marks a replica the node does not hold.
	ErrUnknownReplica = errors.New("unknown replica")
	// ErrReplicaConflict marks a create for an existing replica ID with a
	// different volume, disk or size.
	ErrReplicaConflict = errors.New("replica exists with different volume, disk or size")
	// ErrShrink marks a resize to a smaller size; replicas only grow.
	ErrShrink = errors.New("replicas cannot shrink")
	// ErrInsufficientCapacity marks a disk without room for a replica.
	ErrInsufficientCapacity = errors.New("insufficient capacity")
)

// CapacityError says which disk lacked room and by how much. It matches
// ErrInsufficientCapacity under errors.Is.
type CapacityError struct {
	DiskID    string
	FreeBytes uint64
	NeedBytes uint64
}

func (e *CapacityError) Error() string {
	return fmt.Sprintf("disk %s has %d bytes free, needs %d: %v", e.DiskID, e.FreeBytes, e.NeedBytes, ErrInsufficientCapacity)
}

// Unwrap lets errors.Is(err, ErrInsufficientCapacity) match.
func (e *CapacityError) Unwrap() error { return ErrInsufficientCapacity }
