package cli

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"

	ballastv1 "ballast.dev/proto/ballast/v1"
)

// parseSize reads a size in bytes. It takes plain bytes ("1073741824"), IEC
// units, 1024-based ("10GiB", "10Gi", "1.5 TiB"), and SI units, 1000-based
// ("500MB", "10G"), case-insensitively, as Kubernetes quantities do: "G" is
// 10^9 and "Gi" is 2^30. Fractions are rounded down to whole bytes. Negative
// numbers, commas (is "1,5" one and a half or fifteen?) and unknown units are
// refused.
func parseSize(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	switch {
	case t == "":
		return 0, errors.New("empty size")
	case strings.HasPrefix(t, "-"):
		return 0, fmt.Errorf("%q is negative", s)
	case strings.ContainsRune(t, ','):
		return 0, fmt.Errorf("%q has a comma: write 1.5GiB or 1536MiB", s)
	case t[0] < '0' || t[0] > '9':
		if t[0] != '.' {
			return 0, fmt.Errorf("%q is not a size: want bytes or a number with a unit, e.g. 10GiB or 500MB", s)
		}
	}
	n, err := humanize.ParseBytes(t)
	if err != nil {
		if strings.HasPrefix(err.Error(), "too large") {
			return 0, fmt.Errorf("%q is too large", s)
		}
		return 0, fmt.Errorf("%q is not a size: want bytes or a number with a unit, e.g. 10GiB or 500MB", s)
	}
	return n, nil
}

// sizeValue is a flag holding a size in bytes; zero means not given.
type sizeValue uint64

func (v *sizeValue) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	if n == 0 {
		return errors.New("must be more than zero bytes")
	}
	*v = sizeValue(n)
	return nil
}

func (v *sizeValue) String() string {
	if *v == 0 {
		return ""
	}
	return humanize.IBytes(uint64(*v))
}

func (v *sizeValue) Type() string { return "size" }

// intValue is an integer flag read into the API's own type, T, so that
// nothing is truncated on the way to the wire: a value outside [min, max]
// is refused here, never wrapped into another one.
type intValue[T int32 | uint32] struct {
	val      *T
	min, max T
}

func newIntValue[T int32 | uint32](val *T, def, min, max T) *intValue[T] {
	*val = def
	return &intValue[T]{val: val, min: min, max: max}
}

func (v *intValue[T]) Set(s string) error {
	t := strings.TrimSpace(s)
	n, err := strconv.ParseInt(t, 10, 64)
	var numErr *strconv.NumError
	switch {
	case errors.As(err, &numErr) && errors.Is(numErr.Err, strconv.ErrRange):
		if strings.HasPrefix(t, "-") {
			return fmt.Errorf("must be at least %d, got %s", v.min, t)
		}
		return fmt.Errorf("%s is out of range: at most %d", t, v.max)
	case err != nil:
		return fmt.Errorf("%q is not a whole number", s)
	case n < int64(v.min):
		return fmt.Errorf("must be at least %d, got %d", v.min, n)
	case n > int64(v.max):
		return fmt.Errorf("%d is out of range: at most %d", n, v.max)
	}
	*v.val = T(n)
	return nil
}

func (v *intValue[T]) String() string { return strconv.FormatInt(int64(*v.val), 10) }
func (v *intValue[T]) Type() string   { return "int" }

// choice is a flag that takes one of a fixed set of names.
type choice[T comparable] struct {
	val   *T
	names []string // in the order help lists them
	of    map[string]T
}

func newChoice[T comparable](val *T, def T, names []string, values []T) *choice[T] {
	c := &choice[T]{val: val, names: names, of: make(map[string]T, len(names))}
	for i, n := range names {
		c.of[n] = values[i]
	}
	*val = def
	return c
}

func (c *choice[T]) Set(s string) error {
	v, ok := c.of[strings.ToLower(strings.TrimSpace(s))]
	if !ok {
		return fmt.Errorf("must be one of %s", strings.Join(c.names, ", "))
	}
	*c.val = v
	return nil
}

func (c *choice[T]) String() string {
	for _, n := range c.names {
		if c.of[n] == *c.val {
			return n
		}
	}
	return ""
}

func (c *choice[T]) Type() string { return strings.Join(c.names, "|") }

func tierFlag(val *ballastv1.Tier) *choice[ballastv1.Tier] {
	return newChoice(val, ballastv1.Tier_TIER_SSD,
		[]string{"nvme", "ssd", "hdd"},
		[]ballastv1.Tier{ballastv1.Tier_TIER_NVME, ballastv1.Tier_TIER_SSD, ballastv1.Tier_TIER_HDD})
}

func spreadFlag(val *ballastv1.Spread) *choice[ballastv1.Spread] {
	return newChoice(val, ballastv1.Spread_SPREAD_ZONE,
		[]string{"zone", "node"},
		[]ballastv1.Spread{ballastv1.Spread_SPREAD_ZONE, ballastv1.Spread_SPREAD_NODE})
}

// outputFormat is the -o flag.
type outputFormat string

const (
	formatTable outputFormat = "table"
	formatJSON  outputFormat = "json"
)

func (f *outputFormat) Set(s string) error {
	switch v := outputFormat(strings.ToLower(s)); v {
	case formatTable, formatJSON:
		*f = v
		return nil
	}
	return errors.New("must be table or json")
}

func (f *outputFormat) String() string { return string(*f) }
func (f *outputFormat) Type() string   { return "table|json" }

// labelsValue is a repeatable key=value flag.
type labelsValue map[string]string

func (l labelsValue) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	k = strings.TrimSpace(k)
	if !ok || k == "" {
		return fmt.Errorf("%q is not key=value", s)
	}
	if _, dup := l[k]; dup {
		return fmt.Errorf("label %q given twice", k)
	}
	l[k] = v
	return nil
}

func (l labelsValue) String() string {
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(l)) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k + "=" + l[k])
	}
	return b.String()
}

func (l labelsValue) Type() string { return "key=value" }

// timeValue is a flag naming a moment: an RFC 3339 time, or a duration
// meaning that long ago ("10m", "2h30m", "3d"). A duration is taken from
// now when the flag is read. The zero time means not given.
type timeValue struct {
	t   *time.Time
	now func() time.Time
}

func newTimeValue(t *time.Time) *timeValue { return &timeValue{t: t, now: time.Now} }

func (v *timeValue) Set(s string) error {
	t, err := parseTime(s, v.now())
	if err != nil {
		return err
	}
	*v.t = t
	return nil
}

func (v *timeValue) String() string {
	if v.t == nil || v.t.IsZero() {
		return ""
	}
	return v.t.UTC().Format(time.RFC3339Nano)
}

func (v *timeValue) Type() string { return "time" }

// parseTime reads an RFC 3339 time, or a duration ago from now. Days ("3d")
// are 24 hours. A time after now, a negative duration or anything else is
// refused with what was wrong.
func parseTime(s string, now time.Time) (time.Time, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return time.Time{}, errors.New("empty: want an RFC 3339 time (2026-03-01T09:30:00Z) or how long ago (10m, 2h30m, 3d)")
	}
	if t, err := time.Parse(time.RFC3339Nano, in); err == nil {
		if t.After(now) {
			return time.Time{}, fmt.Errorf("%s is in the future", in)
		}
		return t, nil
	}
	d, err := parseAgo(in)
	switch {
	case err == nil && d < 0:
		return time.Time{}, fmt.Errorf("%q is negative: say how long ago, e.g. 10m", s)
	case err == nil:
		return now.Add(-d), nil
	case strings.ContainsAny(in, "T:") || strings.Count(in, "-") >= 2:
		// Meant as a time: the usual slip is a missing zone.
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time: write the date, time and zone, e.g. 2026-03-01T09:30:00Z or 2026-03-01T10:30:00+01:00", s)
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2026-03-01T09:30:00Z) nor how long ago (10m, 2h30m, 3d)", s)
}

// parseAgo is time.ParseDuration with days.
func parseAgo(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil || math.IsInf(n, 0) || math.IsNaN(n) || math.Abs(n) > 100_000 {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	return time.ParseDuration(s)
}
