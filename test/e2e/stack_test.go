package e2e

import (
	"fmt"
	"net"
	"testing"
	"time"
)

// stack is Ballast as separate processes against one `ballast nats`, as a
// deployment runs it, so that each part can be killed and started again.
type stack struct {
	t       *testing.T
	dir     string
	natsURL string
	addr    string // the gateway's gRPC address
	nats    *proc
	procs   map[string]*proc
}

// freePort is a port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startStack starts nats on a fixed port (so that it can come back on it),
// every service, an agent for nodes simulated nodes in 3 zones, and the
// gateway.
func startStack(t *testing.T, nodes int) *stack {
	t.Helper()
	s := &stack{t: t, dir: t.TempDir(), procs: map[string]*proc{}}
	s.natsURL = fmt.Sprintf("nats://127.0.0.1:%d", freePort(t))
	s.startNATS()
	for _, svc := range []string{"placement", "volume", "migration", "metrics"} {
		s.startService(svc)
	}
	s.procs["agent"] = start(t, "agent", "agent", "--nats-url", s.natsURL, "--nodes", fmt.Sprint(nodes), "--zones", "3", "--log-level", "warn")
	s.procs["agent"].waitFor(fmt.Sprintf(`speaks for %d simulated nodes`, nodes), 60*time.Second)
	gw := start(t, "serve gateway", "serve", "gateway", "--nats-url", s.natsURL, "--grpc-addr", "127.0.0.1:0", "--log-level", "warn")
	s.addr = gw.waitFor(`gateway serving gRPC on (\S+)`, 60*time.Second)[1]
	s.procs["gateway"] = gw
	return s
}

func (s *stack) startNATS() {
	s.t.Helper()
	s.nats = start(s.t, "ballast nats", "nats", "--data-dir", s.dir, "--addr", s.natsURL[len("nats://"):], "--log-level", "warn")
	s.nats.waitFor(`nats listening on`, 30*time.Second)
}

// startService starts `ballast serve svc` and waits until it serves.
func (s *stack) startService(svc string) *proc {
	s.t.Helper()
	p := start(s.t, "serve "+svc, "serve", svc, "--nats-url", s.natsURL, "--log-level", "info")
	p.waitFor(`msg=serving service=`+svc, 60*time.Second)
	s.procs[svc] = p
	return p
}

// kill stops a part with SIGKILL, as a crash would.
func kill(t *testing.T, p *proc) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
}
