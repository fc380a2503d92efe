package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"ballast.dev/gateway/readmodel"
	"ballast.dev/platform/command"
	"ballast.dev/platform/eventstore"
	ballastv1 "ballast.dev/proto/ballast/v1"
)

var (
	// errShuttingDown ends streams when the gateway stops.
	errShuttingDown = errors.New("gateway shutting down")
	// errLogLost ends a watch whose consumer of the log failed.
	errLogLost = errors.New("lost the event log")
)

// CommandError is a typed refusal from the service that owns the aggregate.
type CommandError struct {
	// Code is a google.rpc.Code value.
	Code    codes.Code
	Message string
	// Field is the request field at fault, for INVALID_ARGUMENT.
	Field string
}

func newCommandError(e *ballastv1.CommandError) *CommandError {
	c := codes.Code(e.GetCode())
	if c == codes.OK {
		// A refusal that claims success is a broken reply, not a success.
		c = codes.Unknown
	}
	msg := e.GetMessage()
	if e.GetField() != "" && !strings.Contains(msg, e.GetField()) {
		msg = e.GetField() + ": " + msg
	}
	return &CommandError{Code: c, Message: msg, Field: e.GetField()}
}

func (e *CommandError) Error() string { return e.Message }

// invalidArgument is a request the gateway refuses before sending anything.
type invalidArgument struct {
	field, reason string
}

func (e *invalidArgument) Error() string { return e.field + ": " + e.reason }

func badField(field, reason string) error { return &invalidArgument{field: field, reason: reason} }

// notPlacedError is a volume that exists but has no placement decision:
// placement has not decided on it yet.
type notPlacedError struct {
	name, id string
	state    ballastv1.VolumeState
}

func (e *notPlacedError) Error() string {
	return fmt.Sprintf("volume %s (id %s) has no placement decision yet; it is %s", e.name, e.id,
		strings.ToLower(strings.TrimPrefix(e.state.String(), "VOLUME_STATE_")))
}

// notYetError is a volume name that had no volume yet at a time asked for.
type notYetError struct {
	name      string
	at, first time.Time
}

func (e *notYetError) Error() string {
	return fmt.Sprintf("volume %q did not exist at %s; it was first created at %s", e.name,
		e.at.UTC().Format(time.RFC3339Nano), e.first.UTC().Format(time.RFC3339Nano))
}

// toStatus is the one place where errors become gRPC codes.
func toStatus(logger *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	var (
		cmdErr *CommandError
		badArg *invalidArgument
		nf     *readmodel.NotFoundError
		wl     *watchLimitError
		np     *notPlacedError
		ny     *notYetError
	)
	switch {
	case errors.As(err, &cmdErr):
		return withField(cmdErr.Code, cmdErr.Message, cmdErr.Field)
	case errors.As(err, &badArg):
		return withField(codes.InvalidArgument, badArg.Error(), badArg.field)
	case errors.As(err, &nf):
		return status.Error(codes.NotFound, nf.Error())
	case errors.As(err, &wl):
		return status.Error(codes.ResourceExhausted, wl.Error())
	case errors.As(err, &np):
		return status.Error(codes.NotFound, np.Error())
	case errors.As(err, &ny):
		return status.Error(codes.NotFound, ny.Error())
	case errors.Is(err, command.ErrUnavailable), errors.Is(err, eventstore.ErrUnavailable), errors.Is(err, errShuttingDown), errors.Is(err, errLogLost),
		errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrConnectionDraining):
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	}
	logger.Error("internal error", "err", err)
	return status.Error(codes.Internal, err.Error())
}

// withField makes a status that names the field at fault in its message and
// in a BadRequest detail, which clients can read without parsing.
func withField(c codes.Code, msg, field string) error {
	st := status.New(c, msg)
	if field == "" {
		return st.Err()
	}
	detailed, err := st.WithDetails(&errdetails.BadRequest{
		FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: msg}},
	})
	if err != nil {
		return st.Err()
	}
	return detailed.Err()
}

// required refuses an empty field.
func required(field, value string) error {
	if value == "" {
		return badField(field, fmt.Sprintf("%s is required", field))
	}
	return nil
}
