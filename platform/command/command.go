// Package command carries commands between services: a NATS request to the
// service that owns an aggregate, served by nats.go's micro package in a queue
// group (so replicas of a service share the work, and discovery, stats and
// health come for free), with protobuf payloads, the caller's correlation id
// and trace context in headers.
package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"ballast.dev/platform/eventstore"
	"ballast.dev/platform/tracing"
)

// ErrUnavailable: no instance of the service answered, or the one that did
// is shutting down.
var ErrUnavailable = errors.New("command: service unavailable")

// Error is a failure the serving side reported instead of a reply: it could
// not decode the request, or its handler failed outright. Typed refusals
// travel in the reply itself.
type Error struct {
	Subject     string
	Code        string // micro's error code: "400", "500", "503"
	Description string
}

func (e *Error) Error() string {
	return fmt.Sprintf("command %s: %s %s", e.Subject, e.Code, e.Description)
}

// Is makes a 503 (shutting down) match ErrUnavailable.
func (e *Error) Is(target error) bool { return target == ErrUnavailable && e.Code == codeUnavailable }

const (
	codeBadRequest  = "400"
	codeFailed      = "500"
	codeUnavailable = "503"
)

var tracer = otel.Tracer("ballast.dev/platform/command")

// Request sends cmd to subject and decodes the reply into reply.
func Request(ctx context.Context, nc *nats.Conn, subject string, cmd, reply proto.Message) error {
	ctx, span := tracer.Start(ctx, "command "+subject, trace.WithSpanKind(trace.SpanKindClient))
	defer span.End()
	data, err := proto.Marshal(cmd)
	if err != nil {
		return fmt.Errorf("command %s: encode: %w", subject, err)
	}
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	if id := eventstore.CorrelationID(ctx); id != "" {
		msg.Header.Set(eventstore.HeaderCorrelationID, id)
	}
	tracing.Inject(ctx, msg.Header)
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	resp, err := nc.RequestMsgWithContext(ctx, msg)
	if errors.Is(err, nats.ErrNoResponders) {
		return fmt.Errorf("command %s: %w", subject, ErrUnavailable)
	}
	if err != nil {
		return fmt.Errorf("command %s: %w", subject, err)
	}
	if code := resp.Header.Get(micro.ErrorCodeHeader); code != "" {
		return &Error{Subject: subject, Code: code, Description: resp.Header.Get(micro.ErrorHeader)}
	}
	if err := proto.Unmarshal(resp.Data, reply); err != nil {
		return fmt.Errorf("command %s: decode reply: %w", subject, err)
	}
	return nil
}

// Server serves the commands of one service.
type Server struct {
	nc     *nats.Conn
	svc    micro.Service
	logger *slog.Logger
	// slots bounds the commands in flight: micro calls a handler on the
	// subscription's goroutine, so each command runs on its own.
	slots chan struct{}
	ctx   context.Context
}

// NewServer registers a micro service named name (e.g. "ballast-volume").
// Commands run under ctx; when it ends, new commands are refused.
func NewServer(ctx context.Context, nc *nats.Conn, name, version, description string, logger *slog.Logger) (*Server, error) {
	svc, err := micro.AddService(nc, micro.Config{Name: name, Version: version, Description: description})
	if err != nil {
		return nil, fmt.Errorf("command: service %s: %w", name, err)
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &Server{nc: nc, svc: svc, logger: logger, slots: make(chan struct{}, 256), ctx: ctx}, nil
}

// Stop stops serving.
func (s *Server) Stop() error { return s.svc.Stop() }

// Handle serves subject: each request is decoded as a Req, and fn's reply is
// sent back. Typed refusals belong in the reply; an error from fn means the
// command could not be carried out at all, and reaches the caller as *Error.
func Handle[Req proto.Message](s *Server, name, subject string, newReq func() Req, fn func(ctx context.Context, req Req) (proto.Message, error)) error {
	return s.svc.AddEndpoint(name, micro.HandlerFunc(func(r micro.Request) {
		req := newReq()
		if err := proto.Unmarshal(r.Data(), req); err != nil {
			_ = r.Error(codeBadRequest, "cannot decode "+subject+" request: "+err.Error(), nil)
			return
		}
		hdr := nats.Header(r.Headers())
		ctx := tracing.Extract(s.ctx, hdr)
		ctx = eventstore.WithCorrelationID(ctx, hdr.Get(eventstore.HeaderCorrelationID))
		select {
		case s.slots <- struct{}{}:
		case <-s.ctx.Done():
			_ = r.Error(codeUnavailable, "shutting down", nil)
			return
		}
		go func() {
			defer func() { <-s.slots }()
			ctx, span := tracer.Start(ctx, "handle "+subject, trace.WithSpanKind(trace.SpanKindServer))
			defer span.End()
			reply, err := fn(ctx, req)
			var out []byte
			if err == nil {
				out, err = proto.Marshal(reply)
			}
			// The answer goes straight to the reply subject: micro's own
			// Respond records its outcome in the request, which micro reads
			// when the handler returns, long before this goroutine ends.
			msg := &nats.Msg{Subject: r.Reply(), Data: out}
			if err != nil {
				span.RecordError(err)
				msg.Data = nil
				msg.Header = nats.Header{micro.ErrorCodeHeader: {codeFailed}, micro.ErrorHeader: {err.Error()}}
			}
			if err := s.nc.PublishMsg(msg); err != nil {
				s.logger.Warn("command reply lost", "subject", subject, "err", err)
			}
		}()
	}), micro.WithEndpointSubject(subject))
}
