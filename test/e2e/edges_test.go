package e2e

import (
	"strings"
	"testing"
)

// TestEdgesOfWhatUsersAsk drives requests at the edges of what the API
// takes through the CLI, on one `ballast up`: each refusal names what the
// user gave, and each accepted request does what it says.
func TestEdgesOfWhatUsersAsk(t *testing.T) {
	_, addr := up(t, t.TempDir())
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
}
