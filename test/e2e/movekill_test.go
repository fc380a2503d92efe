package e2e

import (
	"testing"
	"time"

	"ballast.dev/platform/waitfor"
)

// The migration service and placement, each a process of its own, are
// SIGKILLed while a move copies; started again, they carry the move on
// from the log: it completes, the volume has its replicas with the moved
// one on the target, and placement holds the target's bytes and no longer
// the source's.
func TestMigrationAndPlacementKilledMidMove(t *testing.T) {
	s := startStack(t, 12)
	ballast(t, s.addr, 0, "volume", "create", "db", "--size", "10GiB", "--replicas", "3")
	from := volumeOf(t, s.addr, "db").Replicas[0].NodeID
	id := startMove(t, s.addr, "db", from)
	waitfor.Condition(t, time.Minute, "the copy under way", func() bool {
		m := migrationOf(t, s.addr, id)
		return m.Step == "MIGRATION_STEP_COPYING" && m.Copied != "" && m.Copied != "0"
	})
	kill(t, s.procs["migration"])
	kill(t, s.procs["placement"])
	s.startService("placement")
	s.startService("migration")
	m := waitStep(t, s.addr, id, "MIGRATION_STEP_COMPLETED", 4*time.Minute)
	v := volumeOf(t, s.addr, "db")
	if v.State != "VOLUME_STATE_READY" || len(v.Replicas) != 3 {
		t.Fatalf("after the move: %+v", v)
	}
	waitfor.Condition(t, time.Minute, "the source's bytes released", func() bool {
		return nodeReplicaCount(t, s.addr, from) == 0 && nodeReplicaCount(t, s.addr, m.Target.NodeID) > 0
	})
	neverShort(t, jetStream(t, s.natsURL), "db")
}
