package natsconn

import (
	"errors"
	"testing"
)

func TestCheckVersion(t *testing.T) {
	for _, c := range []struct {
		v  string
		ok bool
	}{
		{"2.9.20", false}, {"2.11.9", false}, {"2.12.0", true}, {"2.15.2", true}, {"3.0.0", true}, {"2.12.1-beta.2", true},
	} {
		err := checkVersion(c.v)
		if (err == nil) != c.ok {
			t.Errorf("checkVersion(%q) = %v, want ok %v", c.v, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrServerTooOld) {
			t.Errorf("checkVersion(%q) = %v, want ErrServerTooOld", c.v, err)
		}
	}
	if err := checkVersion("garbage"); err == nil {
		t.Error("an unreadable version passed")
	}
}
