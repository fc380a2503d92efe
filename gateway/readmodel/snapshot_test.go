package readmodel_test

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	"ballast.dev/gateway/readmodel"
	"ballast.dev/platform/events"
	ballastv1 "ballast.dev/proto/ballast/v1"
)

func vev(seq uint64, m proto.Message, name string) readmodel.Event {
	return readmodel.Event{Stream: events.Volume.Stream, Subject: events.Volume.Subject(name), Sequence: seq, Type: string(proto.MessageName(m)), Message: m}
}

// A snapshot restores the read model exactly, with the sequences it covers,
// so that feeding resumes after them.
func TestVolumesSnapshotRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := readmodel.NewMemoryVolumes()
	seq := uint64(0)
	apply := func(name string, m proto.Message) {
		t.Helper()
		seq++
		if err := s.Apply(ctx, vev(seq, m, name)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 50 {
		name := fmt.Sprintf("v%02d", i)
		apply(name, &ballastv1.VolumeRequested{VolumeId: "id-" + name, VolumeName: name, SizeBytes: 1 << 30})
		if i%5 == 0 {
			apply(name, &ballastv1.VolumeDeleted{VolumeId: "id-" + name, VolumeName: name})
		}
	}
	snap, err := s.Take()
	if err != nil {
		t.Fatal(err)
	}
	if snap.Sequences[events.Volume.Stream] != seq {
		t.Fatalf("snapshot covers %v, want %d", snap.Sequences, seq)
	}
	r := readmodel.NewMemoryVolumes()
	if err := r.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.Applied(ctx, events.Volume.Stream); got != seq {
		t.Fatalf("restored store applied %d, want %d", got, seq)
	}
	want, wantN, _ := s.Volumes(ctx, "", 1000)
	got, gotN, _ := r.Volumes(ctx, "", 1000)
	if gotN != wantN || len(got) != len(want) {
		t.Fatalf("restored %d volumes, want %d", gotN, wantN)
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Fatalf("volume %d: %v, want %v", i, got[i], want[i])
		}
	}
	if _, err := r.Incarnation(ctx, "id-v05"); err != nil {
		t.Fatalf("deleted incarnation lost: %v", err)
	}
	// Feeding resumes after the snapshot: an event it covers is ignored,
	// the next one applied.
	if err := r.Apply(ctx, vev(seq, &ballastv1.VolumeDeleted{VolumeId: "id-v01", VolumeName: "v01"}, "v01")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Volume(ctx, "v01"); err != nil {
		t.Fatal("an event the snapshot covers was applied again")
	}
	if err := r.Apply(ctx, vev(seq+1, &ballastv1.VolumeDeleted{VolumeId: "id-v01", VolumeName: "v01"}, "v01")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Volume(ctx, "v01"); err == nil {
		t.Fatal("the event after the snapshot was not applied")
	}
	if r.Events() != 1 {
		t.Fatalf("restored store counts %d events applied, want 1", r.Events())
	}
}

func TestNodesSnapshotRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := readmodel.NewMemoryNodes()
	nseq, pseq := uint64(0), uint64(0)
	node := func(m proto.Message, id string) {
		nseq++
		if err := s.Apply(ctx, readmodel.Event{Stream: events.Node.Stream, Subject: events.Node.Subject(id), Sequence: nseq, Message: m}); err != nil {
			t.Fatal(err)
		}
	}
	place := func(m proto.Message, id string) {
		pseq++
		if err := s.Apply(ctx, readmodel.Event{Stream: events.Placement.Stream, Subject: events.Placement.Subject(id), Sequence: pseq, Message: m}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		id := fmt.Sprintf("n%d", i)
		node(&ballastv1.NodeRegistered{NodeId: id, Zone: "z", Region: "r", Disks: []*ballastv1.Disk{{Id: "d0", Tier: ballastv1.Tier_TIER_SSD, CapacityBytes: 100 << 30}}}, id)
	}
	place(&ballastv1.PlacementDecided{VolumeId: "v1", SizeBytes: 1 << 30, Placements: []*ballastv1.ReplicaPlacement{
		{ReplicaId: "r1", NodeId: "n0", DiskId: "d0"}, {ReplicaId: "r2", NodeId: "n1", DiskId: "d0"}}}, "v1")
	node(&ballastv1.ReplicaProvisioned{NodeId: "n0", ReplicaId: "r1", DiskId: "d0", SizeBytes: 1 << 30}, "n0")
	snap, err := s.Take()
	if err != nil {
		t.Fatal(err)
	}
	r := readmodel.NewMemoryNodes()
	if err := r.Restore(snap); err != nil {
		t.Fatal(err)
	}
	want, _, _ := s.Nodes(ctx, "", 10)
	got, _, _ := r.Nodes(ctx, "", 10)
	if len(got) != 3 {
		t.Fatalf("%d nodes restored", len(got))
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Fatalf("node %d: %v, want %v", i, got[i], want[i])
		}
	}
	if got[0].GetDisks()[0].GetReservedBytes() != 1<<30 || got[0].GetReplicaCount() != 1 {
		t.Fatalf("tallies lost: %v", got[0])
	}
}
