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

// TestAServiceThatWasDownCatchesUp stops placement with SIGKILL, asks for a
// volume while it is gone, and starts it again: its durable consumer
// resumes where it stopped and the volume becomes ready.
func TestAServiceThatWasDownCatchesUp(t *testing.T) {
	dir := t.TempDir()
	nats := start(t, "ballast nats", "nats", "--data-dir", dir, "--addr", "127.0.0.1:0", "--log-level", "warn")
	url := nats.waitFor(`nats listening on (\S+)`, 30*time.Second)[1]
	for _, svc := range []string{"volume", "migration", "metrics"} {
		start(t, "serve "+svc, "serve", svc, "--nats-url", url, "--log-level", "warn")
	}
	placement := start(t, "serve placement", "serve", "placement", "--nats-url", url, "--log-level", "warn")
	start(t, "agent", "agent", "--nats-url", url, "--nodes", "3", "--zones", "3", "--log-level", "warn").
		waitFor(`speaks for 3 simulated nodes`, 60*time.Second)
	gw := start(t, "serve gateway", "serve", "gateway", "--nats-url", url, "--grpc-addr", "127.0.0.1:0", "--log-level", "warn")
	addr := gw.waitFor(`gateway serving gRPC on (\S+)`, 60*time.Second)[1]
	ballast(t, addr, 0, "volume", "create", "before", "--size", "1GiB", "--replicas", "3")

	if err := placement.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-placement.done
	ballast(t, addr, 0, "volume", "create", "while-down", "--size", "1GiB", "--replicas", "3", "--no-wait")
	if out := ballast(t, addr, 0, "volume", "get", "while-down"); !strings.Contains(out, "creating") {
		t.Fatalf("with placement down the volume should wait:\n%s", out)
	}

	start(t, "serve placement again", "serve", "placement", "--nats-url", url, "--log-level", "warn")
	// The CLI waits on the volume's watch until it is ready.
	out := ballast(t, addr, 0, "volume", "create", "while-down", "--size", "1GiB", "--replicas", "3")
	if !strings.Contains(out, "ready") {
		t.Fatalf("after placement returned:\n%s", out)
	}
	// Each of the three nodes holds a replica of both volumes.
	if out := ballast(t, addr, 0, "node", "list"); !strings.Contains(out, "2.0 GiB") {
		t.Fatalf("reservations after the restart:\n%s", out)
	}
}
