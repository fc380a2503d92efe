package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"ballast.dev/platform/bus"
	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
	"ballast.dev/platform/waitfor"
	pb "ballast.dev/proto/ballast/v1"
)

// publish appends a raw message to subject after its last, as anyone with
// access to the bus could.
func publish(t *testing.T, js jetstream.JetStream, stream, subject, typ string, data []byte) uint64 {
	t.Helper()
	ctx := context.Background()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	if m, err := st.GetLastMsgForSubject(ctx, subject); err == nil {
		last = m.Sequence
	}
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	if typ != "" {
		msg.Header.Set(eventstore.HeaderEventType, typ)
	}
	ack, err := js.PublishMsg(ctx, msg, jetstream.WithExpectLastSequencePerSubject(last))
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

// One bad event must not brick a volume: garbage, an unknown type and a
// forged decision on the bus; the volume with the garbage refuses changes
// naming the sequence until `ballast volume repair`, everything else goes
// on, and the forged decision reserves nothing.
func TestBadEventsOnTheBus(t *testing.T) {
	p, addr := up(t, t.TempDir())
	ballast(t, addr, 0, "volume", "create", "db", "--size", "1GiB", "--replicas", "3")
	ballast(t, addr, 0, "volume", "create", "logs", "--size", "1GiB", "--replicas", "2")

	nc, err := nats.Connect(p.natsURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	bad := publish(t, js, events.Volume.Stream, events.Volume.Subject("db"), "ballast.v1.VolumeResized", []byte{0xff, 0xff, 0xff})
	publish(t, js, events.Volume.Stream, events.Volume.Subject("logs"), "ballast.v9.VolumeTeleported", []byte{0x0a, 0x01, 0x78})
	forged, _ := proto.Marshal(&pb.PlacementDecided{
		VolumeId: "someone-else", VolumeName: "logs", SizeBytes: 1 << 40,
		Placements: []*pb.ReplicaPlacement{{ReplicaId: "x", NodeId: "node-01", DiskId: "disk-0"}},
	})
	publish(t, js, events.Placement.Stream, events.Placement.Subject("forged"), "ballast.v1.PlacementDecided", forged)

	out := ballast(t, addr, 1, "volume", "delete", "db")
	if !strings.Contains(out, "FAILED_PRECONDITION") || !strings.Contains(out, fmt.Sprintf("sequence %d", bad)) || !strings.Contains(out, "ballast volume repair db") {
		t.Fatalf("delete of a damaged volume:\n%s", out)
	}
	// The unknown type is passed over: logs takes commands.
	ballast(t, addr, 0, "volume", "resize", "logs", "--size", "2GiB")

	out = ballast(t, addr, 0, "volume", "repair", "db")
	if !strings.Contains(out, fmt.Sprintf("left out 1 unreadable event (sequence %d)", bad)) || !strings.Contains(out, "ready") {
		t.Fatalf("repair:\n%s", out)
	}
	ballast(t, addr, 0, "volume", "delete", "db")
	ballast(t, addr, 0, "volume", "delete", "logs")

	// The forged decision reserved nothing: with both volumes gone, every
	// disk is empty again.
	var nodes struct {
		Nodes []struct {
			ID    string `json:"id"`
			Disks []struct {
				Reserved string `json:"reserved_bytes"`
			} `json:"disks"`
		} `json:"nodes"`
	}
	waitfor.Condition(t, 20*time.Second, "every reservation released", func() bool {
		if err := json.Unmarshal([]byte(ballast(t, addr, 0, "node", "list", "-o", "json")), &nodes); err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes.Nodes {
			for _, d := range n.Disks {
				if d.Reserved != "" && d.Reserved != "0" {
					return false
				}
			}
		}
		return true
	})
	// ... and it is kept as a dead letter with its reason.
	waitfor.Condition(t, 20*time.Second, "the forged decision dead-lettered", func() bool {
		st, err := js.Stream(context.Background(), events.DeadLetterStream)
		if err != nil {
			return false
		}
		m, err := st.GetLastMsgForSubject(context.Background(), events.DeadLetterSubject("volume"))
		return err == nil && m.Header.Get(bus.HeaderDeadSubject) == events.Placement.Subject("forged") &&
			strings.Contains(m.Header.Get(bus.HeaderDeadReason), "someone-else")
	})
}
