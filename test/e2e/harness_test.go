// Package e2e drives the built ballast binary as a user would: `ballast up`,
// the CLI, restarts on the same data dir, and the parts as separate
// processes.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the ballast binary built once for the package's tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ballast-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "ballast")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "ballast.dev/ballast/cmd/ballast")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build ballast:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a long-running ballast process whose output is watched.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	seen chan struct{} // closed and replaced when output arrives
	done chan struct{}
	err  error
}

func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, cmd: exec.Command(binary, args...), seen: make(chan struct{}), done: make(chan struct{})}
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		s := bufio.NewScanner(pr)
		for s.Scan() {
			p.mu.Lock()
			p.out.WriteString(s.Text() + "\n")
			close(p.seen)
			p.seen = make(chan struct{})
			p.mu.Unlock()
		}
	}()
	go func() {
		p.err = p.cmd.Wait()
		pw.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("output of %s:\n%s", p.name, p.output())
		}
	})
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitFor waits until the output matches re and returns the first match's
// submatches.
func (p *proc) waitFor(re string, timeout time.Duration) []string {
	p.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.After(timeout)
	for {
		p.mu.Lock()
		m := rx.FindStringSubmatch(p.out.String())
		seen := p.seen
		p.mu.Unlock()
		if m != nil {
			return m
		}
		select {
		case <-seen:
		case <-p.done:
			if m := rx.FindStringSubmatch(p.output()); m != nil {
				return m
			}
			p.t.Fatalf("%s exited (%v) before printing %q:\n%s", p.name, p.err, re, p.output())
		case <-deadline:
			p.t.Fatalf("%s did not print %q within %s:\n%s", p.name, re, timeout, p.output())
		}
	}
}

// stop sends Ctrl-C and waits for a clean exit.
func (p *proc) stop() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.t.Fatalf("%s did not stop within 30s of Ctrl-C", p.name)
	}
	if p.err != nil {
		p.t.Fatalf("%s exited with %v:\n%s", p.name, p.err, p.output())
	}
}

// ballast runs one CLI command against addr and returns its output; it
// fails the test when the exit code is not want.
func ballast(t *testing.T, addr string, want int, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append(args, "--addr", addr)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("ballast %s: %v", strings.Join(args, " "), err)
	}
	if code != want {
		t.Fatalf("ballast %s: exit %d, want %d:\n%s", strings.Join(args, " "), code, want, out.String())
	}
	return out.String()
}

// up starts `ballast up` on dataDir and returns it with its gRPC address.
func up(t *testing.T, dataDir string, extra ...string) (*proc, string) {
	t.Helper()
	args := append([]string{"up", "--data-dir", dataDir, "--grpc-addr", "127.0.0.1:0", "--nats-addr", "127.0.0.1:0", "--log-level", "warn"}, extra...)
	p := start(t, "ballast up", args...)
	m := p.waitFor(`gRPC\s+(\S+)`, 60*time.Second)
	return p, m[1]
}

// natsURL is where a `ballast up` said its embedded nats-server listens.
func (p *proc) natsURL() string {
	p.t.Helper()
	return p.waitFor(`NATS\s+(nats://\S+)`, 10*time.Second)[1]
}
