// Package domain holds the Volume aggregate and its rules: what a volume may
// be asked to be, and how its lifecycle moves. No I/O, no protobuf.
package domain

import (
	"fmt"
	"maps"
	"regexp"
)

// Byte sizes.
const (
	MiB uint64 = 1 << 20
	GiB uint64 = 1 << 30
	TiB uint64 = 1 << 40
)

// Limits of a volume spec.
const (
	MinReplicas = 1
	MaxReplicas = 5
	// DefaultSizeBytes is the size of a volume whose capacity range is empty.
	DefaultSizeBytes = 1 * GiB
	// MaxSizeBytes is the largest volume Ballast provisions.
	MaxSizeBytes = 64 * TiB
	// sizeAlignBytes: replicas are provisioned in whole MiB.
	sizeAlignBytes = MiB
	maxNameLen     = 128
	maxLabels      = 32
	maxLabelKeyLen = 63
	maxLabelValLen = 256
)

// Tier is the class of disk a volume lives on.
type Tier int

// Tiers.
const (
	TierNVMe Tier = iota + 1
	TierSSD
	TierHDD
)

func (t Tier) String() string {
	switch t {
	case TierNVMe:
		return "nvme"
	case TierSSD:
		return "ssd"
	case TierHDD:
		return "hdd"
	}
	return fmt.Sprintf("tier(%d)", int(t))
}

// Spread is the failure domain level across which replicas are spread: at most
// one replica of a volume per domain.
type Spread int

// Spread levels.
const (
	SpreadNode Spread = iota + 1
	SpreadZone
)

func (s Spread) String() string {
	switch s {
	case SpreadNode:
		return "node"
	case SpreadZone:
		return "zone"
	}
	return fmt.Sprintf("spread(%d)", int(s))
}

// CapacityRange is the size asked for, as CSI has it: at least RequiredBytes,
// at most LimitBytes; zero means unset.
type CapacityRange struct {
	RequiredBytes uint64
	LimitBytes    uint64
}

// Resolve picks the size to provision: the smallest whole MiB that satisfies
// the range, DefaultSizeBytes (capped by the limit) when nothing is required.
// Its errors name spec.capacity, the field of a create.
func (c CapacityRange) Resolve() (uint64, error) { return c.resolve("spec.capacity") }

// resolve is Resolve with errors naming field.
func (c CapacityRange) resolve(field string) (uint64, error) {
	if c.LimitBytes > 0 && c.RequiredBytes > c.LimitBytes {
		return 0, fieldErr(field, "required_bytes %d is more than limit_bytes %d", c.RequiredBytes, c.LimitBytes)
	}
	// Before rounding up: a size within a MiB of 2^64 would wrap around.
	if c.RequiredBytes > MaxSizeBytes {
		return 0, fieldErr(field, "asks for at least %s; the largest volume is %s", formatBytes(c.RequiredBytes), formatBytes(MaxSizeBytes))
	}
	size := c.RequiredBytes
	if size == 0 {
		size = DefaultSizeBytes
		if c.LimitBytes > 0 && c.LimitBytes < size {
			size = c.LimitBytes
		}
	}
	// MaxSizeBytes is whole MiB, so this cannot pass it.
	size = alignUp(size)
	if c.LimitBytes > 0 && size > c.LimitBytes {
		// The limit is not MiB-aligned; the largest aligned size under it may
		// still satisfy what is required.
		size = c.LimitBytes / sizeAlignBytes * sizeAlignBytes
		if size < c.RequiredBytes || size == 0 {
			return 0, fieldErr(field, "no size in whole MiB lies between required_bytes %d and limit_bytes %d", c.RequiredBytes, c.LimitBytes)
		}
	}
	return size, nil
}

// Contains reports whether size satisfies the range.
func (c CapacityRange) Contains(size uint64) bool {
	return size >= c.RequiredBytes && (c.LimitBytes == 0 || size <= c.LimitBytes)
}

// alignUp rounds n up to whole MiB; n must be at most MaxSizeBytes.
func alignUp(n uint64) uint64 {
	return (n + sizeAlignBytes - 1) / sizeAlignBytes * sizeAlignBytes
}

// Spec is what a volume is asked to be.
type Spec struct {
	Capacity CapacityRange
	Replicas int
	Tier     Tier
	Spread   Spread
	Labels   map[string]string
}

var (
	nameRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)
	labelKeyRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$`)
)

// ValidateName checks a volume name. Names key the volume's history in the
// event log, so they are limited to characters that are safe in a subject.
func ValidateName(name string) error {
	switch {
	case name == "":
		return fieldErr("name", "is required")
	case len(name) > maxNameLen:
		return fieldErr("name", "is %d bytes long; at most %d bytes", len(name), maxNameLen)
	case !nameRE.MatchString(name):
		return fieldErr("name", "%q may hold only letters, digits, '-' and '_', and must start with a letter or digit", name)
	}
	return nil
}

// Validate checks a spec and returns the size to provision. Its errors name
// the field at fault.
func (s Spec) Validate() (uint64, error) {
	if s.Replicas < MinReplicas || s.Replicas > MaxReplicas {
		return 0, fieldErr("spec.replicas", "%d is out of range; must be %d to %d", s.Replicas, MinReplicas, MaxReplicas)
	}
	if s.Tier < TierNVMe || s.Tier > TierHDD {
		return 0, fieldErr("spec.tier", "must be nvme, ssd or hdd")
	}
	if s.Spread < SpreadNode || s.Spread > SpreadZone {
		return 0, fieldErr("spec.spread", "must be zone or node")
	}
	if len(s.Labels) > maxLabels {
		return 0, fieldErr("spec.labels", "has %d labels; at most %d", len(s.Labels), maxLabels)
	}
	for k, v := range s.Labels {
		if len(k) > maxLabelKeyLen || !labelKeyRE.MatchString(k) {
			return 0, fieldErr("spec.labels", "key %q must be 1 to %d letters, digits, '.', '_', '/' or '-', starting and ending with a letter or digit", k, maxLabelKeyLen)
		}
		if len(v) > maxLabelValLen {
			return 0, fieldErr("spec.labels", "value of %q is %d bytes; at most %d", k, len(v), maxLabelValLen)
		}
	}
	return s.Capacity.Resolve()
}

// sameIntent reports whether a create with spec other asks for what s already
// is (a volume of size bytes): then it is a retry, not a conflict.
func (s Spec) sameIntent(other Spec, size uint64) bool {
	return other.Capacity.Contains(size) &&
		s.Replicas == other.Replicas &&
		s.Tier == other.Tier &&
		s.Spread == other.Spread &&
		maps.Equal(s.Labels, other.Labels)
}

// formatBytes writes a size in binary units, as operators read them, with
// the exact count of bytes beside it when the units round it: a message
// must not hide what was asked.
func formatBytes(n uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	i, div := 0, uint64(1)
	for n/div >= 1024 && i < len(units)-1 {
		div *= 1024
		i++
	}
	v := float64(n) / float64(div)
	switch {
	case n%div == 0:
		return fmt.Sprintf("%d %s", n/div, units[i])
	case n%(div/2) == 0: // one decimal says it all: x.5
		return fmt.Sprintf("%.1f %s", v, units[i])
	}
	return fmt.Sprintf("%.1f %s (%d bytes)", v, units[i], n)
}
