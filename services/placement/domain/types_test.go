package domain

import "testing"

func TestTierStringRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		tier Tier
		name string
	}{{TierNVMe, "nvme"}, {TierSSD, "ssd"}, {TierHDD, "hdd"}} {
		if got := tc.tier.String(); got != tc.name {
			t.Errorf("%d.String() = %q, want %q", tc.tier, got, tc.name)
		}
		got, err := ParseTier(tc.name)
		if err != nil || got != tc.tier {
			t.Errorf("ParseTier(%q) = %v, %v", tc.name, got, err)
		}
	}
	if _, err := ParseTier("tape"); err == nil {
		t.Error("ParseTier(tape) succeeded")
	}
	if TierUnspecified.Valid() {
		t.Error("the zero tier must be invalid")
	}
}

func TestEnumsStrings(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{SpreadNode.String(), "node"}, {SpreadZone.String(), "zone"}, {SpreadRegion.String(), "region"},
		{NodeUp.String(), "up"}, {NodeCordoned.String(), "cordoned"}, {NodeDraining.String(), "draining"}, {NodeDown.String(), "down"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// Sizes in messages keep their one decimal, and say the exact bytes when
// the decimal rounds them: a refusal must not hide what was asked.
func TestFormatBytes(t *testing.T) {
	for _, tc := range []struct {
		in   uint64
		want string
	}{
		{0, "0 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{1536, "1.5 KiB"},
		{10 * gib, "10.0 GiB"},
		{4*gib + gib/2, "4.5 GiB"},
		{tib, "1.0 TiB"},
		{1 << 60, "1.0 EiB"},
		{^uint64(0), "16.0 EiB (18446744073709551615 bytes)"},
		{19074 << 20, "18.6 GiB (20000538624 bytes)"},
		{3_840_000_000_000, "3.5 TiB (3840000000000 bytes)"},
	} {
		if got := formatBytes(tc.in); got != tc.want {
			t.Errorf("formatBytes(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
