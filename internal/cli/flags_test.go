package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    uint64
		wantErr string
	}{
		{in: "1073741824", want: 1 << 30},
		{in: "10GiB", want: 10 << 30},
		{in: "10Gi", want: 10 << 30},
		{in: "10 gib", want: 10 << 30},
		{in: "1.5TiB", want: 3 << 39},
		{in: "500MB", want: 500_000_000},
		{in: "10G", want: 10_000_000_000},
		{in: "10GB", want: 10_000_000_000},
		{in: "4KiB", want: 4096},
		{in: "  2MiB ", want: 2 << 20},
		{in: "0", want: 0},
		{in: "", wantErr: "empty"},
		{in: "-5GiB", wantErr: "negative"},
		{in: "1,5GiB", wantErr: "comma"},
		{in: "GiB", wantErr: "not a size"},
		{in: "ten", wantErr: "not a size"},
		{in: "10XB", wantErr: "not a size"},
		{in: "10GiBs", wantErr: "not a size"},
		{in: "1e9", wantErr: "not a size"},
		{in: "99999999EiB", wantErr: "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseSize(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseSize(%q) = %d, %v; want an error with %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

// run executes the ballast root with args and returns its exit code and
// output.
func run(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	root := NewRoot()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	code = Execute(ctx, root)
	return code, out.String(), errOut.String()
}

// TestFlagValidation checks that bad command lines are refused before any
// call, with an error that names the flag. The address is one nothing
// listens on: reaching it would fail differently.
func TestFlagValidation(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"size missing", []string{"volume", "create", "db"}, "--size is required"},
		{"size garbage", []string{"volume", "create", "db", "--size", "lots"}, `invalid argument "lots" for "--size" flag`},
		{"size negative", []string{"volume", "create", "db", "--size", "-1GiB"}, `"--size" flag: "-1GiB" is negative`},
		{"size zero", []string{"volume", "create", "db", "--size", "0"}, `"--size" flag: must be more than zero bytes`},
		{"limit below size", []string{"volume", "create", "db", "--size", "10GiB", "--limit", "5GiB"}, "--limit 5.0 GiB is less than --size 10 GiB"},
		{"limit below size, rounded", []string{"volume", "create", "db", "--size", "20GB", "--limit", "19GB"}, "--limit 18 GiB (19000000000 bytes) is less than --size 19 GiB (20000000000 bytes)"},
		{"bad tier", []string{"volume", "create", "db", "--size", "1GiB", "--tier", "tape"}, `"--tier" flag: must be one of nvme, ssd, hdd`},
		{"bad spread", []string{"volume", "create", "db", "--size", "1GiB", "--spread", "rack"}, `"--spread" flag: must be one of zone, node`},
		{"replicas zero", []string{"volume", "create", "db", "--size", "1GiB", "--replicas", "0"}, `"--replicas" flag: must be at least 1, got 0`},
		{"replicas negative", []string{"volume", "create", "db", "--size", "1GiB", "--replicas", "-2"}, `"--replicas" flag: must be at least 1, got -2`},
		// Past the wire type (uint32): refused, never wrapped to 1.
		{"replicas past 2^32", []string{"volume", "create", "db", "--size", "1GiB", "--replicas", "4294967297"}, `"--replicas" flag: 4294967297 is out of range: at most 4294967295`},
		{"replicas past int64", []string{"volume", "create", "db", "--size", "1GiB", "--replicas", "99999999999999999999"}, `"--replicas" flag: 99999999999999999999 is out of range: at most 4294967295`},
		{"replicas not a number", []string{"volume", "create", "db", "--size", "1GiB", "--replicas", "three"}, `"--replicas" flag: "three" is not a whole number`},
		{"bad label", []string{"volume", "create", "db", "--size", "1GiB", "--label", "team"}, `"--label" flag: "team" is not key=value`},
		{"duplicate label", []string{"volume", "create", "db", "--size", "1GiB", "--label", "a=1", "--label", "a=2"}, `label "a" given twice`},
		{"no name", []string{"volume", "create", "--size", "1GiB"}, "needs a volume name"},
		{"bad output", []string{"volume", "list", "-o", "yaml"}, `"-o, --output" flag: must be table or json`},
		{"resize without size", []string{"volume", "resize", "db"}, "--size is required"},
		{"negative page size", []string{"volume", "list", "--page-size", "-1"}, `"--page-size" flag: must be at least 0, got -1`},
		// Past the wire type (int32): refused, never wrapped negative.
		{"page size past 2^31", []string{"volume", "list", "--page-size", "3000000000"}, `"--page-size" flag: 3000000000 is out of range: at most 2147483647`},
		{"unknown command", []string{"volume", "grow"}, `unknown command "grow" for "ballast volume"`},
		{"unknown flag", []string{"node", "list", "--fast"}, "unknown flag: --fast"},
		{"at garbage", []string{"placement", "explain", "db", "--at", "yesterday"}, `invalid argument "yesterday" for "--at" flag: "yesterday" is neither an RFC 3339 time`},
		{"at without a zone", []string{"placement", "explain", "db", "--at", "2026-03-01T09:30:00"}, `"--at" flag: "2026-03-01T09:30:00" is not an RFC 3339 time: write the date, time and zone`},
		{"at negative", []string{"placement", "explain", "db", "--at", "-10m"}, `"--at" flag: "-10m" is negative: say how long ago`},
		{"at in the future", []string{"placement", "explain", "db", "--at", "2999-01-01T00:00:00Z"}, `"--at" flag: 2999-01-01T00:00:00Z is in the future`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(t.Context(), append([]string{"--addr", "127.0.0.1:1"}, tt.args...)...)
			if code != ExitUsage {
				t.Errorf("exit code %d, want %d (stderr %q)", code, ExitUsage, stderr)
			}
			if !strings.HasPrefix(stderr, "error: ") || !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr = %q, want an error with %q", stderr, tt.want)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in      string
		want    time.Time
		wantErr string
	}{
		{in: "2026-03-01T09:30:00Z", want: now.Add(-30 * time.Minute)},
		{in: "2026-03-01T10:30:00+01:00", want: now.Add(-30 * time.Minute)},
		{in: "2026-03-01T09:59:59.25Z", want: now.Add(-750 * time.Millisecond)},
		{in: " 10m ", want: now.Add(-10 * time.Minute)},
		{in: "2h30m", want: now.Add(-150 * time.Minute)},
		{in: "3d", want: now.Add(-72 * time.Hour)},
		{in: "1.5d", want: now.Add(-36 * time.Hour)},
		{in: "0s", want: now},
		{in: "2026-03-01T10:00:00Z", want: now},
		{in: "", wantErr: "empty"},
		{in: "-10m", wantErr: "negative"},
		{in: "-1d", wantErr: "negative"},
		{in: "2026-03-01T10:00:01Z", wantErr: "in the future"},
		{in: "2026-03-01", wantErr: "not an RFC 3339 time"},
		{in: "2026-03-01 09:30:00Z", wantErr: "not an RFC 3339 time"},
		{in: "10", wantErr: "neither"},
		{in: "tend", wantErr: "neither"},
		{in: "1e400d", wantErr: "neither"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseTime(tt.in, now)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseTime(%q) = %v, %v; want an error with %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !got.Equal(tt.want) {
				t.Fatalf("parseTime(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}
