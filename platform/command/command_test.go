package command_test

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"ballast.dev/platform/command"
	"ballast.dev/platform/eventstore"
	"ballast.dev/platform/natsserver/natstest"
)

func serve(t *testing.T, fn func(context.Context, *wrapperspb.StringValue) (proto.Message, error)) (*command.Server, func(context.Context, string) (*wrapperspb.StringValue, error)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	nc := natstest.Connect(t, natstest.Start(t))
	srv, err := command.NewServer(ctx, nc, "test", "1.0.0", "test commands", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	if err := command.Handle(srv, "echo", "test.echo", func() *wrapperspb.StringValue { return &wrapperspb.StringValue{} }, fn); err != nil {
		t.Fatal(err)
	}
	return srv, func(ctx context.Context, s string) (*wrapperspb.StringValue, error) {
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

func TestNoServiceIsUnavailable(t *testing.T) {
	nc := natstest.Connect(t, natstest.Start(t))
	err := command.Request(context.Background(), nc, "test.nobody", wrapperspb.String("x"), &wrapperspb.StringValue{})
	if !errors.Is(err, command.ErrUnavailable) {
		t.Fatalf("err %v, want ErrUnavailable", err)
	}
}
