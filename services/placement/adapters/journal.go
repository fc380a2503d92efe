package adapters

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
	pb "ballast.dev/proto/ballast/v1"
	"ballast.dev/services/placement/app"
	"ballast.dev/services/placement/domain"
)

// Journal appends decisions to ballast.evt.placement.<volume-id>. It
// implements app.Journal.
type Journal struct {
	Store *eventstore.Store
	// Recorded, if set, is told of every event this journal stored: the
	// model applies it at once rather than wait for the log to bring it
	// back (Model.Recorded).
	Recorded func(seq uint64, m proto.Message)
}

var _ app.Journal = Journal{}

// NewReplicaID names a new replica: unique for the life of its volume (and
// beyond), so that a replica moved away and one placed later on the same
// node are never taken for each other. 100 random bits, in lower-case
// base32 so that it can name a file.
func NewReplicaID() string { return "r-" + strings.ToLower(rand.Text()[:20]) }

func (j Journal) append(ctx context.Context, cause, volumeID string, expected uint64, m proto.Message) (uint64, error) {
	ev, err := events.Encode(cause+"/"+volumeID, m)
	if err != nil {
		return 0, err
	}
	seq, fresh, err := j.Store.AppendOnce(ctx, events.Placement.Subject(volumeID), expected, ev)
	if errors.Is(err, eventstore.ErrConflict) {
		return 0, fmt.Errorf("%w: %w", app.ErrStale, err)
	}
	// An append an earlier attempt made stored what that attempt
	// decided, which the log alone tells.
	if err == nil && fresh && j.Recorded != nil {
		j.Recorded(seq, m)
	}
	return seq, err
}

func now() *timestamppb.Timestamp { return timestamppb.New(events.Now()) }

// Decided implements app.Journal.
func (j Journal) Decided(ctx context.Context, cause, name string, b app.Basis, d domain.Decision) (uint64, error) {
	return j.append(ctx, cause, d.VolumeID, 0, decidedEvent(name, b, d, now()))
}

// Failed implements app.Journal.
func (j Journal) Failed(ctx context.Context, cause, name string, b app.Basis, d domain.Decision, reason string) (uint64, error) {
	return j.append(ctx, cause, d.VolumeID, 0, failedEvent(name, b, d, reason, now()))
}

// decidedEvent is the record of a decision: the placements and the
// decision's summary, a few KB whatever the size of the fleet.
func decidedEvent(name string, b app.Basis, d domain.Decision, at *timestamppb.Timestamp) *pb.PlacementDecided {
	m := &pb.PlacementDecided{VolumeId: d.VolumeID, VolumeName: name, SizeBytes: b.Request.SizeBytes, Summary: SummaryToProto(b, d), OccurTime: at}
	for _, p := range d.Placements {
		m.Placements = append(m.Placements, &pb.ReplicaPlacement{ReplicaId: NewReplicaID(), NodeId: p.NodeID, DiskId: p.DiskID, Zone: p.Zone})
	}
	return m
}

// failedEvent is the record of a decision that could not place the volume.
func failedEvent(name string, b app.Basis, d domain.Decision, reason string, at *timestamppb.Timestamp) *pb.PlacementFailed {
	return &pb.PlacementFailed{VolumeId: d.VolumeID, VolumeName: name, Reason: reason, Summary: SummaryToProto(b, d), OccurTime: at}
}

// ResizeDecided implements app.Journal.
func (j Journal) ResizeDecided(ctx context.Context, cause, volumeID, name string, expected, size uint64, refusal string) (uint64, error) {
	var m proto.Message = &pb.ResizeApproved{VolumeId: volumeID, VolumeName: name, SizeBytes: size, OccurTime: now()}
	if refusal != "" {
		m = &pb.ResizeRejected{VolumeId: volumeID, VolumeName: name, SizeBytes: size, Reason: refusal, OccurTime: now()}
	}
	return j.append(ctx, cause, volumeID, expected, m)
}

// Released implements app.Journal.
func (j Journal) Released(ctx context.Context, cause, volumeID, name string, expected uint64) (uint64, error) {
	return j.append(ctx, cause, volumeID, expected, &pb.CapacityReleased{VolumeId: volumeID, VolumeName: name, OccurTime: now()})
}
