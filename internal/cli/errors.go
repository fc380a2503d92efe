package cli

import (
	"errors"
	"fmt"
	"strings"

	rpccode "google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// errInterrupted marks a command stopped by Ctrl-C or SIGTERM.
var errInterrupted = errors.New("interrupted")

// usageError is a mistake in the command line: Execute prints a pointer to
// --help and exits with ExitUsage.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usageErrorf returns a usageError with a formatted message.
func usageErrorf(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// unreachableError says the gateway could not be reached at all, as opposed
// to an error the gateway returned.
type unreachableError struct {
	addr string
	err  error
}

func (e unreachableError) Error() string {
	return fmt.Sprintf("cannot reach ballast at %s: is `ballast up` running?", e.addr)
}
func (e unreachableError) Unwrap() error { return e.err }

// volumeFailedError reports a volume that ended FAILED.
type volumeFailedError struct {
	name   string
	code   int32
	reason string
}

func (e volumeFailedError) Error() string {
	return fmt.Sprintf("volume %s failed: %s: %s", e.name, codeName(e.code), e.reason)
}

// inFlags rewrites an INVALID_ARGUMENT that names a field of the request (in
// its BadRequest detail) to name the flag or argument the user gave for it:
// flags maps a field, or the field a nested one is in, to its flag. A user
// who typed --size hears about --size, not the API's spec.capacity.
func inFlags(err error, flags map[string]string) error {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.InvalidArgument {
		return err
	}
	field := ""
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			field = br.GetFieldViolations()[0].GetField()
		}
	}
	flag := ""
	for f := field; f != ""; {
		if fl, ok := flags[f]; ok {
			flag = fl
			break
		}
		i := strings.LastIndexByte(f, '.')
		if i < 0 {
			break
		}
		f = f[:i]
	}
	if flag == "" {
		return err
	}
	msg, _ := strings.CutPrefix(st.Message(), field+": ")
	return status.Error(codes.InvalidArgument, flag+": "+msg)
}

// describe renders err for the "error: " line: gRPC errors as
// "<CODE>: <message>", everything else as is.
func describe(err error) string {
	var ue unreachableError
	if errors.As(err, &ue) {
		return ue.Error()
	}
	var oe outcomeUnknownError
	if errors.As(err, &oe) {
		return oe.Error()
	}
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		s := se.GRPCStatus()
		return fmt.Sprintf("%s: %s", codeName(int32(s.Code())), s.Message())
	}
	return err.Error()
}

// codeName returns the google.rpc.Code name of c, e.g. RESOURCE_EXHAUSTED.
func codeName(c int32) string {
	if n, ok := rpccode.Code_name[c]; ok {
		return n
	}
	return fmt.Sprintf("CODE_%d", c)
}
