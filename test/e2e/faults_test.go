package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"ballast.dev/platform/events"
	"ballast.dev/platform/waitfor"
	pb "ballast.dev/proto/ballast/v1"
)

func client(t *testing.T, addr string) pb.VolumeServiceClient {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return pb.NewVolumeServiceClient(cc)
}

func volumeState(t *testing.T, c pb.VolumeServiceClient, name string) (pb.VolumeState, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.GetVolume(ctx, &pb.GetVolumeRequest{Name: name})
	if err != nil {
		return 0, err
	}
	return resp.GetVolume().GetState(), nil
}

// A create in flight when placement is SIGKILLed completes within seconds
// of placement's restart: the message it held is redelivered after a short
// ack wait, not after half a minute.
func TestPlacementKilledMidCreateFinishesSoonAfterItsRestart(t *testing.T) {
	s := startStack(t, 12)
	c := client(t, s.addr)
	js := jetStream(t, s.natsURL)
	const n = 200
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err := c.CreateVolume(ctx, &pb.CreateVolumeRequest{Name: fmt.Sprintf("inflight-%03d", i),
				Spec: &pb.VolumeSpec{Capacity: &pb.CapacityRange{RequiredBytes: 1 << 30}, Replicas: 3}})
			if err != nil {
				t.Errorf("create %d: %v", i, err)
			}
		})
	}
	// Placement dies while it works through the requests, holding one.
	waitfor.Condition(t, 30*time.Second, "placement holding a request", func() bool {
		info, err := consumerInfo(js, events.Volume.Stream, "placement-volumes")
		return err == nil && info.NumAckPending > 0 && info.NumPending > 0
	})
	kill(t, s.procs["placement"])
	info, err := consumerInfo(js, events.Volume.Stream, "placement-volumes")
	if err != nil {
		t.Fatal(err)
	}
	// The request it held is the one after what it acknowledged.
	held, err := js.Stream(context.Background(), events.Volume.Stream)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := held.GetMsg(context.Background(), info.AckFloor.Stream+1)
	if err != nil {
		t.Fatal(err)
	}
	name := events.Volume.ID(msg.Subject)
	t.Logf("placement killed holding %d request(s) (the first for %s), %d waiting", info.NumAckPending, name, info.NumPending)
	wg.Wait()
	s.startService("placement")
	restarted := time.Now()
	waitfor.Condition(t, 30*time.Second, "the held create ready", func() bool {
		st, err := volumeState(t, c, name)
		return err == nil && st == pb.VolumeState_VOLUME_STATE_READY
	})
	if d := time.Since(restarted); d > 5*time.Second {
		t.Fatalf("the create placement held completed %s after placement restarted; want within 5s", d)
	}
	waitfor.Condition(t, 60*time.Second, "every volume ready", func() bool {
		for i := range n {
			st, err := volumeState(t, c, fmt.Sprintf("inflight-%03d", i))
			if err != nil || st != pb.VolumeState_VOLUME_STATE_READY {
				return false
			}
		}
		return true
	})
}

func jetStream(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func consumerInfo(js jetstream.JetStream, stream, name string) (*jetstream.ConsumerInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, stream, name)
	if err != nil {
		return nil, err
	}
	return c.Info(ctx)
}

// NATS itself is killed and comes back while clients create and delete
// volumes. Every create that succeeded is ready (or deleted, if its client
// deleted it), every create sent during the outage completed or failed with
// a clear error, and nothing is stuck.
func TestNATSRestartWhileCreatesAndDeletesRun(t *testing.T) {
	s := startStack(t, 12)
	c := client(t, s.addr)
	type outcome struct {
		name    string
		err     error
		deleted bool
	}
	var (
		mu       sync.Mutex
		outcomes []outcome
		wg       sync.WaitGroup
	)
	stop := make(chan struct{})
	for w := range 6 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("w%d-%03d", w, i)
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				_, err := c.CreateVolume(ctx, &pb.CreateVolumeRequest{Name: name,
					Spec: &pb.VolumeSpec{Capacity: &pb.CapacityRange{RequiredBytes: 1 << 30}, Replicas: 2}})
				o := outcome{name: name, err: err}
				if err == nil && i%3 == 0 {
					_, derr := c.DeleteVolume(ctx, &pb.DeleteVolumeRequest{Name: name})
					o.deleted = derr == nil
				}
				cancel()
				mu.Lock()
				outcomes = append(outcomes, o)
				mu.Unlock()
			}
		})
	}
	time.Sleep(2 * time.Second) // load before the outage
	kill(t, s.nats)
	time.Sleep(2 * time.Second) // the outage
	s.startNATS()
	time.Sleep(3 * time.Second) // load after it
	close(stop)
	wg.Wait()

	var ok, failed int
	for _, o := range outcomes {
		if o.err == nil {
			ok++
			continue
		}
		failed++
		t.Logf("create %s during the outage: %v", o.name, o.err)
		if code := status.Code(o.err); code != codes.Unavailable && code != codes.DeadlineExceeded || status.Convert(o.err).Message() == "" {
			t.Errorf("create %s failed without a clear error: %v", o.name, o.err)
		}
	}
	t.Logf("%d creates succeeded, %d failed during the outage", ok, failed)
	if ok == 0 {
		t.Fatal("no create succeeded")
	}
	js := jetStream(t, s.natsURL)
	history := func(name string) string {
		st, err := js.Stream(context.Background(), events.Volume.Stream)
		if err != nil {
			return err.Error()
		}
		var out []string
		for seq := uint64(1); ; {
			m, err := st.GetMsg(context.Background(), seq, jetstream.WithGetMsgSubject(events.Volume.Subject(name)))
			if err != nil {
				break
			}
			out = append(out, fmt.Sprintf("%d %s %s", m.Sequence, m.Header.Get("Ballast-Event-Type"), m.Header.Get("Nats-Msg-Id")))
			seq = m.Sequence + 1
		}
		return strings.Join(out, "; ")
	}
	var pending string // the first volume not done yet, for the failure message
	waitfor.Condition(t, 60*time.Second, "every acknowledged create ready, every delete done, nothing stuck", func() bool {
		for _, o := range outcomes {
			st, err := volumeState(t, c, o.name)
			done := false
			switch {
			case o.deleted:
				done = status.Code(err) == codes.NotFound
			case o.err == nil:
				done = err == nil && st == pb.VolumeState_VOLUME_STATE_READY
			default: // outcome unknown: done either way, never stuck
				done = (err == nil && st == pb.VolumeState_VOLUME_STATE_READY) || status.Code(err) == codes.NotFound
			}
			if !done {
				if p := fmt.Sprintf("%s (deleted %v, create error %v): %v %v", o.name, o.deleted, o.err, st, err); p != pending {
					pending = p
					t.Logf("waiting for %s; its history: %s", p, history(o.name))
				}
				return false
			}
		}
		return true
	})
}
