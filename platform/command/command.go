// Package command carries commands between services: a NATS request to the
// service that owns an aggregate, served by nats.go's micro package in a queue
// group (so replicas of a service share the work, and discovery, stats and
// health come for free), with protobuf payloads, the caller's correlation id,
// trace context and deadline in headers.
//
// Commands are idempotent by their request id (the services deduplicate by
// it), so Request sends again when nobody answered: no responder (a service
// restarting, or NATS itself), or no reply in time (a reply lost with a
// connection). It keeps trying within the caller's deadline.
package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"ballast.dev/platform/eventstore"
	"ballast.dev/platform/retry"
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

// HeaderTimeout carries how long the caller will wait for the reply, in
// milliseconds, so that the handler stops when nobody waits any more. It is
// relative, as gRPC's grpc-timeout is, so that clocks need not agree.
const HeaderTimeout = "Ballast-Timeout"

// Timeouts of a request.
const (
	// DefaultTimeout bounds a request whose context has no deadline.
	DefaultTimeout = 30 * time.Second
	// AttemptTimeout bounds the wait for one reply: a longer silence is
	// taken as a lost request or reply, and the command is sent again.
	AttemptTimeout = 5 * time.Second
)

// resend paces the attempts of one request; the caller's deadline bounds
// them.
var resend = retry.Policy{Initial: 50 * time.Millisecond, Max: time.Second}

var tracer = otel.Tracer("ballast.dev/platform/command")

// RequestOption tunes one Request.
type RequestOption func(*requestOptions)

type requestOptions struct{ attemptTimeout time.Duration }

// WithAttemptTimeout sets how long one attempt waits for its reply
// (default AttemptTimeout).
func WithAttemptTimeout(d time.Duration) RequestOption {
	return func(o *requestOptions) {
		if d > 0 {
			o.attemptTimeout = d
		}
	}
}

// Request sends cmd to subject and decodes the reply into reply, sending
// again while nobody answers, until ctx ends. cmd must carry its request id:
// the serving side applies a resent command once.
func Request(ctx context.Context, nc *nats.Conn, subject string, cmd, reply proto.Message, opts ...RequestOption) error {
	o := requestOptions{attemptTimeout: AttemptTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	ctx, span := tracer.Start(ctx, "command "+subject, trace.WithSpanKind(trace.SpanKindClient))
	defer span.End()
	data, err := proto.Marshal(cmd)
	if err != nil {
		return fmt.Errorf("command %s: encode: %w", subject, err)
	}
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(DefaultTimeout)
	}
	// Give up a little before the caller does, so that the caller hears
	// why rather than only that its deadline passed.
	ctx, cancel := context.WithDeadline(ctx, dl.Add(-min(time.Until(dl)/10, 500*time.Millisecond)))
	defer cancel()
	err = retry.Do(ctx, resend, func(int) error {
		return attempt(ctx, nc, subject, data, reply, o.attemptTimeout)
	})
	if err != nil {
		span.RecordError(err)
		return fmt.Errorf("command %s: %w", subject, err)
	}
	return nil
}

// attempt sends the command once and waits for one reply.
func attempt(ctx context.Context, nc *nats.Conn, subject string, data []byte, reply proto.Message, timeout time.Duration) error {
	if nc.IsClosed() {
		return retry.Permanent(nats.ErrConnectionClosed)
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	if id := eventstore.CorrelationID(ctx); id != "" {
		msg.Header.Set(eventstore.HeaderCorrelationID, id)
	}
	if dl, ok := actx.Deadline(); ok {
		msg.Header.Set(HeaderTimeout, strconv.FormatInt(max(time.Until(dl).Milliseconds(), 1), 10))
	}
	tracing.Inject(ctx, msg.Header)
	resp, err := nc.RequestMsgWithContext(actx, msg)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return ErrUnavailable
	case err != nil && ctx.Err() == nil && actx.Err() != nil:
		// No reply in time: lost, or the service is slow. Ask again.
		return fmt.Errorf("%w: no reply within %s", ErrUnavailable, timeout)
	case errors.Is(err, nats.ErrConnectionClosed):
		return retry.Permanent(err)
	case err != nil:
		return err
	}
	if code := resp.Header.Get(micro.ErrorCodeHeader); code != "" {
		e := &Error{Subject: subject, Code: code, Description: resp.Header.Get(micro.ErrorHeader)}
		if code == codeUnavailable {
			return e // another instance may answer
		}
		return retry.Permanent(e)
	}
	if err := proto.Unmarshal(resp.Data, reply); err != nil {
		return retry.Permanent(fmt.Errorf("decode reply: %w", err))
	}
	return nil
}

// DefaultWorkers is how many commands a Server handles at once.
const DefaultWorkers = 8

// Server serves the commands of one service. It registers the service with
// micro once per worker: micro runs an endpoint's handler on its
// subscription's goroutine and times it there, so each worker is an instance
// of its own in the queue group, and micro's stats (requests, errors,
// processing time) are true for every one of them.
type Server struct {
	nc      *nats.Conn
	svcs    []micro.Service
	logger  *slog.Logger
	ctx     context.Context
	stopped chan struct{}
}

// NewServer registers a micro service named name (e.g. "ballast-volume").
// Commands run under ctx; when it ends, new commands are refused.
func NewServer(ctx context.Context, nc *nats.Conn, name, version, description string, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.Default()
	}
	s := &Server{nc: nc, logger: logger, ctx: ctx}
	for i := range DefaultWorkers {
		svc, err := micro.AddService(nc, micro.Config{
			Name: name, Version: version, Description: description,
			Metadata: map[string]string{"worker": strconv.Itoa(i)},
		})
		if err != nil {
			_ = s.Stop()
			return nil, fmt.Errorf("command: service %s: %w", name, err)
		}
		s.svcs = append(s.svcs, svc)
	}
	return s, nil
}

// Stop stops serving.
func (s *Server) Stop() error {
	var err error
	for _, svc := range s.svcs {
		err = errors.Join(err, svc.Stop())
	}
	return err
}

// Handle serves subject: each request is decoded as a Req, and fn's reply is
// sent back. Typed refusals belong in the reply; an error from fn means the
// command could not be carried out at all, and reaches the caller as *Error.
// fn runs with the caller's deadline.
func Handle[Req proto.Message](s *Server, name, subject string, newReq func() Req, fn func(ctx context.Context, req Req) (proto.Message, error)) error {
	h := micro.HandlerFunc(func(r micro.Request) {
		if s.ctx.Err() != nil {
			_ = r.Error(codeUnavailable, "shutting down", nil)
			return
		}
		req := newReq()
		if err := proto.Unmarshal(r.Data(), req); err != nil {
			_ = r.Error(codeBadRequest, "cannot decode "+subject+" request: "+err.Error(), nil)
			return
		}
		hdr := nats.Header(r.Headers())
		ctx := tracing.Extract(s.ctx, hdr)
		ctx = eventstore.WithCorrelationID(ctx, hdr.Get(eventstore.HeaderCorrelationID))
		timeout := DefaultTimeout
		if ms, err := strconv.ParseInt(hdr.Get(HeaderTimeout), 10, 64); err == nil && ms > 0 {
			timeout = min(time.Duration(ms)*time.Millisecond, DefaultTimeout)
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		ctx, span := tracer.Start(ctx, "handle "+subject, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		reply, err := fn(ctx, req)
		var out []byte
		if err == nil {
			out, err = proto.Marshal(reply)
		}
		if err != nil {
			span.RecordError(err)
			if ctx.Err() != nil {
				// The attempt ran out of the time its caller gave it: the
				// caller may ask again (the command is idempotent), so it is
				// not a failure of the command.
				_ = r.Error(codeUnavailable, "no answer within the attempt's deadline: "+err.Error(), nil)
				return
			}
			_ = r.Error(codeFailed, err.Error(), nil)
			return
		}
		if err := r.Respond(out); err != nil {
			s.logger.Warn("command reply lost", "subject", subject, "err", err)
		}
	})
	for _, svc := range s.svcs {
		if err := svc.AddEndpoint(name, h, micro.WithEndpointSubject(subject)); err != nil {
			return err
		}
	}
	return nil
}
