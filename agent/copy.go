package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"ballast.dev/platform/command"
	ballastv1 "ballast.dev/proto/ballast/v1"
)

// copyProgressEvery is how often a running copy reports its progress.
const copyProgressEvery = 2 * time.Second

// serveCopies answers the copy requests for our nodes: a request for a node
// another agent speaks for gets no answer from us.
func (a *Agent) serveCopies(runCtx context.Context) (*nats.Subscription, error) {
	return a.cfg.Conn.NC.Subscribe(command.AgentCopyAll, func(msg *nats.Msg) {
		req := &ballastv1.CopyReplicaRequest{}
		if err := proto.Unmarshal(msg.Data, req); err != nil {
			a.reply(msg, codes.InvalidArgument, "copy request: "+err.Error())
			return
		}
		n, ok := a.node(req.GetTarget().GetNodeId())
		if !ok || msg.Subject != command.AgentCopy(req.GetTarget().GetNodeId()) {
			return // not ours
		}
		code, reason := a.startCopy(runCtx, n, req)
		a.reply(msg, code, reason)
	})
}

// reply answers a command request with a CommandReply.
func (a *Agent) reply(msg *nats.Msg, code codes.Code, reason string) {
	reply := &ballastv1.CommandReply{}
	if code != codes.OK {
		reply.Error = &ballastv1.CommandError{Code: int32(code), Message: reason}
	}
	data, err := proto.Marshal(reply)
	if err == nil {
		err = msg.Respond(data)
	}
	if err != nil {
		a.log.Warn("copy reply not sent", "err", err)
	}
}

// startCopy starts filling the target replica, unless a copy for the move
// runs already.
func (a *Agent) startCopy(runCtx context.Context, n *node, req *ballastv1.CopyReplicaRequest) (codes.Code, string) {
	id := req.GetTarget().GetReplicaId()
	n.mu.Lock()
	defer n.mu.Unlock()
	r, ok := n.replicas[id]
	switch {
	case n.failed:
		return codes.Unavailable, fmt.Sprintf("node %s is down", n.sim.ID())
	case !ok:
		return codes.FailedPrecondition, fmt.Sprintf("replica %s is not on node %s", id, n.sim.ID())
	case r.volumeID != req.GetVolumeId():
		return codes.FailedPrecondition, fmt.Sprintf("replica %s on node %s is of volume %s, not %s", id, n.sim.ID(), r.volumeID, req.GetVolumeId())
	}
	if n.copies == nil {
		n.copies = map[string]bool{}
	}
	if n.copies[req.GetMigrationId()] {
		return codes.OK, ""
	}
	n.copies[req.GetMigrationId()] = true
	rate := req.GetBytesPerSecond()
	for _, d := range n.sim.Spec().Disks {
		if d.ID == r.disk && d.MaxThroughputBps > 0 && (rate == 0 || d.MaxThroughputBps < rate) {
			// The copy writes at most at the disk's bandwidth.
			rate = d.MaxThroughputBps
		}
	}
	a.wg.Go(func() { a.runCopy(runCtx, n, req, rate) })
	return codes.OK, ""
}

// runCopy fills the replica in the time its bytes take at rate, reporting
// progress as it goes. The sim holds no data: the copy is the time it
// takes, which a file backend spends moving real bytes.
func (a *Agent) runCopy(ctx context.Context, n *node, req *ballastv1.CopyReplicaRequest, rate uint64) {
	defer func() {
		n.mu.Lock()
		delete(n.copies, req.GetMigrationId())
		n.mu.Unlock()
	}()
	total := req.GetBytes()
	start := time.Now()
	log := a.log.With("node", n.sim.ID(), "replica", req.GetTarget().GetReplicaId(), "migration", req.GetMigrationId())
	log.Debug("copy started", "bytes", total, "bytes_per_second", rate)
	tick := time.NewTicker(copyProgressEvery)
	defer tick.Stop()
	var took time.Duration
	if rate > 0 {
		took = time.Duration(float64(total) / float64(rate) * float64(time.Second))
	}
	done := time.NewTimer(took)
	defer done.Stop()
	ref := func(kind string, n uint64) func() string {
		id := fmt.Sprintf("agent/copy/%s/%s/%d", req.GetMigrationId(), kind, n)
		return func() string { return id }
	}
	for {
		select {
		case <-ctx.Done():
			return // the engine asks again once the copy stalls
		case <-tick.C:
			copied := min(total, uint64(time.Since(start).Seconds()*float64(rate)))
			n.mu.Lock()
			if n.failed {
				n.mu.Unlock()
				log.Debug("copy lost with its node")
				return // the move asks again, or gives up
			}
			err := a.appendNode(ctx, n, ref("progress", copied), &ballastv1.ReplicaCopyProgressed{
				NodeId: n.sim.ID(), ReplicaId: req.GetTarget().GetReplicaId(), VolumeId: req.GetVolumeId(), VolumeName: req.GetVolumeName(),
				MigrationId: req.GetMigrationId(), CopiedBytes: copied, Bytes: total, BytesPerSecond: rate, OccurTime: now(),
			})
			n.mu.Unlock()
			if err != nil && ctx.Err() == nil {
				log.Warn("copy progress not recorded", "err", err)
			}
		case <-done.C:
			n.mu.Lock()
			if n.failed {
				n.mu.Unlock()
				return
			}
			_, still := n.replicas[req.GetTarget().GetReplicaId()]
			var m proto.Message = &ballastv1.ReplicaCopied{
				NodeId: n.sim.ID(), ReplicaId: req.GetTarget().GetReplicaId(), VolumeId: req.GetVolumeId(), VolumeName: req.GetVolumeName(),
				MigrationId: req.GetMigrationId(), Bytes: total, SourceReplicaId: req.GetFrom().GetReplicaId(), OccurTime: now(),
			}
			if !still {
				m = &ballastv1.ReplicaCopyFailed{NodeId: n.sim.ID(), ReplicaId: req.GetTarget().GetReplicaId(), VolumeId: req.GetVolumeId(),
					VolumeName: req.GetVolumeName(), MigrationId: req.GetMigrationId(), Reason: "the replica was removed during the copy", OccurTime: now()}
			}
			err := a.appendNode(ctx, n, ref("done", 0), m)
			n.mu.Unlock()
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("copy's end not recorded; the move asks again", "err", err)
				}
				return
			}
			log.Debug("copy done", "took", time.Since(start))
			return
		}
	}
}
