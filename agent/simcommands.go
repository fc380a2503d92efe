package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"ballast.dev/agent/sim"
	"ballast.dev/platform/command"
	ballastv1 "ballast.dev/proto/ballast/v1"
)

// down reports whether the simulated node has failed.
func (n *node) down() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.failed
}

// serveSim answers the simulator's commands for our nodes: fail a node, or
// recover it (and do the work it missed, in order).
func (a *Agent) serveSim(runCtx context.Context) (*nats.Subscription, error) {
	return a.cfg.Conn.NC.Subscribe(command.AgentSimAll, func(msg *nats.Msg) {
		req := &ballastv1.SimNodeCommand{}
		if err := proto.Unmarshal(msg.Data, req); err != nil {
			a.reply(msg, codes.InvalidArgument, "sim command: "+err.Error())
			return
		}
		n, ok := a.node(req.GetNodeId())
		if !ok || msg.Subject != command.AgentSim(req.GetNodeId()) {
			return // not ours
		}
		if id := req.GetHotspotReplicaId(); id != "" || req.GetHotspotNode() {
			until := time.Now().Add(time.Duration(req.GetHotspotSeconds() * float64(time.Second)))
			ids := []string{id}
			if req.GetHotspotNode() {
				ids = ids[:0]
				for _, r := range n.sim.Replicas() {
					ids = append(ids, r.ID)
				}
			}
			n.mu.Lock()
			var err error
			for _, id := range ids {
				if err = n.sim.InjectHotspot(id, req.GetHotspotFactor(), until); err != nil {
					break
				}
				if r, ok := n.replicas[id]; ok {
					a.remember(r.volumeID, injected{factor: req.GetHotspotFactor(), until: until})
				}
			}
			n.mu.Unlock()
			if err != nil {
				a.reply(msg, codes.InvalidArgument, err.Error())
				return
			}
			a.log.Info("hotspot injected", "node", n.sim.ID(), "replicas", len(ids), "factor", req.GetHotspotFactor(), "until", until)
			a.reply(msg, codes.OK, "")
			return
		}
		n.mu.Lock()
		was := n.failed
		n.failed = req.GetFail()
		var backlog []func(context.Context) error
		if !n.failed {
			backlog, n.backlog = n.backlog, nil
		}
		n.mu.Unlock()
		a.reply(msg, codes.OK, "")
		switch {
		case req.GetFail() && !was:
			a.log.Warn("simulated node failed", "node", n.sim.ID())
		case !req.GetFail() && was:
			a.log.Warn("simulated node recovered", "node", n.sim.ID(), "missed", len(backlog))
			a.wg.Go(func() {
				for _, work := range backlog {
					if err := work(runCtx); err != nil && runCtx.Err() == nil {
						a.log.Warn("work a failed node missed not done", "node", n.sim.ID(), "err", err)
					}
				}
			})
		}
	})
}

// serveGrow answers the simulator's requests to add nodes to our fleet.
func (a *Agent) serveGrow(runCtx context.Context) (*nats.Subscription, error) {
	return a.cfg.Conn.NC.Subscribe(command.AgentGrow(a.cfg.Name), func(msg *nats.Msg) {
		reply := &ballastv1.SimGrowReply{}
		req := &ballastv1.SimGrowCommand{}
		if err := proto.Unmarshal(msg.Data, req); err != nil {
			reply.Error = &ballastv1.CommandError{Code: int32(codes.InvalidArgument), Message: "grow request: " + err.Error()}
		} else if req.GetCount() < 1 || req.GetCount() > MaxGrow {
			reply.Error = &ballastv1.CommandError{Code: int32(codes.InvalidArgument), Message: fmt.Sprintf("count %d is out of range: at least 1, at most %d", req.GetCount(), MaxGrow)}
		} else {
			ctx, cancel := context.WithTimeout(runCtx, time.Minute)
			ids, err := a.Grow(ctx, int(req.GetCount()))
			cancel()
			if err != nil {
				reply.Error = &ballastv1.CommandError{Code: int32(codes.FailedPrecondition), Message: err.Error()}
			}
			reply.NodeIds = ids
		}
		data, err := proto.Marshal(reply)
		if err == nil {
			err = msg.Respond(data)
		}
		if err != nil {
			a.log.Warn("grow reply not sent", "err", err)
		}
	})
}

// injected is a hotspot injected on a volume's replicas.
type injected struct {
	factor float64
	until  time.Time
}

// remember records a hotspot on volumeID, for replicas of it made later.
func (a *Agent) remember(volumeID string, h injected) {
	a.hotMu.Lock()
	defer a.hotMu.Unlock()
	if a.hot == nil {
		a.hot = map[string]injected{}
	}
	now := time.Now()
	for v, old := range a.hot {
		if !old.until.After(now) {
			delete(a.hot, v)
		}
	}
	a.hot[volumeID] = h
}

// simulate gives a replica just made on n the volume's simulated load: its
// workload drawn from the seed and the volume's name (so that the same seed
// gives the same loads run after run, and a moved replica carries its
// volume's load), and a hotspot injected on the volume, if one is on.
func (a *Agent) simulate(n *node, replicaID, volumeID, volumeName string) {
	if volumeName != "" {
		_ = n.sim.SetWorkload(replicaID, sim.WorkloadFor(a.cfg.Seed, volumeName))
	}
	a.hotMu.Lock()
	h, ok := a.hot[volumeID]
	a.hotMu.Unlock()
	if ok && h.until.After(time.Now()) {
		_ = n.sim.InjectHotspot(replicaID, h.factor, h.until)
	}
}
