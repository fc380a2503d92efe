package readmodel

import (
	"context"
	"testing"

	"ballast.dev/platform/events"
	ballastv1 "ballast.dev/proto/ballast/v1"
)

// Watches come and go by the hundred thousand (one per create a CSI driver
// waits on): a name nobody waits on any more holds nothing.
func TestFinishedWatchesHoldNothing(t *testing.T) {
	s := NewMemoryVolumes()
	ctx := context.Background()
	for i, name := range []string{"a", "b"} {
		ev := Event{Subject: events.Volume.Subject(name), Stream: events.Volume.Stream, Sequence: uint64(i + 1),
			Message: &ballastv1.VolumeRequested{VolumeId: "id-" + name, VolumeName: name}}
		if err := s.Apply(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	_, doneA := s.VolumeChanged("a")
	_, doneA2 := s.VolumeChanged("a")
	_, doneB := s.VolumeChanged("b")
	doneA()
	doneA() // twice is once
	if len(s.changed) != 2 {
		t.Fatalf("%d names waited on, want 2: a has one waiter left", len(s.changed))
	}
	doneA2()
	doneB()
	if len(s.changed) != 0 {
		t.Fatalf("%d names waited on after every waiter left, want 0", len(s.changed))
	}
}
