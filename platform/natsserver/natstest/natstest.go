// Package natstest starts embedded nats-servers for tests.
//
// It lives in a non-test file so that every module's tests can use it.
package natstest

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"ballast.dev/platform/natsserver"
	"ballast.dev/platform/waitfor"
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

// StartCluster runs a JetStream cluster of n servers on random ports, each
// with its store in a temp dir, stops them when the test ends, and returns
// them once JetStream has a leader.
func StartCluster(t testing.TB, n int) []*natsserver.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Every member routes to every other, so their route ports are
	// chosen first.
	ports := make([]int, n)
	routes := make([]string, n)
	for i := range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		routes[i] = fmt.Sprintf("nats://127.0.0.1:%d", ports[i])
		l.Close()
	}
	servers := make([]*natsserver.Server, n)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			s, err := natsserver.Start(ctx, natsserver.Config{
				Port:       natsserver.RandomPort,
				StoreDir:   t.TempDir(),
				ServerName: fmt.Sprintf("s%d", i),
				Cluster:    &natsserver.Cluster{Name: "test", Port: ports[i], Routes: routes},
			})
			if err == nil {
				servers[i] = s
				t.Cleanup(s.Shutdown)
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("natstest: cluster member: %v", err)
		}
	}
	waitfor.Condition(t, 60*time.Second, fmt.Sprintf("a cluster of %d to form", n), func() bool { return formed(servers) })
	return servers
}

// formed reports whether the cluster has a JetStream leader that knows
// every member, and every member is current with it.
func formed(servers []*natsserver.Server) bool {
	leader := false
	for _, s := range servers {
		ns := s.Inner()
		if !ns.JetStreamIsCurrent() {
			return false
		}
		if ns.JetStreamIsLeader() {
			leader = len(ns.JetStreamClusterPeers()) == len(servers)
		}
	}
	return leader
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
