package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestServicesAsSeparateProcesses runs every part as its own process
// against one nats-server, as a deployment would.
func TestServicesAsSeparateProcesses(t *testing.T) {
	dir := t.TempDir()
	nats := start(t, "ballast nats", "nats", "--data-dir", dir, "--addr", "127.0.0.1:0", "--log-level", "warn")
	url := nats.waitFor(`nats listening on (\S+)`, 30*time.Second)[1]
	for _, svc := range []string{"placement", "volume", "migration", "metrics"} {
		p := start(t, "serve "+svc, "serve", svc, "--nats-url", url, "--log-level", "warn")
		_ = p
	}
	start(t, "agent", "agent", "--nats-url", url, "--nodes", "6", "--zones", "3", "--log-level", "warn").
		waitFor(`speaks for 6 simulated nodes`, 60*time.Second)
	gw := start(t, "serve gateway", "serve", "gateway", "--nats-url", url, "--grpc-addr", "127.0.0.1:0", "--log-level", "warn")
	addr := gw.waitFor(`gateway serving gRPC on (\S+)`, 60*time.Second)[1]

	out := ballast(t, addr, 0, "volume", "create", "spread", "--size", "2GiB", "--replicas", "3")
	if !strings.Contains(out, "ready") {
		t.Fatalf("create:\n%s", out)
	}
	if out := ballast(t, addr, 0, "node", "list"); strings.Count(out, "node-") != 6 {
		t.Fatalf("node list:\n%s", out)
	}
	ballast(t, addr, 0, "volume", "resize", "spread", "--size", "4GiB")
	ballast(t, addr, 0, "volume", "delete", "spread")
	if out := ballast(t, addr, 1, "volume", "get", "spread"); !strings.Contains(out, "NOT_FOUND") {
		t.Fatalf("after delete:\n%s", out)
	}
}
