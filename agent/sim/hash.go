package sim

// The model derives all randomness from these hashes rather than from a
// random source, so that a value depends only on its inputs (seed, replica,
// time bucket) and never on the order in which things were asked for.

const golden = 0x9e3779b97f4a7c15

// mix is the splitmix64 finaliser: a cheap, well-distributed 64-bit mixer.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// hash4 combines four words into one well-mixed word.
func hash4(a, b, c, d uint64) uint64 {
	h := mix(a + golden)
	h = mix(h ^ (b + golden))
	h = mix(h ^ (c + golden))
	return mix(h ^ (d + golden))
}

// stringHash is FNV-1a over s; it does not allocate.
func stringHash(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// unit maps a hash to a float64 in [0, 1).
func unit(h uint64) float64 {
	return float64(h>>11) / (1 << 53)
}

// floorDiv divides rounding towards negative infinity, so that time buckets
// stay contiguous before the Unix epoch too.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// stream is a deterministic sequence of hashes, used where a generator needs
// several draws in a row (fleet generation).
type stream struct {
	seed, salt, n uint64
}

func (s *stream) next() uint64 {
	s.n++
	return hash4(s.seed, s.salt, s.n, 0)
}

func (s *stream) float() float64 { return unit(s.next()) }

// intn returns a value in [0, n).
func (s *stream) intn(n int) int { return int(s.next() % uint64(n)) }
