package grpcapi

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"ballast.dev/gateway/readmodel"
	"ballast.dev/platform/command"
	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
	ballastv1 "ballast.dev/proto/ballast/v1"
)

// VolumeService serves ballast.v1.VolumeService.
type VolumeService struct {
	ballastv1.UnimplementedVolumeServiceServer
	cfg Config
}

// CreateVolume sends a create command and answers with the volume as the
// read model has it after the command's append.
func (s *VolumeService) CreateVolume(ctx context.Context, req *ballastv1.CreateVolumeRequest) (*ballastv1.CreateVolumeResponse, error) {
	if err := required("name", req.GetName()); err != nil {
		return nil, s.status(err)
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	req = proto.CloneOf(req)
	v, _, err := s.send(ctx, command.VolumeCreate, req, &req.RequestId, req.GetName())
	if err != nil {
		return nil, s.status(err)
	}
	return &ballastv1.CreateVolumeResponse{Volume: v}, nil
}

// ResizeVolume sends a resize command for the volume named by name or id.
func (s *VolumeService) ResizeVolume(ctx context.Context, req *ballastv1.ResizeVolumeRequest) (*ballastv1.ResizeVolumeResponse, error) {
	if err := required("name", req.GetName()); err != nil {
		return nil, s.status(err)
	}
	if req.GetCapacity().GetRequiredBytes() == 0 {
		return nil, s.status(badField("capacity.required_bytes", "capacity.required_bytes is required"))
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	name, err := s.resolve(ctx, req.GetName())
	if err != nil {
		return nil, s.status(err)
	}
	req = proto.CloneOf(req)
	req.Name = name
	v, _, err := s.send(ctx, command.VolumeResize, req, &req.RequestId, name)
	if err != nil {
		return nil, s.status(err)
	}
	return &ballastv1.ResizeVolumeResponse{Volume: v}, nil
}

// DeleteVolume sends a delete command for the volume named by name or id.
func (s *VolumeService) DeleteVolume(ctx context.Context, req *ballastv1.DeleteVolumeRequest) (*ballastv1.DeleteVolumeResponse, error) {
	if err := required("name", req.GetName()); err != nil {
		return nil, s.status(err)
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	name, err := s.resolve(ctx, req.GetName())
	if err != nil {
		return nil, s.status(err)
	}
	req = proto.CloneOf(req)
	req.Name = name
	v, _, err := s.send(ctx, command.VolumeDelete, req, &req.RequestId, name)
	if err != nil {
		return nil, s.status(err)
	}
	return &ballastv1.DeleteVolumeResponse{Volume: v}, nil
}

// RepairVolume repairs a volume whose history holds unreadable events. It
// takes the name as given, not through the read model: the event the read
// model could not read may be the one that named the volume.
func (s *VolumeService) RepairVolume(ctx context.Context, req *ballastv1.RepairVolumeRequest) (*ballastv1.RepairVolumeResponse, error) {
	if err := required("name", req.GetName()); err != nil {
		return nil, s.status(err)
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	req = proto.CloneOf(req)
	v, reply, err := s.send(ctx, command.VolumeRepair, req, &req.RequestId, req.GetName())
	if err != nil {
		return nil, s.status(err)
	}
	return &ballastv1.RepairVolumeResponse{Volume: v, SkippedSequences: reply.GetSkippedSequences()}, nil
}

// GetVolume returns a volume by name or id.
func (s *VolumeService) GetVolume(ctx context.Context, req *ballastv1.GetVolumeRequest) (*ballastv1.GetVolumeResponse, error) {
	if err := required("name", req.GetName()); err != nil {
		return nil, s.status(err)
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	if err := s.sync(ctx); err != nil {
		return nil, s.status(err)
	}
	v, err := s.cfg.Volumes.Volume(ctx, req.GetName())
	if err != nil {
		return nil, s.status(err)
	}
	return &ballastv1.GetVolumeResponse{Volume: v}, nil
}

// ListVolumes lists live volumes in name order, a page at a time.
func (s *VolumeService) ListVolumes(ctx context.Context, req *ballastv1.ListVolumesRequest) (*ballastv1.ListVolumesResponse, error) {
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, s.status(err)
	}
	after, err := decodeToken("volume", req.GetPageToken())
	if err != nil {
		return nil, s.status(err)
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	if err := s.sync(ctx); err != nil {
		return nil, s.status(err)
	}
	// One more than the page tells whether there is a next page.
	vols, total, err := s.cfg.Volumes.Volumes(ctx, after, size+1)
	if err != nil {
		return nil, s.status(err)
	}
	resp := &ballastv1.ListVolumesResponse{TotalSize: int32(total)}
	if len(vols) > size {
		vols = vols[:size]
		resp.NextPageToken = encodeToken("volume", vols[size-1].GetName())
	}
	resp.Volumes = vols
	return resp, nil
}

// WatchVolume sends the volume now and again after each change until it is
// deleted (the last message then has state DELETED) or the call ends.
//
// Changes that come faster than the client reads are coalesced: a watcher
// always gets the latest state, never a backlog of stale ones.
func (s *VolumeService) WatchVolume(req *ballastv1.WatchVolumeRequest, stream ballastv1.VolumeService_WatchVolumeServer) error {
	ctx := stream.Context()
	if err := required("name", req.GetName()); err != nil {
		return s.status(err)
	}
	release, err := s.cfg.VolumeWatches.acquire()
	if err != nil {
		return s.status(err)
	}
	defer release()
	// A volume the read model knows is watched from there: the watch sends
	// every later state, so it need not wait for the log first.
	v, err := lookup(ctx, s.cfg, req.GetName())
	if err != nil {
		return s.status(err)
	}
	// Follow the incarnation found, by id: a volume created again under
	// the name is another volume, and this watch ends with the old one.
	name, id := v.GetName(), v.GetId()
	var sent uint64
	for {
		// Take the notification before reading, so that a change between
		// the read and the wait still wakes us.
		end, err := s.watchStep(ctx, stream, name, id, &sent)
		if end || err != nil {
			return err
		}
	}
}

// watchStep sends the watched incarnation if it changed since sent and
// waits for its next change; end is true once it is deleted.
func (s *VolumeService) watchStep(ctx context.Context, stream ballastv1.VolumeService_WatchVolumeServer, name, id string, sent *uint64) (end bool, err error) {
	changed, done := s.cfg.Volumes.VolumeChanged(name)
	defer done()
	v, err := s.cfg.Volumes.Incarnation(ctx, id)
	if err != nil {
		return true, s.status(err)
	}
	if v.GetVersion() > *sent {
		if err := stream.Send(&ballastv1.WatchVolumeResponse{Volume: v}); err != nil {
			return true, err
		}
		*sent = v.GetVersion()
	}
	if v.GetState() == ballastv1.VolumeState_VOLUME_STATE_DELETED {
		return true, nil
	}
	select {
	case <-changed:
		return false, nil
	case <-ctx.Done():
		return true, s.status(ctx.Err())
	case <-s.cfg.Done:
		return true, s.status(errShuttingDown)
	}
}

// resolve maps a name or id to the volume's name through the read model.
func (s *VolumeService) resolve(ctx context.Context, nameOrID string) (string, error) {
	v, err := lookup(ctx, s.cfg, nameOrID)
	if err != nil {
		return "", err
	}
	return v.GetName(), nil
}

// lookup finds the live volume with the name or id through the read model.
// Only a miss costs a trip to JetStream: a name or id the projection knows
// is final, because ids are never reused.
func lookup(ctx context.Context, cfg Config, nameOrID string) (*ballastv1.Volume, error) {
	v, err := cfg.Volumes.Volume(ctx, nameOrID)
	if errors.Is(err, readmodel.ErrNotFound) {
		if err := readmodel.Sync(ctx, cfg.Log, cfg.Volumes); err != nil {
			return nil, err
		}
		v, err = cfg.Volumes.Volume(ctx, nameOrID)
	}
	return v, err
}

// send sends a command, correlated by its request id (one is made when the
// caller gave none, so that the volume service can deduplicate retries of
// this call), and answers with the volume the command left.
func (s *VolumeService) send(ctx context.Context, subject string, req proto.Message, requestID *string, name string) (*ballastv1.Volume, *ballastv1.CommandReply, error) {
	if *requestID == "" {
		*requestID = uuid.NewString()
	}
	// It becomes a NATS header and part of event ids: checked before
	// either.
	if err := command.CheckRequestID(*requestID); err != nil {
		return nil, nil, badField("request_id", err.Error())
	}
	ctx = eventstore.WithCorrelationID(ctx, *requestID)
	reply := &ballastv1.CommandReply{}
	if err := command.Request(ctx, s.cfg.NC, subject, req, reply); err != nil {
		return nil, nil, err
	}
	if reply.GetError() != nil {
		return nil, nil, newCommandError(reply.GetError())
	}
	v, err := s.answer(ctx, reply, name)
	return v, reply, err
}

// answer waits until the read model has applied the command's append, so
// that the caller sees its own write, and reads the volume from it. The
// reply's volume is the answer when the read model cannot give one: it is
// the same state, only not from the read model.
func (s *VolumeService) answer(ctx context.Context, reply *ballastv1.CommandReply, name string) (*ballastv1.Volume, error) {
	if err := s.cfg.Volumes.WaitApplied(ctx, events.Volume.Stream, reply.GetSequence()); err != nil {
		if reply.GetVolume() != nil {
			return reply.GetVolume(), nil
		}
		return nil, err
	}
	var (
		v   *ballastv1.Volume
		err error
	)
	// By id when the reply has one: a delete that completed at once, or a
	// new incarnation under the name, must not change what this call
	// answers about.
	if id := reply.GetVolume().GetId(); id != "" {
		v, err = s.cfg.Volumes.Incarnation(ctx, id)
	} else {
		v, err = s.cfg.Volumes.Volume(ctx, name)
	}
	if err != nil {
		if reply.GetVolume() != nil {
			return reply.GetVolume(), nil
		}
		return nil, err
	}
	return v, nil
}

func (s *VolumeService) sync(ctx context.Context) error {
	return readmodel.Sync(ctx, s.cfg.Log, s.cfg.Volumes)
}

func (s *VolumeService) status(err error) error { return toStatus(s.cfg.Logger, err) }
