package domain

import "fmt"

// formatBytes renders a size the way operators read it in messages: binary
// units with one decimal ("10.0 GiB"), plain bytes below 1 KiB, and the
// exact count of bytes beside it when the decimal rounds it ("18.6 GiB
// (20000538624 bytes)"), so that a refusal hides nothing of what was asked.
func formatBytes(b uint64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%d B", b)
	}
	div, exp := uint64(unit), 0
	for n := b / unit; n >= unit && exp < 5; n /= unit {
		div *= unit
		exp++
	}
	s := fmt.Sprintf("%.1f %ciB", float64(b)/float64(div), "KMGTPE"[exp])
	// One decimal of a power of 1024 is exact only for whole and half units.
	if b%(div/2) != 0 {
		s += fmt.Sprintf(" (%d bytes)", b)
	}
	return s
}
