package agent_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"ballast.dev/agent"
	"ballast.dev/agent/sim"
	"ballast.dev/platform/events"
	"ballast.dev/platform/snapshot"
	ballastv1 "ballast.dev/proto/ballast/v1"
)

func TestStartRefusesBadConfig(t *testing.T) {
	e := setup(t)
	for _, cfg := range []agent.Config{
		{Name: "sim"},                 // no connection
		{Conn: e.conn},                // no name
		{Conn: e.conn, Name: "a.b"},   // not a subject token
		{Conn: e.conn, Name: "a b"},   // not a subject token
		{Conn: e.conn, Name: "sim.>"}, // wildcard
		{Conn: e.conn, Name: "sim", Nodes: -1},
	} {
		if a, err := agent.Start(context.Background(), cfg); err == nil {
			_ = a.Close()
			t.Errorf("Start(%+v) succeeded", cfg)
		}
	}
}

func TestRegistersEveryNodeOnce(t *testing.T) {
	e := setup(t)
	a := e.start(t, agent.Config{Seed: 7, Nodes: 12, Zones: 3})

	if got := a.Nodes(); len(got) != 12 || got[0] != "node-001" || got[11] != "node-012" || !slices.IsSorted(got) {
		t.Fatalf("Nodes() = %v", got)
	}
	fleet := sim.GenerateFleet(sim.FleetConfig{Seed: 7, Nodes: 12, Zones: 3})
	for _, spec := range fleet {
		regs := ofType[*ballastv1.NodeRegistered](e.nodeEvents(t, spec.ID))
		if len(regs) != 1 {
			t.Fatalf("%s: %d NodeRegistered, want 1", spec.ID, len(regs))
		}
		r := regs[0]
		if r.GetNodeId() != spec.ID || r.GetZone() != spec.Zone || r.GetRegion() != spec.Region ||
			r.GetAgent() != "sim" || r.GetOccurTime() == nil || !maps.Equal(r.GetLabels(), spec.Labels) {
			t.Fatalf("%s registered as %v", spec.ID, r)
		}
		if len(r.GetDisks()) != len(spec.Disks) {
			t.Fatalf("%s: %d disks registered, want %d", spec.ID, len(r.GetDisks()), len(spec.Disks))
		}
		for i, d := range spec.Disks {
			got := r.GetDisks()[i]
			if got.GetId() != d.ID || got.GetTier().String() != "TIER_"+strings.ToUpper(string(d.Tier)) ||
				got.GetCapacityBytes() != d.CapacityBytes || got.GetMaxReadIops() != d.MaxReadIOPS ||
				got.GetMaxWriteIops() != d.MaxWriteIOPS || got.GetMaxThroughputBytesPerSecond() != d.MaxThroughputBps {
				t.Fatalf("%s disk %d registered as %v, spec %+v", spec.ID, i, got, d)
			}
		}
	}
}

// A restarted agent rebuilds its replicas from the node histories and
// registers only the nodes whose spec changed.
func TestRestartRestoresReplicasWithoutRegistering(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	first := e.start(t, agent.Config{Nodes: 12})
	d0, _ := disk(t, first, "node-001", 0)
	d1, _ := disk(t, first, "node-002", 0)

	// One replica provisioned and grown, one provisioned and deleted.
	e.appendVolume(t, "vol-a", &ballastv1.ReplicasAssigned{VolumeId: "va", VolumeName: "vol-a", SizeBytes: 10 * gib,
		Replicas: []*ballastv1.Replica{replica("ra", "node-001", d0)}})
	e.appendVolume(t, "vol-b", &ballastv1.ReplicasAssigned{VolumeId: "vb", VolumeName: "vol-b", SizeBytes: 5 * gib,
		Replicas: []*ballastv1.Replica{replica("rb", "node-002", d1)}})
	waitEvents[*ballastv1.ReplicaProvisioned](t, e, "node-001", 1)
	waitEvents[*ballastv1.ReplicaProvisioned](t, e, "node-002", 1)
	e.appendVolume(t, "vol-a", &ballastv1.VolumeResized{VolumeId: "va", VolumeName: "vol-a", SizeBytes: 20 * gib})
	e.appendVolume(t, "vol-b", &ballastv1.VolumeDeleteRequested{VolumeId: "vb", VolumeName: "vol-b",
		Replicas: []*ballastv1.Replica{replica("rb", "node-002", d1)}})
	waitEvents[*ballastv1.ReplicaExpanded](t, e, "node-001", 1)
	waitEvents[*ballastv1.ReplicaDeleted](t, e, "node-002", 1)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := e.store.LastSequence(ctx, events.Node.Stream)
	if err != nil {
		t.Fatal(err)
	}

	second := e.start(t, agent.Config{Nodes: 12})
	if after, _ := e.store.LastSequence(ctx, events.Node.Stream); after != before {
		t.Fatalf("restart appended %d node events", after-before)
	}
	n1, _ := second.SimNode("node-001")
	want := []sim.Replica{{ID: "ra", VolumeID: "va", DiskID: d0, SizeBytes: 20 * gib}}
	got := n1.Replicas()
	for i := range got {
		got[i].Workload = sim.Workload{}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("node-001 replicas after restart: %+v, want %+v", got, want)
	}
	if used := n1.Disks()[0].UsedBytes; used != 20*gib {
		t.Fatalf("node-001 disk 0 uses %d bytes after restart, want %d", used, 20*gib)
	}
	n2, _ := second.SimNode("node-002")
	if r := n2.Replicas(); len(r) != 0 {
		t.Fatalf("node-002 replicas after restart: %+v", r)
	}

	// The rebuilt state drives the handlers: a delete finds the replica.
	seq := e.appendVolume(t, "vol-a", &ballastv1.VolumeDeleteRequested{VolumeId: "va", VolumeName: "vol-a"})
	waitEvents[*ballastv1.ReplicaDeleted](t, e, "node-001", 1)
	e.waitHandled(t, "sim", seq)
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}

	// A larger fleet registers its new node, and nothing else.
	before, _ = e.store.LastSequence(ctx, events.Node.Stream)
	e.start(t, agent.Config{Nodes: 13})
	after, _ := e.store.LastSequence(ctx, events.Node.Stream)
	if regs := ofType[*ballastv1.NodeRegistered](e.nodeEvents(t, "node-013")); after != before+1 || len(regs) != 1 {
		t.Fatalf("growing the fleet appended %d events, node-013 has %d registrations", after-before, len(regs))
	}
}

// An event the agent appended without learning that it landed (its wait
// cancelled by Close) is not covered by the snapshot Close takes: the next
// start replays it, and the replica it deleted stays deleted.
func TestSnapshotDoesNotCoverAnAppendWithUnknownOutcome(t *testing.T) {
	e := setup(t)
	first := e.start(t, agent.Config{Nodes: 3})
	d, _ := disk(t, first, "node-002", 0)
	e.appendVolume(t, "vol-b", &ballastv1.ReplicasAssigned{VolumeId: "vb", VolumeName: "vol-b", SizeBytes: 5 * gib,
		Replicas: []*ballastv1.Replica{replica("rb", "node-002", d)}})
	waitEvents[*ballastv1.ReplicaProvisioned](t, e, "node-002", 1)
	if err := agent.DeleteLosingAck(first, "node-002", "rb", "vb"); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	second := e.start(t, agent.Config{Nodes: 3})
	n2, _ := second.SimNode("node-002")
	if r := n2.Replicas(); len(r) != 0 {
		t.Fatalf("node-002 holds %+v after a restart, though its history deletes rb", r)
	}
	if used := n2.Disks()[0].UsedBytes; used != 0 {
		t.Fatalf("node-002 disk 0 uses %d bytes after a restart, want 0", used)
	}
}

func TestReplicasAssignedProvisionsOurReplicas(t *testing.T) {
	e := setup(t)
	a := e.start(t, agent.Config{Nodes: 6})
	d1, _ := disk(t, a, "node-001", 0)
	d2, _ := disk(t, a, "node-002", 1)
	assigned := &ballastv1.ReplicasAssigned{
		VolumeId: "vid-a", VolumeName: "vol-a", SizeBytes: 8 * gib,
		Replicas: []*ballastv1.Replica{
			replica("r1", "node-001", d1),
			replica("r2", "node-002", d2),
			replica("r3", "node-999", "node-999-d0"), // another agent's
		},
	}
	e.appendVolume(t, "vol-a", assigned)

	for _, w := range []struct{ node, replica, disk string }{{"node-001", "r1", d1}, {"node-002", "r2", d2}} {
		got := waitEvents[*ballastv1.ReplicaProvisioned](t, e, w.node, 1)[0]
		want := &ballastv1.ReplicaProvisioned{NodeId: w.node, ReplicaId: w.replica, VolumeId: "vid-a", VolumeName: "vol-a", DiskId: w.disk, SizeBytes: 8 * gib}
		if got.GetOccurTime() == nil {
			t.Fatalf("%s: no occur_time", w.node)
		}
		got.OccurTime = nil
		if !proto.Equal(got, want) {
			t.Fatalf("%s: got %v, want %v", w.node, got, want)
		}
		n, _ := a.SimNode(w.node)
		if r := n.Replicas(); len(r) != 1 || r[0].ID != w.replica || r[0].SizeBytes != 8*gib || r[0].DiskID != w.disk {
			t.Fatalf("%s sim replicas: %+v", w.node, r)
		}
	}
	if evs := e.nodeEvents(t, "node-999"); len(evs) != 0 {
		t.Fatalf("node-999 is not ours, got %v", evs)
	}

	// The same assignment again (a new event, so a new event id) is
	// idempotent by state.
	seq := e.appendVolume(t, "vol-a", assigned)
	e.waitHandled(t, "sim", seq)
	for _, node := range []string{"node-001", "node-002"} {
		if n := len(ofType[*ballastv1.ReplicaProvisioned](e.nodeEvents(t, node))); n != 1 {
			t.Fatalf("%s: %d ReplicaProvisioned after a repeated assignment", node, n)
		}
	}
}

func TestReplicaTooBigFailsNamingTheDisk(t *testing.T) {
	e := setup(t)
	a := e.start(t, agent.Config{Nodes: 3})
	d, capacity := disk(t, a, "node-003", 0)
	e.appendVolume(t, "vol-big", &ballastv1.ReplicasAssigned{VolumeId: "vid-big", VolumeName: "vol-big", SizeBytes: capacity + 1,
		Replicas: []*ballastv1.Replica{replica("rbig", "node-003", d)}})

	got := waitEvents[*ballastv1.ReplicaProvisionFailed](t, e, "node-003", 1)[0]
	if got.GetReplicaId() != "rbig" || got.GetVolumeId() != "vid-big" || got.GetVolumeName() != "vol-big" ||
		got.GetDiskId() != d || got.GetNodeId() != "node-003" || got.GetOccurTime() == nil {
		t.Fatalf("failure event: %v", got)
	}
	if r := got.GetReason(); !strings.Contains(r, d) || !strings.Contains(r, "1 bytes short") {
		t.Fatalf("reason %q does not name disk %s and the shortfall", r, d)
	}
	if n := len(ofType[*ballastv1.ReplicaProvisioned](e.nodeEvents(t, "node-003"))); n != 0 {
		t.Fatalf("%d ReplicaProvisioned for a replica that does not fit", n)
	}
	n, _ := a.SimNode("node-003")
	if r := n.Replicas(); len(r) != 0 {
		t.Fatalf("sim holds %+v", r)
	}
}

// The agents grow a volume's replicas when the resize is approved; a log
// written before the approval was recorded has only VolumeResized, which
// still grows them.
func TestAResizeExpandsOurReplicas(t *testing.T) {
	for _, c := range []struct {
		name   string
		resize func(id, name string, size uint64) proto.Message
	}{
		{"approved", func(id, name string, size uint64) proto.Message {
			return &ballastv1.VolumeResizeApproved{VolumeId: id, VolumeName: name, SizeBytes: size}
		}},
		{"resized, in an older log", func(id, name string, size uint64) proto.Message {
			return &ballastv1.VolumeResized{VolumeId: id, VolumeName: name, SizeBytes: size}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := setup(t)
			a := e.start(t, agent.Config{Nodes: 3})
			d1, _ := disk(t, a, "node-001", 0)
			d2, _ := disk(t, a, "node-002", 0)
			e.appendVolume(t, "vol-a", &ballastv1.ReplicasAssigned{VolumeId: "vid-a", VolumeName: "vol-a", SizeBytes: 4 * gib,
				Replicas: []*ballastv1.Replica{replica("r1", "node-001", d1), replica("r2", "node-002", d2)}})
			waitEvents[*ballastv1.ReplicaProvisioned](t, e, "node-001", 1)
			waitEvents[*ballastv1.ReplicaProvisioned](t, e, "node-002", 1)

			e.appendVolume(t, "vol-a", c.resize("vid-a", "vol-a", 6*gib))
			for _, w := range []struct{ node, replica string }{{"node-001", "r1"}, {"node-002", "r2"}} {
				got := waitEvents[*ballastv1.ReplicaExpanded](t, e, w.node, 1)[0]
				got.OccurTime = nil
				want := &ballastv1.ReplicaExpanded{NodeId: w.node, ReplicaId: w.replica, VolumeId: "vid-a", VolumeName: "vol-a", SizeBytes: 6 * gib}
				if !proto.Equal(got, want) {
					t.Fatalf("got %v, want %v", got, want)
				}
				n, _ := a.SimNode(w.node)
				if r := n.Replicas(); r[0].SizeBytes != 6*gib || n.Disks()[0].UsedBytes != 6*gib {
					t.Fatalf("%s after resize: %+v, disks %+v", w.node, r, n.Disks())
				}
			}

			// The completion that follows an approval grows nothing more;
			// another volume's resize does not touch ours.
			e.appendVolume(t, "vol-a", &ballastv1.VolumeResized{VolumeId: "vid-a", VolumeName: "vol-a", SizeBytes: 6 * gib, ReplicaId: "r2", NodeId: "node-002"})
			seq := e.appendVolume(t, "vol-x", c.resize("vid-x", "vol-x", 9*gib))
			e.waitHandled(t, "sim", seq)
			for _, node := range []string{"node-001", "node-002"} {
				if n := len(ofType[*ballastv1.ReplicaExpanded](e.nodeEvents(t, node))); n != 1 {
					t.Fatalf("%s has %d ReplicaExpanded", node, n)
				}
			}
		})
	}
}

func TestVolumeDeleteRequestedDeletesAndFreesCapacity(t *testing.T) {
	e := setup(t)
	a := e.start(t, agent.Config{Nodes: 3})
	d1, capacity1 := disk(t, a, "node-001", 0)
	d2, _ := disk(t, a, "node-002", 0)
	d3, _ := disk(t, a, "node-003", 0)
	replicas := []*ballastv1.Replica{replica("r1", "node-001", d1), replica("r2", "node-002", d2)}
	e.appendVolume(t, "vol-a", &ballastv1.ReplicasAssigned{VolumeId: "vid-a", VolumeName: "vol-a", SizeBytes: 3 * gib, Replicas: replicas})
	waitEvents[*ballastv1.ReplicaProvisioned](t, e, "node-001", 1)
	waitEvents[*ballastv1.ReplicaProvisioned](t, e, "node-002", 1)

	// r3 was assigned to node-003 but never reached it: its deletion must
	// still be reported.
	del := &ballastv1.VolumeDeleteRequested{VolumeId: "vid-a", VolumeName: "vol-a",
		Replicas: append(replicas, replica("r3", "node-003", d3))}
	e.appendVolume(t, "vol-a", del)
	for _, w := range []struct{ node, replica string }{{"node-001", "r1"}, {"node-002", "r2"}, {"node-003", "r3"}} {
		got := waitEvents[*ballastv1.ReplicaDeleted](t, e, w.node, 1)[0]
		got.OccurTime = nil
		want := &ballastv1.ReplicaDeleted{NodeId: w.node, ReplicaId: w.replica, VolumeId: "vid-a", VolumeName: "vol-a"}
		if !proto.Equal(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	n1, _ := a.SimNode("node-001")
	if ds := n1.Disks()[0]; ds.UsedBytes != 0 || ds.FreeBytes != capacity1 || len(n1.Replicas()) != 0 {
		t.Fatalf("node-001 after delete: %+v, replicas %+v", ds, n1.Replicas())
	}

	// A repeated delete and a late assignment change nothing.
	e.appendVolume(t, "vol-a", del)
	seq := e.appendVolume(t, "vol-a", &ballastv1.ReplicasAssigned{VolumeId: "vid-a", VolumeName: "vol-a", SizeBytes: 3 * gib, Replicas: replicas})
	e.waitHandled(t, "sim", seq)
	for _, node := range []string{"node-001", "node-002", "node-003"} {
		evs := e.nodeEvents(t, node)
		if n := len(ofType[*ballastv1.ReplicaDeleted](evs)); n != 1 {
			t.Fatalf("%s: %d ReplicaDeleted", node, n)
		}
		if n := len(ofType[*ballastv1.ReplicaProvisioned](evs)); node != "node-003" && n != 1 {
			t.Fatalf("%s: %d ReplicaProvisioned", node, n)
		}
	}
	if len(n1.Replicas()) != 0 {
		t.Fatalf("a late assignment recreated %+v", n1.Replicas())
	}
}

// Another writer on a node's history makes the agent's expected sequence
// stale; the append is retried after the new last event.
func TestAppendRetriesAfterConflict(t *testing.T) {
	e := setup(t)
	a := e.start(t, agent.Config{Nodes: 3})
	ctx := context.Background()
	_, last, err := e.store.Load(ctx, events.Node.Stream, events.Node.Subject("node-001"))
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := events.Encode("test/foreign", &ballastv1.ReplicaProvisionFailed{NodeId: "node-001", ReplicaId: "elsewhere", Reason: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Append(ctx, events.Node.Subject("node-001"), last, foreign); err != nil {
		t.Fatal(err)
	}

	d, _ := disk(t, a, "node-001", 0)
	e.appendVolume(t, "vol-a", &ballastv1.ReplicasAssigned{VolumeId: "vid-a", VolumeName: "vol-a", SizeBytes: gib,
		Replicas: []*ballastv1.Replica{replica("r1", "node-001", d)}})
	waitEvents[*ballastv1.ReplicaProvisioned](t, e, "node-001", 1)
	if !e.logs.has("node history moved under us; retrying") {
		t.Fatal("the append met no conflict")
	}
}

func TestTelemetryForEveryNode(t *testing.T) {
	e := setup(t)
	a := e.start(t, agent.Config{Nodes: 12, TelemetryInterval: 50 * time.Millisecond})
	ctx := context.Background()
	d, capacity := disk(t, a, "node-001", 0)
	e.appendVolume(t, "vol-a", &ballastv1.ReplicasAssigned{VolumeId: "vid-a", VolumeName: "vol-a", SizeBytes: 2 * gib,
		Replicas: []*ballastv1.Replica{replica("r1", "node-001", d)}})

	stream, err := e.conn.JS.Stream(ctx, events.TelemetryStream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := stream.CachedInfo().Config
	if cfg.MaxAge != 15*time.Minute || cfg.MaxMsgsPerSubject != 120 || cfg.Discard != jetstream.DiscardOld ||
		!slices.Equal(cfg.Subjects, []string{events.TelemetryFilter}) {
		t.Fatalf("telemetry stream config: %+v", cfg)
	}
	waitFor(t, "telemetry of every node", func() bool {
		info, err := stream.Info(ctx, jetstream.WithSubjectFilter(events.TelemetryFilter))
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range a.Nodes() {
			if info.State.Subjects[events.TelemetrySubject(id)] == 0 {
				return false
			}
		}
		return true
	})

	// The replica shows in node-001's telemetry once it is provisioned.
	var got ballastv1.NodeTelemetry
	waitFor(t, "telemetry with replica r1", func() bool {
		m, err := stream.GetLastMsgForSubject(ctx, events.TelemetrySubject("node-001"))
		if err != nil {
			t.Fatal(err)
		}
		if err := proto.Unmarshal(m.Data, &got); err != nil {
			t.Fatal(err)
		}
		return len(got.GetReplicas()) == 1
	})
	n, _ := a.SimNode("node-001")
	r := got.GetReplicas()[0]
	if got.GetNodeId() != "node-001" || got.GetSampleTime() == nil || len(got.GetDisks()) != len(n.Spec().Disks) ||
		r.GetReplicaId() != "r1" || r.GetVolumeId() != "vid-a" || r.GetDiskId() != d {
		t.Fatalf("telemetry: %v", &got)
	}
	if d0 := got.GetDisks()[0]; d0.GetDiskId() != d || d0.GetCapacityBytes() != capacity || d0.GetUsedBytes() != 2*gib {
		t.Fatalf("disk telemetry: %v", d0)
	}
}

// A restart from the agent's snapshot and one from the log alone rebuild
// the same nodes; the snapshot one replays none of the history it covers.
func TestRestartFromASnapshotMatchesTheLog(t *testing.T) {
	e := setup(t)
	first := e.start(t, agent.Config{Nodes: 6})
	for i := range 6 {
		node := fmt.Sprintf("node-%03d", i+1)
		d, _ := disk(t, first, node, 0)
		e.appendVolume(t, fmt.Sprintf("vol-%d", i), &ballastv1.ReplicasAssigned{VolumeId: fmt.Sprintf("v%d", i), VolumeName: fmt.Sprintf("vol-%d", i), SizeBytes: gib,
			Replicas: []*ballastv1.Replica{replica(fmt.Sprintf("r%d", i), node, d)}})
		waitEvents[*ballastv1.ReplicaProvisioned](t, e, node, 1)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	replicas := func(a *agent.Agent) map[string][]sim.Replica {
		out := map[string][]sim.Replica{}
		for _, id := range a.Nodes() {
			n, _ := a.SimNode(id)
			out[id] = n.Replicas()
		}
		return out
	}
	fromSnapshot := e.start(t, agent.Config{Nodes: 6})
	want := replicas(fromSnapshot)
	if err := fromSnapshot.Close(); err != nil {
		t.Fatal(err)
	}
	obs, err := e.conn.JS.ObjectStore(context.Background(), snapshot.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := obs.GetInfo(context.Background(), "agent-sim"); err != nil {
		t.Fatalf("the agent left no snapshot: %v", err)
	}
	if err := obs.Delete(context.Background(), "agent-sim"); err != nil {
		t.Fatal(err)
	}
	fromLog := e.start(t, agent.Config{Nodes: 6})
	got := replicas(fromLog)
	for id, rs := range want {
		if len(rs) != 1 || !slices.Equal(got[id], rs) {
			t.Fatalf("node %s: from the snapshot %+v, from the log %+v", id, rs, got[id])
		}
	}
}

// What an agent does to each replica is routine: DEBUG, not one INFO line
// per replica (three per volume), which would bury what an operator needs.
func TestRoutineReplicaWorkLogsAtDebug(t *testing.T) {
	e := setup(t)
	a := e.start(t, agent.Config{Nodes: 3})
	before := len(e.logs.at(slog.LevelInfo))
	var replicas []*ballastv1.Replica
	for i, node := range []string{"node-001", "node-002", "node-003"} {
		d, _ := disk(t, a, node, 0)
		replicas = append(replicas, replica(fmt.Sprintf("r%d", i), node, d))
	}
	e.appendVolume(t, "vol", &ballastv1.ReplicasAssigned{VolumeId: "vid", VolumeName: "vol", SizeBytes: gib, Replicas: replicas})
	for _, r := range replicas {
		waitEvents[*ballastv1.ReplicaProvisioned](t, e, r.GetNodeId(), 1)
	}
	e.appendVolume(t, "vol", &ballastv1.VolumeResizeApproved{VolumeId: "vid", VolumeName: "vol", SizeBytes: 2 * gib})
	for _, r := range replicas {
		waitEvents[*ballastv1.ReplicaExpanded](t, e, r.GetNodeId(), 1)
	}
	seq := e.appendVolume(t, "vol", &ballastv1.VolumeDeleteRequested{VolumeId: "vid", VolumeName: "vol", Replicas: replicas})
	for _, r := range replicas {
		waitEvents[*ballastv1.ReplicaDeleted](t, e, r.GetNodeId(), 1)
	}
	e.waitHandled(t, "sim", seq)
	if got := e.logs.at(slog.LevelInfo)[before:]; len(got) != 0 {
		t.Fatalf("routine replica work logged at INFO or above: %q", got)
	}
	// Still there for whoever asks for DEBUG.
	debug := e.logs.at(slog.LevelDebug)
	for _, msg := range []string{"replica provisioned", "replica expanded", "replica deleted"} {
		if n := countOf(debug, msg); n != 3 {
			t.Errorf("%q logged %d times at DEBUG, want 3", msg, n)
		}
	}
}

func countOf(msgs []string, msg string) int {
	n := 0
	for _, m := range msgs {
		if m == msg {
			n++
		}
	}
	return n
}

// Nodes added to a running agent register, take replicas, and stay in the
// fleet when the agent restarts with its configured --nodes, from its
// snapshot or from the log alone: dropping them would leave them silent,
// then down, and their replicas lost.
func TestGrownNodesRegisterAndSurviveRestarts(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	first := e.start(t, agent.Config{Nodes: 3})
	added, err := first.Grow(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(added, []string{"node-004", "node-005"}) || len(first.Nodes()) != 5 {
		t.Fatalf("grew by %v to %v", added, first.Nodes())
	}
	for _, id := range added {
		if regs := ofType[*ballastv1.NodeRegistered](e.nodeEvents(t, id)); len(regs) != 1 || regs[0].GetAgent() != "sim" {
			t.Fatalf("%s has registrations %v", id, regs)
		}
	}
	if _, err := first.Grow(ctx, 0); err == nil {
		t.Fatal("growing by 0 nodes succeeded")
	}
	d, _ := disk(t, first, "node-005", 0)
	e.appendVolume(t, "vol-j", &ballastv1.ReplicasAssigned{VolumeId: "vj", VolumeName: "vol-j", SizeBytes: 5 * gib,
		Replicas: []*ballastv1.Replica{replica("rj", "node-005", d)}})
	waitEvents[*ballastv1.ReplicaProvisioned](t, e, "node-005", 1)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	restart := func(how string) {
		t.Helper()
		before, _ := e.store.LastSequence(ctx, events.Node.Stream)
		a := e.start(t, agent.Config{Nodes: 3})
		defer a.Close()
		if got := a.Nodes(); len(got) != 5 {
			t.Fatalf("restarted %s with --nodes 3, the agent has %v", how, got)
		}
		n, _ := a.SimNode("node-005")
		if r := n.Replicas(); len(r) != 1 || r[0].ID != "rj" {
			t.Fatalf("restarted %s, node-005 holds %+v", how, r)
		}
		if after, _ := e.store.LastSequence(ctx, events.Node.Stream); after != before {
			t.Fatalf("restarted %s, the agent appended %d node events", how, after-before)
		}
	}
	restart("from its snapshot")
	// A snapshot no reader knows is not used: the log alone rebuilds.
	if err := snapshot.NewStore(e.conn.JS).Save(ctx, "agent-sim", snapshot.Snapshot{Format: "unknown", Sequences: map[string]uint64{}, Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	restart("from the log")
}
