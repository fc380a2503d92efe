package command_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"ballast.dev/platform/command"
	"ballast.dev/platform/eventstore"
	"ballast.dev/platform/natsserver/natstest"
	"ballast.dev/platform/waitfor"
)

type handler func(context.Context, *wrapperspb.StringValue) (proto.Message, error)

func newString() *wrapperspb.StringValue { return &wrapperspb.StringValue{} }

func serveOn(t *testing.T, nc *nats.Conn, fn handler) *command.Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	srv, err := command.NewServer(ctx, nc, "test", "1.0.0", "test commands", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	if err := command.Handle(srv, "echo", "test.echo", newString, fn); err != nil {
		t.Fatal(err)
	}
	return srv
}

func serve(t *testing.T, fn handler) (*nats.Conn, func(context.Context, string) (*wrapperspb.StringValue, error)) {
	t.Helper()
	nc := natstest.Connect(t, natstest.Start(t))
	serveOn(t, nc, fn)
	return nc, func(ctx context.Context, s string) (*wrapperspb.StringValue, error) {
		out := &wrapperspb.StringValue{}
		err := command.Request(ctx, nc, "test.echo", wrapperspb.String(s), out)
		return out, err
	}
}

func TestReplyCarriesTheCorrelationID(t *testing.T) {
	_, call := serve(t, func(ctx context.Context, req *wrapperspb.StringValue) (proto.Message, error) {
		return wrapperspb.String(req.GetValue() + " " + eventstore.CorrelationID(ctx)), nil
	})
	got, err := call(eventstore.WithCorrelationID(context.Background(), "corr-1"), "hello")
	if err != nil || got.GetValue() != "hello corr-1" {
		t.Fatalf("got %q, %v", got.GetValue(), err)
	}
}

func TestHandlerErrorReachesTheCaller(t *testing.T) {
	_, call := serve(t, func(context.Context, *wrapperspb.StringValue) (proto.Message, error) {
		return nil, errors.New("log unreachable")
	})
	_, err := call(context.Background(), "x")
	var ce *command.Error
	if !errors.As(err, &ce) || ce.Code != "500" || ce.Description != "log unreachable" {
		t.Fatalf("err %v", err)
	}
	if errors.Is(err, command.ErrUnavailable) {
		t.Fatal("a failed command is not an unavailable service")
	}
}

func TestNoServiceIsUnavailableOnceTheDeadlinePasses(t *testing.T) {
	nc := natstest.Connect(t, natstest.Start(t))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := command.Request(ctx, nc, "test.nobody", wrapperspb.String("x"), &wrapperspb.StringValue{})
	if !errors.Is(err, command.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want ErrUnavailable and the deadline", err)
	}
}

// A command sent while its service is away (restarting) is sent again, and
// answered once the service is back, within the caller's deadline.
func TestCommandIsResentUntilTheServiceAnswers(t *testing.T) {
	nc := natstest.Connect(t, natstest.Start(t))
	sent := nc.Stats().OutMsgs
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- command.Request(ctx, nc, "test.echo", wrapperspb.String("late"), &wrapperspb.StringValue{})
	}()
	// The service starts after the command went out twice unanswered.
	waitfor.Condition(t, 5*time.Second, "two attempts sent", func() bool { return nc.Stats().OutMsgs >= sent+2 })
	serveOn(t, nc, func(_ context.Context, req *wrapperspb.StringValue) (proto.Message, error) { return req, nil })
	if err := <-done; err != nil {
		t.Fatalf("the command was lost: %v", err)
	}
}

// A reply that never comes (lost with a connection, or a handler stuck) is
// asked for again.
func TestLostReplyIsAskedForAgain(t *testing.T) {
	var calls atomic.Int32
	nc, _ := serve(t, func(ctx context.Context, req *wrapperspb.StringValue) (proto.Message, error) {
		if calls.Add(1) == 1 {
			<-ctx.Done() // the first attempt never answers in time
			return nil, ctx.Err()
		}
		return req, nil
	})
	out := &wrapperspb.StringValue{}
	err := command.Request(context.Background(), nc, "test.echo", wrapperspb.String("again"), out, command.WithAttemptTimeout(200*time.Millisecond))
	if err != nil || out.GetValue() != "again" || calls.Load() != 2 {
		t.Fatalf("reply %q, err %v, after %d calls", out.GetValue(), err, calls.Load())
	}
}

func TestTheCallersDeadlineReachesTheHandler(t *testing.T) {
	var left atomic.Int64
	_, call := serve(t, func(ctx context.Context, req *wrapperspb.StringValue) (proto.Message, error) {
		if dl, ok := ctx.Deadline(); ok {
			left.Store(int64(time.Until(dl)))
		}
		return req, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := call(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if d := time.Duration(left.Load()); d <= 0 || d > 2*time.Second {
		t.Fatalf("handler's deadline was %s away; the caller's was 2s", d)
	}
}

// micro's stats count each request where it is handled: errors counted,
// processing time measured.
func TestMicroStatsAreTrue(t *testing.T) {
	nc, call := serve(t, func(_ context.Context, req *wrapperspb.StringValue) (proto.Message, error) {
		time.Sleep(20 * time.Millisecond)
		if req.GetValue() == "fail" {
			return nil, errors.New("no")
		}
		return req, nil
	})
	ctx := context.Background()
	_, _ = call(ctx, "ok")
	_, _ = call(ctx, "fail")
	// Every worker instance answers a stats request; sum them.
	subject, err := micro.ControlSubject(micro.StatsVerb, "test", "")
	if err != nil {
		t.Fatal(err)
	}
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.PublishRequest(subject, inbox, nil); err != nil {
		t.Fatal(err)
	}
	var requests, errs int
	var busy time.Duration
	for range command.DefaultWorkers {
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var st micro.Stats
		if err := json.Unmarshal(m.Data, &st); err != nil {
			t.Fatal(err)
		}
		for _, e := range st.Endpoints {
			requests += e.NumRequests
			errs += e.NumErrors
			busy += e.ProcessingTime
		}
	}
	if requests != 2 || errs != 1 || busy < 40*time.Millisecond {
		t.Fatalf("stats: %d requests, %d errors, %s processing; want 2, 1, at least 40ms", requests, errs, busy)
	}
}
