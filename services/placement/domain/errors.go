package domain

import "errors"

// Sentinel errors, checked with errors.Is. The service maps each to one API
// code in one place.
var (
	// ErrInvalidRequest marks a request or argument that can never succeed
	// as given (no volume id, zero size, fewer than one replica, ...).
	ErrInvalidRequest = errors.New("invalid request")
	// ErrInvalidNode marks a node description that the cluster refuses.
	ErrInvalidNode = errors.New("invalid node")
	// ErrInsufficientCapacity marks a placement, reservation or resize
	// that the cluster cannot hold right now: too few failure domains with
	// a qualifying node, or a disk without room. Unlike ErrInvalidRequest
	// it may succeed later, when nodes join or space is freed.
	ErrInsufficientCapacity = errors.New("insufficient capacity")
	// ErrUnknownNode marks a reference to a node the cluster does not have.
	ErrUnknownNode = errors.New("unknown node")
	// ErrUnknownDisk marks a reference to a disk its node does not have.
	ErrUnknownDisk = errors.New("unknown disk")
	// ErrUnknownVolume marks a volume that holds no reservation.
	ErrUnknownVolume = errors.New("unknown volume")
	// ErrHoldsReplicas marks a change that would orphan reservations: a
	// node or disk cannot disappear while replicas are recorded on it.
	ErrHoldsReplicas = errors.New("holds replicas")
)
