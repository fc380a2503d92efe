package natsserver_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"ballast.dev/platform/natsserver"
	"ballast.dev/platform/natsserver/natstest"
)

func TestStartServesJetStream(t *testing.T) {
	t.Parallel()
	srv := natstest.StartServer(t)
	nc := natstest.Connect(t, srv.ClientURL())
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.AccountInfo(ctx); err != nil {
		t.Fatalf("JetStream not available: %v", err)
	}
	if !srv.Inner().JetStreamEnabled() {
		t.Fatal("JetStream not enabled")
	}
	srv.Shutdown()
	srv.Shutdown() // idempotent
	if _, err := nats.Connect(srv.ClientURL(), nats.NoReconnect()); err == nil {
		t.Fatal("connected after Shutdown")
	}
}

func TestStartPortInUse(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err = natsserver.Start(ctx, natsserver.Config{Port: port, StoreDir: t.TempDir()})
	if err == nil {
		t.Fatal("started on a port in use")
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if !strings.Contains(err.Error(), addr) {
		t.Fatalf("error %q does not name %s", err, addr)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v to report the error", d)
	}
}

func TestStartNeedsStoreDir(t *testing.T) {
	t.Parallel()
	if _, err := natsserver.Start(context.Background(), natsserver.Config{Port: natsserver.RandomPort}); err == nil {
		t.Fatal("started without StoreDir")
	}
}

func TestStoreDirHoldsOneServerAtATime(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	first, err := natsserver.Start(ctx, natsserver.Config{Port: natsserver.RandomPort, StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	_, err = natsserver.Start(ctx, natsserver.Config{Port: natsserver.RandomPort, StoreDir: dir})
	if !errors.Is(err, natsserver.ErrStoreInUse) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("second server on one store dir: %v, want ErrStoreInUse naming the dir", err)
	}
	first.Shutdown()
	again, err := natsserver.Start(ctx, natsserver.Config{Port: natsserver.RandomPort, StoreDir: dir})
	if err != nil {
		t.Fatalf("store dir still locked after shutdown: %v", err)
	}
	again.Shutdown()
}
