package placement_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
	"ballast.dev/platform/natsconn"
	"ballast.dev/platform/natsserver/natstest"
	"ballast.dev/platform/snapshot"
	"ballast.dev/platform/waitfor"
	pb "ballast.dev/proto/ballast/v1"
	"ballast.dev/services/placement"
	"ballast.dev/services/placement/adapters"
)

const gib = 1 << 30

type env struct {
	t    testing.TB
	conn *natsconn.Conn
	svc  *placement.Service
	n    int
}

func start(t testing.TB) *env {
	t.Helper()
	// Three nodes, one per zone, each with one 100 GiB ssd.
	var nodes []*pb.NodeRegistered
	for i, zone := range []string{"zone-a", "zone-b", "zone-c"} {
		id := fmt.Sprintf("node-%d", i+1)
		nodes = append(nodes, &pb.NodeRegistered{NodeId: id, Zone: zone, Region: "r1",
			Disks: []*pb.Disk{{Id: id + "-d0", Tier: pb.Tier_TIER_SSD, CapacityBytes: 100 * gib}}})
	}
	return startWith(t, nodes...)
}

// startWith starts the service on a log where nodes have registered.
func startWith(t testing.TB, nodes ...*pb.NodeRegistered) *env {
	t.Helper()
	conn, err := natsconn.Dial(context.Background(), natsconn.Options{URL: natstest.Start(t), Name: "test", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	e := &env{t: t, conn: conn}
	e.register(nodes...)
	e.restart()
	return e
}

func (e *env) register(nodes ...*pb.NodeRegistered) {
	e.t.Helper()
	for _, n := range nodes {
		e.append(events.Node.Subject(n.GetNodeId()), 0, n)
	}
}

func (e *env) restart() {
	e.t.Helper()
	if e.svc != nil {
		if err := e.svc.Close(); err != nil {
			e.t.Fatal(err)
		}
	}
	svc, err := placement.Start(context.Background(), placement.Config{Conn: e.conn})
	if err != nil {
		e.t.Fatal(err)
	}
	e.svc = svc
	e.t.Cleanup(func() { _ = svc.Close() })
}

func (e *env) append(subject string, expected uint64, m proto.Message) uint64 {
	e.t.Helper()
	e.n++
	ev, err := events.Encode(fmt.Sprintf("test-%d", e.n), m)
	if err != nil {
		e.t.Fatal(err)
	}
	seq, err := e.conn.Store.Append(context.Background(), subject, expected, ev)
	if err != nil {
		e.t.Fatal(err)
	}
	return seq
}

func (e *env) request(name string, size uint64) string {
	id := fmt.Sprintf("vol-%s", name)
	e.append(events.Volume.Subject(name), 0, &pb.VolumeRequested{VolumeId: id, VolumeName: name, SizeBytes: size,
		Spec: &pb.VolumeSpec{Replicas: 3, Tier: pb.Tier_TIER_SSD, Spread: pb.Spread_SPREAD_ZONE}})
	return id
}

// decision waits for the n-th event of a volume's placement history.
func (e *env) decision(volumeID string, n int) proto.Message {
	e.t.Helper()
	var recs []eventstore.Record
	waitfor.Condition(e.t, 15*time.Second, fmt.Sprintf("placement event %d of %s", n, volumeID), func() bool {
		var err error
		recs, _, err = e.conn.Store.Load(context.Background(), events.Placement.Stream, events.Placement.Subject(volumeID))
		if err != nil {
			e.t.Fatal(err)
		}
		return len(recs) >= n
	})
	m, err := events.Decode(recs[n-1].Type, recs[n-1].Data)
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

func TestPlacesAcrossZonesAndRecordsASummary(t *testing.T) {
	e := start(t)
	d, ok := e.decision(e.request("a", 10*gib), 1).(*pb.PlacementDecided)
	if !ok {
		t.Fatalf("got %T, want PlacementDecided", d)
	}
	zones := map[string]bool{}
	for _, p := range d.GetPlacements() {
		zones[p.GetZone()] = true
	}
	if len(zones) != 3 || len(d.GetPlacements()) != 3 {
		t.Fatalf("placements %v", d.GetPlacements())
	}
	s := d.GetSummary()
	if len(d.GetCandidates()) != 0 || len(s.GetBestCandidates()) != 3 || len(s.GetScoreNames()) == 0 || s.GetNodesConsidered() != 3 {
		t.Fatalf("candidates %v, summary %v", d.GetCandidates(), s)
	}
	for _, c := range s.GetBestCandidates() {
		if !c.GetFeasible() || !c.GetChosen() || len(c.GetScores()) != len(s.GetScoreNames()) {
			t.Fatalf("candidate %v", c)
		}
	}
	want := &pb.PlacementRequest{SizeBytes: 10 * gib, Replicas: 3, Tier: pb.Tier_TIER_SSD, Spread: pb.Spread_SPREAD_ZONE}
	if !proto.Equal(s.GetRequest(), want) || s.GetModelPosition().GetNodeSequence() != 3 || s.GetOvercommit() != 1 {
		t.Fatalf("basis: request %v, model at %v, overcommit %v", s.GetRequest(), s.GetModelPosition(), s.GetOvercommit())
	}
}

// Reservations survive a restart, from the model's snapshot and from the
// log alone.
func TestReservationsSurviveRestartAndShortageIsNamed(t *testing.T) {
	for _, fromSnapshot := range []bool{true, false} {
		t.Run(map[bool]string{true: "from its snapshot", false: "from the log"}[fromSnapshot], func(t *testing.T) {
			e := start(t)
			if _, ok := e.decision(e.request("a", 60*gib), 1).(*pb.PlacementDecided); !ok {
				t.Fatal("first volume not placed")
			}
			if err := e.svc.Close(); err != nil {
				t.Fatal(err)
			}
			e.svc = nil
			obs, err := e.conn.JS.ObjectStore(context.Background(), snapshot.Bucket)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := obs.GetInfo(context.Background(), adapters.SnapshotName); err != nil {
				t.Fatalf("placement left no snapshot: %v", err)
			}
			if !fromSnapshot {
				if err := obs.Delete(context.Background(), adapters.SnapshotName); err != nil {
					t.Fatal(err)
				}
			}
			e.restart()
			// 40 GiB is left on every disk: the rebuilt model must know.
			f, ok := e.decision(e.request("b", 50*gib), 1).(*pb.PlacementFailed)
			if !ok {
				t.Fatal("a volume larger than what is left was placed")
			}
			if !strings.Contains(f.GetReason(), "ssd") || !strings.Contains(f.GetReason(), "50.0 GiB") {
				t.Fatalf("reason %q does not name what was short", f.GetReason())
			}
			if r := f.GetSummary().GetRejections(); len(r) != 1 || r[0].GetReason() != pb.RejectionReason_REJECTION_REASON_NO_ROOM ||
				r[0].GetNodes() != 3 || r[0].GetLargestFreeBytes() != 40*gib {
				t.Fatalf("rejections %v, want the 3 nodes short of room with 40 GiB free", r)
			}
			if _, ok := e.decision(e.request("c", 40*gib), 1).(*pb.PlacementDecided); !ok {
				t.Fatal("a volume that fits exactly was not placed")
			}
			// A redelivered request of a volume decided before the restart
			// is not placed again.
			if recs, _, _ := e.conn.Store.Load(context.Background(), events.Placement.Stream, events.Placement.Subject("vol-a")); len(recs) != 1 {
				t.Fatalf("vol-a has %d placement events", len(recs))
			}
		})
	}
}

func TestResizeAndRelease(t *testing.T) {
	e := start(t)
	id := e.request("a", 10*gib)
	e.decision(id, 1)
	e.append(events.Volume.Subject("a"), 1, &pb.VolumeResizeRequested{VolumeId: id, VolumeName: "a", SizeBytes: 200 * gib})
	if r, ok := e.decision(id, 2).(*pb.ResizeRejected); !ok || !strings.Contains(r.GetReason(), "node-") {
		t.Fatalf("resize beyond the disks: %v", r)
	}
	e.append(events.Volume.Subject("a"), 2, &pb.VolumeResizeRequested{VolumeId: id, VolumeName: "a", SizeBytes: 90 * gib})
	if _, ok := e.decision(id, 3).(*pb.ResizeApproved); !ok {
		t.Fatal("resize that fits was not approved")
	}
	e.append(events.Volume.Subject("a"), 3, &pb.VolumeDeleted{VolumeId: id, VolumeName: "a"})
	if _, ok := e.decision(id, 4).(*pb.CapacityReleased); !ok {
		t.Fatal("deleted volume's capacity not released")
	}
	if _, ok := e.decision(e.request("b", 100*gib), 1).(*pb.PlacementDecided); !ok {
		t.Fatal("released capacity not reusable")
	}
}

// A failed volume created again: the volume service deletes the failed
// incarnation in the same append as the new request, so placement releases
// what the failed one held before it places the new one, and the name never
// holds capacity twice.
func TestAReplacedFailedIncarnationReleasesItsReservations(t *testing.T) {
	e := start(t)
	old := e.request("a", 60*gib)
	if _, ok := e.decision(old, 1).(*pb.PlacementDecided); !ok {
		t.Fatal("first incarnation not placed")
	}
	subject := events.Volume.Subject("a")
	seq := e.append(subject, 1, &pb.VolumeFailed{VolumeId: old, VolumeName: "a", Code: 13, Reason: "disk full"})
	seq = e.append(subject, seq, &pb.VolumeDeleteRequested{VolumeId: old, VolumeName: "a"})
	seq = e.append(subject, seq, &pb.VolumeDeleted{VolumeId: old, VolumeName: "a"})
	e.append(subject, seq, &pb.VolumeRequested{VolumeId: "vol-a-2", VolumeName: "a", SizeBytes: 60 * gib,
		Spec: &pb.VolumeSpec{Replicas: 3, Tier: pb.Tier_TIER_SSD, Spread: pb.Spread_SPREAD_ZONE}})
	if _, ok := e.decision(old, 2).(*pb.CapacityReleased); !ok {
		t.Fatal("the failed incarnation's reservations were kept")
	}
	// 60 GiB fits on the 100 GiB disks only if the old 60 GiB is gone.
	if d, ok := e.decision("vol-a-2", 1).(*pb.PlacementDecided); !ok {
		t.Fatalf("new incarnation: %v", d)
	}
}
