package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"ballast.dev/platform/waitfor"
	pb "ballast.dev/proto/ballast/v1"
)

func TestVolumeLifecycleThroughTheCLIAndARestart(t *testing.T) {
	dir := t.TempDir()
	p, addr := up(t, dir)

	out := ballast(t, addr, 0, "volume", "create", "db", "--size", "10GiB", "--replicas", "3", "--tier", "ssd", "--spread", "zone")
	if !strings.Contains(out, "ready") {
		t.Fatalf("create did not end ready:\n%s", out)
	}
	var v struct {
		ID       string `json:"id"`
		State    string `json:"state"`
		Size     string `json:"size_bytes"`
		Replicas []struct {
			NodeID string `json:"node_id"`
			Zone   string `json:"zone"`
			State  string `json:"state"`
		} `json:"replicas"`
	}
	if err := json.Unmarshal([]byte(ballast(t, addr, 0, "volume", "get", "db", "-o", "json")), &v); err != nil {
		t.Fatal(err)
	}
	zones := map[string]bool{}
	for _, r := range v.Replicas {
		zones[r.Zone] = true
		if r.State != "REPLICA_STATE_READY" {
			t.Fatalf("replica %+v not ready", r)
		}
	}
	if v.State != "VOLUME_STATE_READY" || len(v.Replicas) != 3 || len(zones) != 3 || v.Size != fmt.Sprint(10<<30) {
		t.Fatalf("volume %+v", v)
	}

	// Same name, same spec: the same volume. Another spec: ALREADY_EXISTS.
	ballast(t, addr, 0, "volume", "create", "db", "--size", "10GiB", "--replicas", "3")
	if out := ballast(t, addr, 1, "volume", "create", "db", "--size", "10GiB", "--replicas", "2"); !strings.Contains(out, "ALREADY_EXISTS") {
		t.Fatalf("conflicting create:\n%s", out)
	}
	if out := ballast(t, addr, 1, "volume", "create", "huge", "--size", "100TiB", "--replicas", "3"); !strings.Contains(out, "INVALID_ARGUMENT") {
		t.Fatalf("oversized create:\n%s", out)
	}
	if out := ballast(t, addr, 1, "volume", "create", "wide", "--size", "1GiB", "--replicas", "5", "--spread", "zone"); !strings.Contains(out, "RESOURCE_EXHAUSTED") || !strings.Contains(out, "zone") {
		t.Fatalf("create that cannot be placed:\n%s", out)
	}

	// Explain: where each replica went, and every node of the cluster then.
	if out := ballast(t, addr, 0, "placement", "explain", "db"); !strings.Contains(out, "recomputed from the event log") || strings.Contains(out, "Warning") {
		t.Fatalf("explain db:\n%s", out)
	}
	var x struct {
		Placements []json.RawMessage `json:"placements"`
		Candidates []struct {
			Feasible bool `json:"feasible"`
			Chosen   bool `json:"chosen"`
		} `json:"candidates"`
		Reproduced bool `json:"reproduced"`
	}
	if err := json.Unmarshal([]byte(ballast(t, addr, 0, "placement", "explain", "db", "-o", "json")), &x); err != nil {
		t.Fatal(err)
	}
	if len(x.Placements) != 3 || len(x.Candidates) != 12 || !x.Reproduced || !x.Candidates[0].Chosen {
		t.Fatalf("explain db: %+v", x)
	}
	if out := ballast(t, addr, 0, "placement", "explain", "wide"); !strings.Contains(out, "failed at") || !strings.Contains(out, "zone") {
		t.Fatalf("explain a volume that could not be placed:\n%s", out)
	}
	if out := ballast(t, addr, 1, "placement", "explain", "nope"); !strings.Contains(out, "NOT_FOUND") {
		t.Fatalf("explain a volume that does not exist:\n%s", out)
	}

	ballast(t, addr, 0, "volume", "resize", "db", "--size", "20GiB")
	if out := ballast(t, addr, 0, "volume", "get", "db"); !strings.Contains(out, "20 GiB") {
		t.Fatalf("after resize:\n%s", out)
	}
	if out := ballast(t, addr, 1, "volume", "resize", "db", "--size", "5GiB"); !strings.Contains(out, "INVALID_ARGUMENT") || !strings.Contains(out, "volumes only grow") {
		t.Fatalf("shrink:\n%s", out)
	}
	if out := ballast(t, addr, 1, "volume", "resize", "db", "--size", "900TiB"); !strings.Contains(out, "INVALID_ARGUMENT") {
		t.Fatalf("resize past the largest volume:\n%s", out)
	}
	// No simulated ssd holds 40 TiB: placement refuses and names the disks.
	if out := ballast(t, addr, 1, "volume", "resize", "db", "--size", "40TiB"); !strings.Contains(out, "free") || !strings.Contains(out, "node-") {
		t.Fatalf("resize beyond the disks:\n%s", out)
	}
	if out := ballast(t, addr, 0, "volume", "get", "db"); !strings.Contains(out, "20 GiB") || !strings.Contains(out, "ready") {
		t.Fatalf("after a refused resize:\n%s", out)
	}
	ballast(t, addr, 0, "volume", "create", "logs", "--size", "1GiB", "--replicas", "2", "--spread", "node")
	list := ballast(t, addr, 0, "volume", "list")
	for _, name := range []string{"db", "logs", "wide"} {
		if !strings.Contains(list, name) {
			t.Fatalf("list lacks %s:\n%s", name, list)
		}
	}
	if out := ballast(t, addr, 0, "node", "list"); strings.Count(out, "node-") != 12 {
		t.Fatalf("node list:\n%s", out)
	}

	ballast(t, addr, 0, "volume", "delete", "logs")
	if out := ballast(t, addr, 1, "volume", "get", "logs"); !strings.Contains(out, "NOT_FOUND") {
		t.Fatalf("deleted volume still there:\n%s", out)
	}

	// Restart on the same data dir: every volume comes back.
	p.stop()
	_, addr = up(t, dir)
	if err := json.Unmarshal([]byte(ballast(t, addr, 0, "volume", "get", "db", "-o", "json")), &v); err != nil {
		t.Fatal(err)
	}
	if v.State != "VOLUME_STATE_READY" || v.Size != fmt.Sprint(20<<30) {
		t.Fatalf("after restart: %+v", v)
	}
	if out := ballast(t, addr, 1, "volume", "get", "logs"); !strings.Contains(out, "NOT_FOUND") {
		t.Fatalf("deleted volume came back:\n%s", out)
	}
	// The restarted services still work, and a past decision is explained
	// as it was taken.
	ballast(t, addr, 0, "volume", "create", "after", "--size", "1GiB", "--replicas", "3")
	if out := ballast(t, addr, 0, "placement", "explain", "db"); !strings.Contains(out, "recomputed from the event log") || strings.Contains(out, "Warning") {
		t.Fatalf("explain db after a restart:\n%s", out)
	}
}

func TestEventsWatchPrintsEventsAsTheyAreAppended(t *testing.T) {
	_, addr := up(t, t.TempDir())
	w := start(t, "events watch", "events", "watch", "--addr", addr)
	// The watch follows live events from the moment its consumers are in
	// place, which the CLI does not announce: create volumes until one shows.
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; !strings.Contains(w.output(), "VolumeReady"); i++ {
		if time.Now().After(deadline) {
			t.Fatalf("events watch printed no VolumeReady:\n%s", w.output())
		}
		ballast(t, addr, 0, "volume", "create", fmt.Sprintf("seen-%d", i), "--size", "1GiB", "--replicas", "1")
	}
	// Now live: a new volume's whole story appears, from every service.
	ballast(t, addr, 0, "volume", "create", "story", "--size", "1GiB", "--replicas", "2")
	w.waitFor(`ballast\.evt\.volume\.story\s+VolumeRequested`, 10*time.Second)
	w.waitFor(`ballast\.evt\.placement\.\S+\s+PlacementDecided\s+\{"volume_id":"[^"]+","volume_name":"story"`, 10*time.Second)
	w.waitFor(`ballast\.evt\.node\.node-\d+\s+ReplicaProvisioned\s+\{[^\n]*"volume_name":"story"`, 10*time.Second)
	w.waitFor(`ballast\.evt\.volume\.story\s+VolumeReady`, 10*time.Second)
	w.stop()
}

func TestConcurrentCreatesOfOneNameMakeOneVolume(t *testing.T) {
	_, addr := up(t, t.TempDir())
	const clients = 16
	ids := make([]string, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			resp, err := pb.NewVolumeServiceClient(conn).CreateVolume(ctx, &pb.CreateVolumeRequest{
				Name: "shared",
				Spec: &pb.VolumeSpec{Capacity: &pb.CapacityRange{RequiredBytes: 1 << 30}, Replicas: 3},
			})
			if err != nil {
				t.Errorf("client %d: %v", i, err)
				return
			}
			ids[i] = resp.GetVolume().GetId()
		}()
	}
	wg.Wait()
	for i, id := range ids {
		if id == "" || id != ids[0] {
			t.Fatalf("client %d got volume %q, client 0 got %q: want one volume", i, id, ids[0])
		}
	}
	var list struct {
		Volumes []struct {
			Name string `json:"name"`
		} `json:"volumes"`
	}
	if err := json.Unmarshal([]byte(ballast(t, addr, 0, "volume", "list", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Volumes) != 1 {
		t.Fatalf("%d volumes listed, want 1", len(list.Volumes))
	}
}

// TestKilledAndRestarted: a SIGKILL leaves no lock behind and loses no
// acknowledged write.
func TestKilledAndRestarted(t *testing.T) {
	dir := t.TempDir()
	p, addr := up(t, dir)
	ballast(t, addr, 0, "volume", "create", "survivor", "--size", "3GiB", "--replicas", "3")
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
	_, addr = up(t, dir)
	if out := ballast(t, addr, 0, "volume", "get", "survivor"); !strings.Contains(out, "ready") || !strings.Contains(out, "3.0 GiB") {
		t.Fatalf("after SIGKILL and restart:\n%s", out)
	}
	ballast(t, addr, 0, "volume", "delete", "survivor")
}

// TestDeleteWhileCreatingLeavesNothingBehind deletes volumes at once after
// asking for them: whatever stage each had reached, every replica and every
// reservation is gone once the deletes finish.
func TestDeleteWhileCreatingLeavesNothingBehind(t *testing.T) {
	_, addr := up(t, t.TempDir())
	for i := range 5 {
		name := fmt.Sprintf("fleeting-%d", i)
		ballast(t, addr, 0, "volume", "create", name, "--size", "4GiB", "--replicas", "3", "--no-wait")
		ballast(t, addr, 0, "volume", "delete", name)
	}
	if out := ballast(t, addr, 0, "volume", "list"); strings.Contains(out, "fleeting") {
		t.Fatalf("deleted volumes listed:\n%s", out)
	}
	var nodes struct {
		Nodes []struct {
			ID    string `json:"id"`
			Disks []struct {
				Reserved string `json:"reserved_bytes"`
			} `json:"disks"`
			Replicas int `json:"replica_count"`
		} `json:"nodes"`
	}
	// Placement releases a deleted volume's capacity after the delete
	// completes; wait for the read model to show it.
	waitfor.Condition(t, 20*time.Second, "every replica and reservation released", func() bool {
		if err := json.Unmarshal([]byte(ballast(t, addr, 0, "node", "list", "-o", "json")), &nodes); err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes.Nodes {
			if n.Replicas != 0 {
				return false
			}
			for _, d := range n.Disks {
				if d.Reserved != "" && d.Reserved != "0" {
					return false
				}
			}
		}
		return true
	})
}
