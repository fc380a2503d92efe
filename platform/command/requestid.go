package command

import "fmt"

// MaxRequestIDLen bounds a command's request id, in bytes.
const MaxRequestIDLen = 128

// CheckRequestID checks a command's request id: 1 to MaxRequestIDLen bytes
// of ASCII letters, digits, '-', '_', '.' and ':' (a UUID or ULID fits). The
// id travels in NATS headers and becomes part of event ids, so it is bounded
// and plain: no spaces, no line breaks, no '/', which separates the parts
// of an event id.
func CheckRequestID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("is required")
	case len(id) > MaxRequestIDLen:
		return fmt.Errorf("is %d bytes long; at most %d", len(id), MaxRequestIDLen)
	}
	for _, r := range id {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '-', r == '_', r == '.', r == ':':
		default:
			return fmt.Errorf("%q holds %q; only letters, digits, '-', '_', '.' and ':' are allowed", id, r)
		}
	}
	return nil
}
