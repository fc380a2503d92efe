package gateway_test

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"ballast.dev/platform/events"
	ballastv1 "ballast.dev/proto/ballast/v1"
)

func TestWatchEventsLive(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.log.volume("old", requested("old-id", "old", gib, 0)) // before the watch: not sent

	stream, err := e.events.WatchEvents(testCtx(t), &ballastv1.WatchEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// Headers mean the consumers are in place.
	if _, err := stream.Header(); err != nil {
		t.Fatal(err)
	}
	vseq := e.log.volume("new", requested("new-id", "new", gib, 1))
	e.log.append(events.Metrics, "n1", &ballastv1.NodeLoadSummarized{NodeId: "n1"}) // not watched by default
	nseq := e.log.append(events.Node, "n1", &ballastv1.NodeRegistered{NodeId: "n1", Zone: "z"})

	got := map[string]*ballastv1.Event{}
	for len(got) < 2 {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		got[resp.GetEvent().GetType()] = resp.GetEvent()
	}
	ev := got["ballast.v1.VolumeRequested"]
	if ev.GetStream() != events.Volume.Stream || ev.GetSubject() != "ballast.evt.volume.new" || ev.GetSequence() != vseq ||
		ev.GetCorrelationId() != "corr-new" || ev.GetAppendTime() == nil {
		t.Fatalf("volume event %v", ev)
	}
	m, err := ev.GetPayload().UnmarshalNew()
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(m, requested("new-id", "new", gib, 1)) {
		t.Fatalf("payload %v", m)
	}
	nev := got["ballast.v1.NodeRegistered"]
	if nev.GetSequence() != nseq || nev.GetStream() != events.Node.Stream {
		t.Fatalf("node event %v", nev)
	}
	reg := &ballastv1.NodeRegistered{}
	if err := nev.GetPayload().UnmarshalTo(reg); err != nil || reg.GetZone() != "z" {
		t.Fatalf("node payload %v %v", reg, err)
	}
	if _, ok := got["ballast.v1.NodeLoadSummarized"]; ok {
		t.Fatal("metrics sent without being asked for")
	}
}

func TestWatchEventsFromStart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := range 3 {
		e.log.append(events.Metrics, "n1", &ballastv1.NodeLoadSummarized{NodeId: "n1", Samples: uint32(i)})
	}
	stream, err := e.events.WatchEvents(testCtx(t), &ballastv1.WatchEventsRequest{Aggregates: []string{"metrics"}, FromStart: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		m := &ballastv1.NodeLoadSummarized{}
		if err := resp.GetEvent().GetPayload().UnmarshalTo(m); err != nil || m.GetSamples() != uint32(i) {
			t.Fatalf("event %d: %v %v", i, m, err)
		}
	}

	bad, err := e.events.WatchEvents(testCtx(t), &ballastv1.WatchEventsRequest{Aggregates: []string{"volume", "bogus"}})
	if err == nil {
		_, err = bad.Recv()
	}
	wantCode(t, err, codes.InvalidArgument, "bogus")
}
