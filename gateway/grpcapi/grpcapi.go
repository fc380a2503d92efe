// Package grpcapi serves Ballast's public gRPC API: commands go to the
// services that own the aggregates, queries are answered from the gateway's
// read models, and watches follow them or the log.
package grpcapi

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/grpc"

	"ballast.dev/gateway/readmodel"
	"ballast.dev/platform/eventstore"
	ballastv1 "ballast.dev/proto/ballast/v1"
)

// defaultTimeout bounds a unary call whose caller set no deadline, so that a
// service that never answers, or a projection that stalls, cannot hold it
// forever.
const defaultTimeout = 30 * time.Second

// Config is what the services need.
type Config struct {
	// NC carries commands.
	NC *nats.Conn
	// Log is the event log: its last sequences make reads linearizable,
	// and WatchEvents follows it.
	Log *eventstore.Store
	// Volumes and Nodes are the read models.
	Volumes readmodel.VolumeStore
	Nodes   readmodel.NodeStore
	// Done, when closed, ends the watches: the gateway is shutting down.
	Done <-chan struct{}
	// VolumeWatches and EventWatches bound the WatchVolume and WatchEvents
	// streams served at once; nil allows any number.
	VolumeWatches, EventWatches *WatchLimit
	Logger                      *slog.Logger
}

// Register registers VolumeService, NodeService, EventService and
// PlacementService on s.
func Register(s grpc.ServiceRegistrar, cfg Config) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ballastv1.RegisterVolumeServiceServer(s, &VolumeService{cfg: cfg})
	ballastv1.RegisterNodeServiceServer(s, &NodeService{cfg: cfg})
	ballastv1.RegisterEventServiceServer(s, &EventService{cfg: cfg})
	ballastv1.RegisterPlacementServiceServer(s, &PlacementService{cfg: cfg})
	ballastv1.RegisterMigrationServiceServer(s, &MigrationService{cfg: cfg})
	ballastv1.RegisterSimServiceServer(s, &SimService{cfg: cfg})
}

// ServiceNames are the full names of the services Register registers, for
// the health service.
var ServiceNames = []string{
	ballastv1.VolumeService_ServiceDesc.ServiceName,
	ballastv1.NodeService_ServiceDesc.ServiceName,
	ballastv1.EventService_ServiceDesc.ServiceName,
	ballastv1.PlacementService_ServiceDesc.ServiceName,
	ballastv1.MigrationService_ServiceDesc.ServiceName,
	ballastv1.SimService_ServiceDesc.ServiceName,
}

// withDefaultTimeout bounds ctx by defaultTimeout when it has no deadline.
func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, defaultTimeout)
}
