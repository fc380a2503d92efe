// Package natstest starts embedded nats-servers for tests.
//
// It lives in a non-test file so that every module's tests can use it.
package natstest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"ballast.dev/platform/natsserver"
)

// Start runs a JetStream-enabled nats-server on a random port with its
// store in t.TempDir(), stops it when the test ends, and returns its client
// URL. Servers are independent, so parallel tests may each start one.
func Start(t testing.TB) string {
	t.Helper()
	return StartServer(t).ClientURL()
}

// StartServer is Start returning the server itself, for tests that need to
// stop or inspect it.
func StartServer(t testing.TB) *natsserver.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := natsserver.Start(ctx, natsserver.Config{
		Port:     natsserver.RandomPort,
		StoreDir: t.TempDir(),
	})
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	// Registered after t.TempDir's cleanup, so it runs first: the server
	// stops before its directory is removed.
	t.Cleanup(s.Shutdown)
	return s
}

// Connect connects to url and closes the connection when the test ends.
func Connect(t testing.TB, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("natstest: connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}
