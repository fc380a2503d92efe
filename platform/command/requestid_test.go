package command_test

import (
	"strings"
	"testing"

	"ballast.dev/platform/command"
)

func TestCheckRequestID(t *testing.T) {
	for _, c := range []struct {
		id   string
		want string // in the error; "" for none
	}{
		{"7c9e6679-7425-40de-944b-e07fc1f90ae7", ""},
		{"req-42", ""},
		{"01HZX3K5Q8:retry.2_a", ""},
		{strings.Repeat("a", command.MaxRequestIDLen), ""},
		{"", "is required"},
		{strings.Repeat("a", command.MaxRequestIDLen+1), "is 129 bytes long; at most 128"},
		{"a b", `"a b" holds ' '`},
		{"line\r\nNats-Msg-Id: x", `holds '\r'`},
		{"create/x", `holds '/'`},
		{"ü", `holds 'ü'`},
	} {
		err := command.CheckRequestID(c.id)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("CheckRequestID(%q) = %v, want nil", c.id, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("CheckRequestID(%q) = %v, want an error with %q", c.id, err, c.want)
		}
	}
}
