package cli

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	ballastv1 "ballast.dev/proto/ballast/v1"
)

// fakePlacement serves the fixture explanation three rows a page.
type fakePlacement struct {
	ballastv1.UnimplementedPlacementServiceServer
	mu   sync.Mutex
	asks []*ballastv1.ExplainPlacementRequest
}

func (f *fakePlacement) ExplainPlacement(_ context.Context, req *ballastv1.ExplainPlacementRequest) (*ballastv1.ExplainPlacementResponse, error) {
	f.mu.Lock()
	f.asks = append(f.asks, proto.CloneOf(req))
	f.mu.Unlock()
	if req.GetName() != "pg-data" {
		return nil, status.Error(codes.NotFound, `volume "`+req.GetName()+`" not found`)
	}
	x := fixtureExplanation()
	if req.GetAt() != nil {
		x = fixtureMovedExplanation()
		x.At = req.GetAt()
	}
	if req.GetPageToken() != "" {
		x.Origins = nil // on the first page only
	}
	start := map[string]int{"": 0, "p2": 3, "p3": 6}[req.GetPageToken()]
	end := min(start+3, len(x.Candidates))
	x.Candidates = x.Candidates[start:end]
	x.NextPageToken = map[int]string{3: "p2", 6: "p3"}[end]
	return x, nil
}

func TestPlacementExplainFetchesEveryPage(t *testing.T) {
	fake := &fakePlacement{}
	addr := serve(t, func(s *grpc.Server) { ballastv1.RegisterPlacementServiceServer(s, fake) })

	code, stdout, stderr := run(t.Context(), "--addr", addr, "placement", "explain", "pg-data")
	if code != ExitOK {
		t.Fatalf("exit code %d, stderr %q", code, stderr)
	}
	var want strings.Builder
	if err := renderExplanation(&want, formatTable, fixtureExplanation()); err != nil {
		t.Fatal(err)
	}
	if stdout != want.String() {
		t.Fatalf("stdout:\n%s\nwant every page:\n%s", stdout, want.String())
	}
	fake.mu.Lock()
	var tokens []string
	for _, a := range fake.asks {
		tokens = append(tokens, a.GetPageToken())
		if a.GetPageSize() != explainPageSize {
			t.Errorf("page size %d", a.GetPageSize())
		}
	}
	fake.mu.Unlock()
	if strings.Join(tokens, ",") != ",p2,p3" {
		t.Fatalf("pages asked for: %q", tokens)
	}

	code, stdout, _ = run(t.Context(), "--addr", addr, "placement", "explain", "pg-data", "-o", "json")
	var got struct {
		Candidates    []json.RawMessage `json:"candidates"`
		NextPageToken string            `json:"next_page_token"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); code != ExitOK || err != nil || len(got.Candidates) != 7 || got.NextPageToken != "" {
		t.Fatalf("json: exit %d, %v, %d rows, next %q", code, err, len(got.Candidates), got.NextPageToken)
	}

	code, _, stderr = run(t.Context(), "--addr", addr, "placement", "explain", "nope")
	if code != ExitFailure || stderr != "error: NOT_FOUND: volume \"nope\" not found\n" {
		t.Fatalf("exit code %d, stderr %q", code, stderr)
	}
	if code, _, stderr = run(t.Context(), "--addr", addr, "placement", "explain"); code != ExitUsage || !strings.Contains(stderr, "a volume name or id") {
		t.Fatalf("no volume: exit code %d, stderr %q", code, stderr)
	}
}

// --at sends the time asked for on every page; the origins of the first
// page are shown with every row.
func TestPlacementExplainAtATime(t *testing.T) {
	fake := &fakePlacement{}
	addr := serve(t, func(s *grpc.Server) { ballastv1.RegisterPlacementServiceServer(s, fake) })

	code, stdout, stderr := run(t.Context(), "--addr", addr, "placement", "explain", "pg-data", "--at", "2026-03-01T10:15:00Z")
	if code != ExitOK {
		t.Fatalf("exit code %d, stderr %q", code, stderr)
	}
	var want strings.Builder
	if err := renderExplanation(&want, formatTable, fixtureMovedExplanation()); err != nil {
		t.Fatal(err)
	}
	if stdout != want.String() {
		t.Fatalf("stdout:\n%s\nwant:\n%s", stdout, want.String())
	}
	fake.mu.Lock()
	for _, a := range fake.asks {
		if !a.GetAt().AsTime().Equal(time.Date(2026, 3, 1, 10, 15, 0, 0, time.UTC)) {
			t.Errorf("page %q asked at %v", a.GetPageToken(), a.GetAt())
		}
	}
	fake.asks = nil
	fake.mu.Unlock()

	// How long ago: from now.
	before := time.Now()
	code, stdout, _ = run(t.Context(), "--addr", addr, "placement", "explain", "pg-data", "--at", "10m", "-o", "json")
	var got struct {
		At      string            `json:"at"`
		Origins []json.RawMessage `json:"origins"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); code != ExitOK || err != nil || len(got.Origins) != 4 {
		t.Fatalf("json: exit %d, %v, %d origins", code, err, len(got.Origins))
	}
	fake.mu.Lock()
	at := fake.asks[0].GetAt().AsTime()
	fake.mu.Unlock()
	if at.Before(before.Add(-10*time.Minute)) || at.After(time.Now().Add(-10*time.Minute)) {
		t.Fatalf("--at 10m asked for %v", at)
	}
}
