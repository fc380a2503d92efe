package domain

import (
	"errors"
	"fmt"
	"strings"
)

// Kinds of refusal. Each maps to one API status code at the edge.
var (
	ErrInvalidArgument    = errors.New("invalid argument")
	ErrAlreadyExists      = errors.New("already exists")
	ErrNotFound           = errors.New("not found")
	ErrFailedPrecondition = errors.New("failed precondition")
	// ErrDamaged matches every *DamagedError.
	ErrDamaged = errors.New("history damaged")
)

// Unreadable is an event of a volume's history that could not be read.
type Unreadable struct {
	Sequence uint64
	Reason   string
}

// DamagedError refuses every change of a volume whose history holds an
// event that cannot be read: deciding without it could undo what it
// recorded. Repair leaves such events out, on an operator's word.
type DamagedError struct {
	Name       string
	Unreadable []Unreadable
}

func (e *DamagedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "volume %q: its history has %d %s this version cannot read (", e.Name, len(e.Unreadable), plural(len(e.Unreadable), "event", "events"))
	for i, u := range e.Unreadable {
		if i > 0 {
			b.WriteString("; ")
		}
		if i == 3 {
			fmt.Fprintf(&b, "%d more", len(e.Unreadable)-i)
			break
		}
		fmt.Fprintf(&b, "sequence %d: %s", u.Sequence, u.Reason)
	}
	fmt.Fprintf(&b, "); `ballast volume repair %s` records the volume as the readable events make it and leaves the others out", e.Name)
	return b.String()
}

// Is makes errors.Is(err, ErrDamaged) and errors.Is(err,
// ErrFailedPrecondition) hold: the volume must be repaired first.
func (e *DamagedError) Is(target error) bool {
	return target == ErrDamaged || target == ErrFailedPrecondition
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// FieldError is an invalid argument that names the field at fault.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Is makes errors.Is(err, ErrInvalidArgument) hold for every FieldError.
func (e *FieldError) Is(target error) bool { return target == ErrInvalidArgument }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
