package server

import (
	"strings"
	"testing"
)

// The throttle flags parse into the migration limits, and bad values are
// refused naming the flag.
func TestMoveFlags(t *testing.T) {
	for _, c := range []struct {
		global, perNode int
		bandwidth       string
		want            uint64
		err             string
	}{
		{32, 2, "8.0 GiB", 8 << 30, ""},
		{64, 4, "400MB", 400_000_000, ""},
		{8, 1, "0", 0, ""},
		{32, 2, "fast", 0, "--move-bandwidth"},
		{32, 2, "-1GiB", 0, "--move-bandwidth"},
		{0, 2, "1GiB", 0, "--max-moves 0"},
		{32, -1, "1GiB", 0, "--moves-per-node -1"},
	} {
		o := options{moveBandwidth: c.bandwidth}
		o.moves.Global, o.moves.PerNodeIn = c.global, c.perNode
		err := o.parseMoveLimits()
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%+v: error %v, want one naming %s", c, err, c.err)
		case c.err == "" && err != nil:
			t.Errorf("%+v: %v", c, err)
		case c.err == "" && (o.moves.BandwidthBps != c.want || o.moves.PerNodeOut != c.perNode):
			t.Errorf("%+v: limits %+v", c, o.moves)
		}
	}
}
