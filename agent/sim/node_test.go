package sim

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
)

// testSpec is a node with a 1000-byte ssd and a 5000-byte hdd, small enough
// that capacity figures are easy to read.
func testSpec() NodeSpec {
	return NodeSpec{
		ID: "node-001", Zone: "zone-a", Region: "region-1",
		Disks: []DiskSpec{
			{ID: "node-001-d0", Tier: TierSSD, CapacityBytes: 1000, MaxReadIOPS: 90_000, MaxWriteIOPS: 70_000, MaxThroughputBps: 550e6, BaseLatency: 200 * time.Microsecond},
			{ID: "node-001-d1", Tier: TierHDD, CapacityBytes: 5000, MaxReadIOPS: 200, MaxWriteIOPS: 200, MaxThroughputBps: 250e6, BaseLatency: 5 * time.Millisecond},
		},
	}
}

// fataler is what both *testing.T and *rapid.T offer.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

func mustNode(t fataler, spec NodeSpec, seed int64) *Node {
	t.Helper()
	n, err := NewNode(spec, seed)
	if err != nil {
		t.Fatalf("NewNode: %v", err)
	}
	return n
}

func TestCapacityAccounting(t *testing.T) {
	type op struct {
		do      string // create, resize, delete
		replica string
		disk    string
		size    uint64
		wantErr error
		wantMsg []string // substrings of the error
	}
	create := func(r, disk string, size uint64) op { return op{do: "create", replica: r, disk: disk, size: size} }
	resize := func(r string, size uint64) op { return op{do: "resize", replica: r, size: size} }
	del := func(r string) op { return op{do: "delete", replica: r} }
	fails := func(o op, err error, msg ...string) op { o.wantErr, o.wantMsg = err, msg; return o }
	const ssd, hdd = "node-001-d0", "node-001-d1"

	tests := []struct {
		name     string
		ops      []op
		wantUsed [2]uint64
	}{
		{name: "create", ops: []op{create("r1", ssd, 400), create("r2", hdd, 5000)}, wantUsed: [2]uint64{400, 5000}},
		{name: "create fills disk exactly", ops: []op{create("r1", ssd, 600), create("r2", ssd, 400)}, wantUsed: [2]uint64{1000, 0}},
		{name: "create is idempotent", ops: []op{create("r1", ssd, 400), create("r1", ssd, 400)}, wantUsed: [2]uint64{400, 0}},
		{name: "create without room names disk and figures",
			ops:      []op{create("r1", ssd, 700), fails(create("r2", ssd, 301), ErrInsufficientCapacity, "r2", ssd, "300 bytes free", "needs 301")},
			wantUsed: [2]uint64{700, 0}},
		{name: "create on unknown disk", ops: []op{fails(create("r1", "node-001-d9", 1), ErrUnknownDisk, "node-001-d9")}},
		{name: "create conflicting size", ops: []op{create("r1", ssd, 400), fails(create("r1", ssd, 500), ErrReplicaConflict, "r1")}, wantUsed: [2]uint64{400, 0}},
		{name: "create conflicting disk", ops: []op{create("r1", ssd, 400), fails(create("r1", hdd, 400), ErrReplicaConflict, ssd, hdd)}, wantUsed: [2]uint64{400, 0}},
		{name: "create zero size", ops: []op{fails(create("r1", ssd, 0), ErrInvalid)}},
		{name: "resize grows", ops: []op{create("r1", ssd, 400), resize("r1", 900)}, wantUsed: [2]uint64{900, 0}},
		{name: "resize to same size", ops: []op{create("r1", ssd, 400), resize("r1", 400)}, wantUsed: [2]uint64{400, 0}},
		{name: "resize cannot shrink", ops: []op{create("r1", ssd, 400), fails(resize("r1", 399), ErrShrink, "400", "399")}, wantUsed: [2]uint64{400, 0}},
		{name: "resize without room names disk and growth",
			ops:      []op{create("r1", ssd, 400), create("r2", ssd, 500), fails(resize("r1", 600), ErrInsufficientCapacity, ssd, "100 bytes free", "needs 200")},
			wantUsed: [2]uint64{900, 0}},
		{name: "resize unknown replica", ops: []op{fails(resize("r9", 10), ErrUnknownReplica, "r9")}},
		{name: "delete frees space", ops: []op{create("r1", ssd, 400), create("r2", hdd, 100), del("r1")}, wantUsed: [2]uint64{0, 100}},
		{name: "delete is idempotent", ops: []op{create("r1", ssd, 400), del("r1"), del("r1"), del("never")}, wantUsed: [2]uint64{0, 0}},
		{name: "space reused after delete", ops: []op{create("r1", ssd, 1000), del("r1"), create("r2", ssd, 1000)}, wantUsed: [2]uint64{1000, 0}},
		{name: "recreate after delete with new size", ops: []op{create("r1", ssd, 400), del("r1"), create("r1", hdd, 800)}, wantUsed: [2]uint64{0, 800}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := mustNode(t, testSpec(), 1)
			for i, o := range tt.ops {
				var err error
				switch o.do {
				case "create":
					err = n.CreateReplica(o.replica, "vol-"+o.replica, o.disk, o.size)
				case "resize":
					err = n.ResizeReplica(o.replica, o.size)
				case "delete":
					err = n.DeleteReplica(o.replica)
				}
				if !errors.Is(err, o.wantErr) || (o.wantErr == nil) != (err == nil) {
					t.Fatalf("op %d (%s %s): error %v, want %v", i, o.do, o.replica, err, o.wantErr)
				}
				for _, m := range o.wantMsg {
					if !strings.Contains(err.Error(), m) {
						t.Errorf("op %d: error %q does not mention %q", i, err, m)
					}
				}
			}
			disks := n.Disks()
			var fromReplicas [2]uint64
			for _, r := range n.Replicas() {
				fromReplicas[n.diskIdx[r.DiskID]] += r.SizeBytes
			}
			for i, d := range disks {
				if d.UsedBytes != tt.wantUsed[i] || d.FreeBytes != d.CapacityBytes-tt.wantUsed[i] {
					t.Errorf("disk %s: used %d free %d, want used %d", d.ID, d.UsedBytes, d.FreeBytes, tt.wantUsed[i])
				}
				if fromReplicas[i] != d.UsedBytes {
					t.Errorf("disk %s: replicas add up to %d, disk says %d", d.ID, fromReplicas[i], d.UsedBytes)
				}
			}
		})
	}
}

func TestCapacityErrorFigures(t *testing.T) {
	n := mustNode(t, testSpec(), 1)
	err := n.CreateReplica("r1", "v1", "node-001-d1", 6000)
	var ce *CapacityError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v is not a *CapacityError", err)
	}
	if ce.DiskID != "node-001-d1" || ce.FreeBytes != 5000 || ce.NeedBytes != 6000 {
		t.Errorf("got %+v", *ce)
	}
}

func TestReplicasSortedAndCounted(t *testing.T) {
	n := mustNode(t, testSpec(), 1)
	for _, id := range []string{"r3", "r1", "r2", "r0"} {
		if err := n.CreateReplica(id, "v", "node-001-d1", 10); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.DeleteReplica("r2"); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range n.Replicas() {
		ids = append(ids, r.ID)
	}
	if got := strings.Join(ids, ","); got != "r0,r1,r3" {
		t.Errorf("replicas %s, want r0,r1,r3", got)
	}
	if d := n.Disks(); d[0].Replicas != 0 || d[1].Replicas != 3 {
		t.Errorf("replica counts %d, %d; want 0, 3", d[0].Replicas, d[1].Replicas)
	}
}

func TestSpecIsCopied(t *testing.T) {
	spec := GenerateFleet(FleetConfig{Seed: 1, Nodes: 1})[0]
	n := mustNode(t, spec, 1)
	spec.Disks[0].CapacityBytes = 1
	spec.Labels[LabelZone] = "elsewhere"
	got := n.Spec()
	if got.Disks[0].CapacityBytes == 1 || got.Labels[LabelZone] == "elsewhere" {
		t.Fatal("changing the caller's spec changed the node")
	}
	got.Disks[0].CapacityBytes = 1
	if n.Disks()[0].CapacityBytes == 1 {
		t.Fatal("changing the returned spec changed the node")
	}
}

func TestHotspotAndWorkloadErrors(t *testing.T) {
	n := mustNode(t, testSpec(), 1)
	if err := n.CreateReplica("r1", "v", "node-001-d0", 1); err != nil {
		t.Fatal(err)
	}
	until := time.Unix(100, 0)
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"hotspot on unknown replica", n.InjectHotspot("r9", 2, until), ErrUnknownReplica},
		{"zero factor", n.InjectHotspot("r1", 0, until), ErrInvalid},
		{"NaN factor", n.InjectHotspot("r1", math.NaN(), until), ErrInvalid},
		{"workload of unknown replica", n.SetWorkload("r9", Workload{Kind: Steady, IOSizeBytes: 4096}), ErrUnknownReplica},
		{"workload of unknown kind", n.SetWorkload("r1", Workload{Kind: "chaotic", IOSizeBytes: 4096}), ErrInvalid},
		{"negative IOPS", n.SetWorkload("r1", Workload{Kind: Steady, ReadIOPS: -1, IOSizeBytes: 4096}), ErrInvalid},
		{"burst factor below one", n.SetWorkload("r1", Workload{Kind: Bursty, BurstFactor: 0.5, IOSizeBytes: 4096}), ErrInvalid},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, tt.want) {
			t.Errorf("%s: error %v, want %v", tt.name, tt.err, tt.want)
		}
	}
}

// The race detector checks that every method may be called concurrently.
func TestNodeConcurrentUse(t *testing.T) {
	spec := GenerateFleet(FleetConfig{Seed: 9, Nodes: 1})[0]
	n := mustNode(t, spec, 9)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				id := fmt.Sprintf("r-%d-%d", g, i%10)
				_ = n.CreateReplica(id, "v", spec.Disks[i%len(spec.Disks)].ID, 1<<30)
				_ = n.ResizeReplica(id, 2<<30)
				_ = n.InjectHotspot(id, 3, time.Unix(int64(i), 0))
				_ = n.Sample(time.Unix(int64(i), 0))
				_ = n.Replicas()
				_ = n.Disks()
				if i%3 == 0 {
					_ = n.DeleteReplica(id)
				}
			}
		}()
	}
	wg.Wait()
	var sum uint64
	for _, r := range n.Replicas() {
		sum += r.SizeBytes
	}
	var used uint64
	for _, d := range n.Disks() {
		used += d.UsedBytes
	}
	if sum != used {
		t.Errorf("replicas add up to %d bytes, disks say %d", sum, used)
	}
}

// The load is the volume's: a replica made elsewhere for the same volume
// (a move's target) carries the same workload, whatever its id.
func TestAVolumesReplicasShareItsWorkload(t *testing.T) {
	a := mustNode(t, testSpec(), 7)
	other := testSpec()
	other.ID, other.Disks[0].ID = "node-002", "node-002-d0"
	b := mustNode(t, other, 7)
	if err := a.CreateReplica("r-old", "vol-1", "node-001-d0", 10); err != nil {
		t.Fatal(err)
	}
	if err := b.CreateReplica("r-new", "vol-1", "node-002-d0", 10); err != nil {
		t.Fatal(err)
	}
	if wa, wb := a.Replicas()[0].Workload, b.Replicas()[0].Workload; wa != wb {
		t.Fatalf("replicas of one volume have workloads %+v and %+v", wa, wb)
	}
}
