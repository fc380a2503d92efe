// Package ports is how the world reaches the volume service: command
// requests from the gateway and events from the other services.
package ports

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/grpc/codes"

	pb "ballast.dev/proto/ballast/v1"
	"ballast.dev/services/volume/domain"
)

// commandError maps a refusal to its API code. This is the one place where
// the volume service's errors become codes.
func commandError(ctx context.Context, log *slog.Logger, err error) *pb.CommandError {
	if err == nil {
		return nil
	}
	var fe *domain.FieldError
	code := codes.Internal
	switch {
	case errors.As(err, &fe):
		return &pb.CommandError{Code: int32(codes.InvalidArgument), Message: err.Error(), Field: fe.Field}
	case errors.Is(err, domain.ErrInvalidArgument):
		code = codes.InvalidArgument
	case errors.Is(err, domain.ErrAlreadyExists):
		code = codes.AlreadyExists
	case errors.Is(err, domain.ErrNotFound):
		code = codes.NotFound
	case errors.Is(err, domain.ErrFailedPrecondition):
		code = codes.FailedPrecondition
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	default:
		log.ErrorContext(ctx, "volume command failed", "err", err)
	}
	return &pb.CommandError{Code: int32(code), Message: err.Error()}
}
