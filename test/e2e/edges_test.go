package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"ballast.dev/platform/waitfor"
)

// TestEdgesOfWhatUsersAsk drives requests at the edges of what the API
// takes through the CLI, on one `ballast up`: each refusal names what the
// user gave, and each accepted request does what it says.
func TestEdgesOfWhatUsersAsk(t *testing.T) {
	// Overcommit lets placement promise more than the simulated disks hold,
	// so that an agent can fail to provision a replica placement reserved.
	// One events watch at a time, so that the bound on watches shows; INFO
	// logs, to see what an operator reads.
	p, addr := up(t, t.TempDir(), "--overcommit", "3", "--max-event-watches", "1", "--log-level", "info")
	ballast(t, addr, 0, "volume", "create", "db", "--size", "1GiB", "--replicas", "3")

	t.Run("sizes that would wrap around", func(t *testing.T) {
		for _, size := range []string{"18446744073709551615", "18446744073709549568"} {
			out := ballast(t, addr, 1, "volume", "create", "huge", "--size", size)
			if !strings.Contains(out, "INVALID_ARGUMENT") || !strings.Contains(out, "largest volume") {
				t.Fatalf("create of %s bytes:\n%s", size, out)
			}
			out = ballast(t, addr, 1, "volume", "resize", "db", "--size", size)
			if !strings.Contains(out, "INVALID_ARGUMENT") || strings.Contains(out, "only grow") {
				t.Fatalf("resize to %s bytes:\n%s", size, out)
			}
		}
		if out := ballast(t, addr, 1, "volume", "get", "huge"); !strings.Contains(out, "NOT_FOUND") {
			t.Fatalf("refused volume exists:\n%s", out)
		}
	})

	t.Run("integers past the wire types", func(t *testing.T) {
		out := ballast(t, addr, 2, "volume", "create", "wrapped", "--size", "1GiB", "--replicas", "4294967297")
		if !strings.Contains(out, "--replicas") || !strings.Contains(out, "out of range") {
			t.Fatalf("create with 2^32+1 replicas:\n%s", out)
		}
		if out := ballast(t, addr, 1, "volume", "get", "wrapped"); !strings.Contains(out, "NOT_FOUND") {
			t.Fatalf("a volume was created with a wrapped replica count:\n%s", out)
		}
		out = ballast(t, addr, 2, "volume", "list", "--page-size", "3000000000")
		if !strings.Contains(out, "--page-size") || !strings.Contains(out, "out of range") || strings.Contains(out, "negative") {
			t.Fatalf("list with a page size past int32:\n%s", out)
		}
	})

	t.Run("a failed volume's name is free", func(t *testing.T) {
		// Placement finds no room: FAILED, holding nothing.
		out := ballast(t, addr, 1, "volume", "create", "wide", "--size", "1GiB", "--replicas", "5", "--spread", "zone")
		if !strings.Contains(out, "RESOURCE_EXHAUSTED") {
			t.Fatalf("create that cannot be placed:\n%s", out)
		}
		failedID := volumeField(t, addr, "wide", "id")
		out = ballast(t, addr, 0, "volume", "create", "wide", "--size", "1GiB", "--replicas", "3", "-o", "json")
		if !strings.Contains(out, "VOLUME_STATE_READY") || strings.Contains(out, failedID) {
			t.Fatalf("create again of a failed name:\n%s", out)
		}

		// Placement reserves 10 TiB per replica (overcommitted), the agents
		// cannot create them: FAILED, holding reservations.
		before := reservedBytes(t, addr)
		out = ballast(t, addr, 1, "volume", "create", "over", "--size", "10TiB", "--replicas", "3")
		if !strings.Contains(out, "failed") || !strings.Contains(out, "bytes free") {
			t.Fatalf("create the agents cannot provision:\n%s", out)
		}
		ballast(t, addr, 0, "volume", "create", "over", "--size", "1GiB", "--replicas", "3")
		// What the failed incarnation reserved is released: only the new
		// one's 3 × 1 GiB is added.
		waitfor.Condition(t, 20*time.Second, "the failed incarnation's reservations released", func() bool {
			return reservedBytes(t, addr) == before+3<<30
		})
	})

	t.Run("resize waits for every replica", func(t *testing.T) {
		ballast(t, addr, 0, "volume", "resize", "db", "--size", "2GiB")
		// Right after the command returns, with no wait: every replica has
		// grown.
		var v struct {
			Size       string `json:"size_bytes"`
			ResizingTo string `json:"resizing_to_bytes"`
			Replicas   []struct {
				Size string `json:"size_bytes"`
			} `json:"replicas"`
		}
		if err := json.Unmarshal([]byte(ballast(t, addr, 0, "volume", "get", "db", "-o", "json")), &v); err != nil {
			t.Fatal(err)
		}
		if v.Size != "2147483648" || v.ResizingTo != "" || len(v.Replicas) != 3 {
			t.Fatalf("after resize: %+v", v)
		}
		for _, r := range v.Replicas {
			if r.Size != "2147483648" {
				t.Fatalf("a replica has not grown: %+v", v)
			}
		}
	})

	t.Run("resize to a size that is not a whole MiB", func(t *testing.T) {
		// 3 GB is 2861.02 MiB: rounded up to 2862 MiB, as CSI drivers round
		// up to their allocation unit.
		ballast(t, addr, 0, "volume", "resize", "db", "--size", "3GB")
		if got := volumeField(t, addr, "db", "size_bytes"); got != "3001024512" {
			t.Fatalf("size %s after a resize to 3 GB, want 3001024512", got)
		}
		// The same size again is nothing to do; less is refused, naming
		// the flag the user gave.
		ballast(t, addr, 0, "volume", "resize", "db", "--size", "3GB")
		out := ballast(t, addr, 1, "volume", "resize", "db", "--size", "2999999999")
		if !strings.Contains(out, "INVALID_ARGUMENT: --size: volumes only grow") {
			t.Fatalf("resize to less than asked before:\n%s", out)
		}
		out = ballast(t, addr, 1, "volume", "resize", "db", "--size", "65TiB")
		if !strings.Contains(out, "INVALID_ARGUMENT: --size:") || strings.Contains(out, "spec.capacity") {
			t.Fatalf("resize past the largest volume:\n%s", out)
		}
	})

	t.Run("messages", func(t *testing.T) {
		long := strings.Repeat("x", 129)
		if out := ballast(t, addr, 1, "volume", "create", long, "--size", "1GiB"); !strings.Contains(out, "INVALID_ARGUMENT: NAME: is 129 bytes long; at most 128 bytes") {
			t.Fatalf("create of a long name:\n%s", out)
		}
		for _, args := range [][]string{{"get", "ghost"}, {"resize", "ghost", "--size", "2GiB"}, {"delete", "ghost"}} {
			out := ballast(t, addr, 1, append([]string{"volume"}, args...)...)
			if out != "error: NOT_FOUND: volume \"ghost\" not found\n" {
				t.Fatalf("volume %s:\n%s", strings.Join(args, " "), out)
			}
		}
	})
	t.Run("watches are bounded", func(t *testing.T) {
		w := start(t, "events watch", "events", "watch", "--addr", addr)
		// The watch is in place once it prints what is appended after it.
		i := 0
		waitfor.Condition(t, 30*time.Second, "the events watch in place", func() bool {
			i++
			ballast(t, addr, 0, "volume", "create", fmt.Sprintf("watched-%d", i), "--size", "1MiB", "--replicas", "1")
			return strings.Contains(w.output(), "watched-")
		})
		// It holds the gateway's only place: the next is refused, naming
		// the limit.
		code, out := ballastExit(t, addr, "events", "watch", "--timeout", "10s")
		if code != 1 || !strings.Contains(out, "RESOURCE_EXHAUSTED") || !strings.Contains(out, "--max-event-watches") {
			t.Fatalf("a second events watch: exit %d\n%s", code, out)
		}
		w.stop()
		waitfor.Condition(t, 20*time.Second, "the place given back", func() bool {
			_, out := ballastExit(t, addr, "events", "watch", "--timeout", "1s")
			return !strings.Contains(out, "RESOURCE_EXHAUSTED")
		})
	})
	t.Run("routine work is quiet at INFO", func(t *testing.T) {
		ballast(t, addr, 0, "volume", "create", "quiet", "--size", "1GiB", "--replicas", "3")
		ballast(t, addr, 0, "volume", "resize", "quiet", "--size", "2GiB")
		ballast(t, addr, 0, "volume", "delete", "quiet")
		for _, line := range strings.Split(p.output(), "\n") {
			for _, routine := range []string{"replica provisioned", "replica expanded", "replica deleted"} {
				if strings.Contains(line, routine) {
					t.Fatalf("a line per replica at INFO: %s", line)
				}
			}
		}
	})
	// More subtests go above.
}

// ballastExit runs one CLI command against addr and returns its exit code
// and output, whatever the code.
func ballastExit(t *testing.T, addr string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append(args, "--addr", addr)...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	case err != nil:
		t.Fatalf("ballast %s: %v", strings.Join(args, " "), err)
	}
	return 0, string(out)
}

// volumeField returns one field of a volume as `volume get -o json` prints it.
func volumeField(t *testing.T, addr, name, field string) string {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(ballast(t, addr, 0, "volume", "get", name, "-o", "json")), &v); err != nil {
		t.Fatal(err)
	}
	s, _ := v[field].(string)
	return s
}

// reservedBytes sums what every disk of every node has reserved.
func reservedBytes(t *testing.T, addr string) uint64 {
	t.Helper()
	var nodes struct {
		Nodes []struct {
			Disks []struct {
				Reserved string `json:"reserved_bytes"`
			} `json:"disks"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(ballast(t, addr, 0, "node", "list", "-o", "json")), &nodes); err != nil {
		t.Fatal(err)
	}
	var sum uint64
	for _, n := range nodes.Nodes {
		for _, d := range n.Disks {
			if d.Reserved != "" {
				b, err := strconv.ParseUint(d.Reserved, 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				sum += b
			}
		}
	}
	return sum
}
