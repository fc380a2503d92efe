package events

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Load summaries are not history either: the metrics service keeps the
// latest summary of each node's telemetry in LoadBucket, a JetStream KV
// bucket keyed by node id, and readers watch it. Nobody replays summaries
// from the beginning; what is history is a decision taken on them (a
// hotspot, a plan, a move), on the metrics and placement streams.
const LoadBucket = "BALLAST_NODE_LOAD"

func loadBucketConfig(replicas int) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      LoadBucket,
		Description: "Ballast: the latest load summary of each node (NodeLoadSummarized), by node id",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
	}
}

// declareKV creates a KV bucket, or brings an existing one to cfg without
// lowering its replica count.
func declareKV(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) error {
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	switch {
	case errors.Is(err, jetstream.ErrBucketNotFound):
		_, err = js.CreateKeyValue(ctx, cfg)
		if errors.Is(err, jetstream.ErrBucketExists) {
			return declareKV(ctx, js, cfg) // created meanwhile
		}
		if err != nil {
			return fmt.Errorf("create bucket %s: %w", cfg.Bucket, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("bucket %s: %w", cfg.Bucket, err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return fmt.Errorf("bucket %s: %w", cfg.Bucket, err)
	}
	have := st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config
	cfg.Replicas = max(cfg.Replicas, have.Replicas)
	if have.Replicas == cfg.Replicas && have.Description == cfg.Description && have.MaxMsgsPerSubject == int64(cfg.History) {
		return nil
	}
	if _, err := js.UpdateKeyValue(ctx, cfg); err != nil {
		return fmt.Errorf("update bucket %s: %w", cfg.Bucket, err)
	}
	return nil
}

// declareObjectStore creates an object store bucket, or brings an existing
// one to cfg without lowering its replica count.
func declareObjectStore(ctx context.Context, js jetstream.JetStream, cfg jetstream.ObjectStoreConfig) error {
	obs, err := js.ObjectStore(ctx, cfg.Bucket)
	switch {
	case errors.Is(err, jetstream.ErrBucketNotFound):
		_, err = js.CreateObjectStore(ctx, cfg)
		if errors.Is(err, jetstream.ErrBucketExists) {
			return declareObjectStore(ctx, js, cfg)
		}
		if err != nil {
			return fmt.Errorf("create bucket %s: %w", cfg.Bucket, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("bucket %s: %w", cfg.Bucket, err)
	}
	st, err := obs.Status(ctx)
	if err != nil {
		return fmt.Errorf("bucket %s: %w", cfg.Bucket, err)
	}
	have := st.(*jetstream.ObjectBucketStatus).StreamInfo().Config
	cfg.Replicas = max(cfg.Replicas, have.Replicas)
	if have.Replicas == cfg.Replicas && have.Description == cfg.Description {
		return nil
	}
	if _, err := js.UpdateObjectStore(ctx, cfg); err != nil {
		return fmt.Errorf("update bucket %s: %w", cfg.Bucket, err)
	}
	return nil
}
