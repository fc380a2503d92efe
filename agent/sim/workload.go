package sim

import (
	"fmt"
	"math"
	"time"
)

// WorkloadKind is the shape of a replica's load over time.
type WorkloadKind string

// The workload shapes.
const (
	// Steady load stays at its base, give or take noise.
	Steady WorkloadKind = "steady"
	// Diurnal load follows a sinusoid over 24 hours, peaking at PeakOffset
	// past midnight UTC.
	Diurnal WorkloadKind = "diurnal"
	// Bursty load sits at its base and, in any minute, jumps by BurstFactor
	// with probability BurstChance.
	Bursty WorkloadKind = "bursty"
)

const (
	day = 24 * time.Hour
	// burstPeriod is how long a burst lasts; whether a minute bursts is
	// decided per minute from a hash.
	burstPeriod = time.Minute
	// noisePeriod is how often noise changes: samples within one period
	// see the same noise, a scraper every few seconds sees it move.
	noisePeriod = 5 * time.Second
	// noiseAmplitude is the relative spread of noise: ±10 %.
	noiseAmplitude = 0.1
)

// Salts keep the hash streams for different purposes independent.
const (
	saltWorkload = 0x3010ad
	saltBurst    = 0xb0257
	saltNoise    = 0x4015e
)

// Workload is the load a replica puts on its disk: a base rate of reads and
// writes of one I/O size, shaped over time by Kind.
type Workload struct {
	Kind        WorkloadKind
	ReadIOPS    float64 // base read operations per second
	WriteIOPS   float64 // base write operations per second
	IOSizeBytes uint64  // bytes per operation, which turns IOPS into bandwidth

	// Amplitude (Diurnal) is the relative swing around the base, in [0, 1].
	Amplitude float64
	// PeakOffset (Diurnal) is when in the UTC day the load peaks.
	PeakOffset time.Duration

	// BurstChance (Bursty) is the probability that a given minute bursts.
	BurstChance float64
	// BurstFactor (Bursty) multiplies the base load during a burst.
	BurstFactor float64
}

// Validate reports why w cannot be a workload, or nil.
func (w Workload) Validate() error {
	switch {
	case w.Kind != Steady && w.Kind != Diurnal && w.Kind != Bursty:
		return fmt.Errorf("workload: unknown kind %q: %w", w.Kind, ErrInvalid)
	case !(w.ReadIOPS >= 0) || !(w.WriteIOPS >= 0) || math.IsInf(w.ReadIOPS, 0) || math.IsInf(w.WriteIOPS, 0):
		return fmt.Errorf("workload: IOPS must be finite and not negative: %w", ErrInvalid)
	case w.IOSizeBytes == 0:
		return fmt.Errorf("workload: zero I/O size: %w", ErrInvalid)
	case w.Kind == Diurnal && !(w.Amplitude >= 0 && w.Amplitude <= 1):
		return fmt.Errorf("workload: diurnal amplitude %v outside [0, 1]: %w", w.Amplitude, ErrInvalid)
	case w.Kind == Bursty && !(w.BurstChance >= 0 && w.BurstChance <= 1 && w.BurstFactor >= 1 && !math.IsInf(w.BurstFactor, 0)):
		return fmt.Errorf("workload: burst chance must be in [0, 1] and factor finite and at least 1: %w", ErrInvalid)
	}
	return nil
}

var ioSizes = [...]uint64{4 << 10, 4 << 10, 8 << 10, 16 << 10, 64 << 10, 128 << 10}

// WorkloadFor returns the workload the simulator gives replicaID under seed.
// Most replicas are cold (2 to 300 read IOPS), one in ten is hot (300 to
// 3000); 40 % are steady, 35 % diurnal and 25 % bursty.
func WorkloadFor(seed int64, replicaID string) Workload {
	rnd := &stream{seed: uint64(seed), salt: saltWorkload ^ stringHash(replicaID)}
	var w Workload
	switch k := rnd.float(); {
	case k < 0.40:
		w.Kind = Steady
	case k < 0.75:
		w.Kind = Diurnal
	default:
		w.Kind = Bursty
	}
	lo, hi := 2.0, 300.0
	if rnd.float() < 0.1 {
		lo, hi = 300, 3000
	}
	// Log-uniform, since load across volumes spans orders of magnitude.
	w.ReadIOPS = lo * math.Pow(hi/lo, rnd.float())
	w.WriteIOPS = w.ReadIOPS * (0.2 + 0.6*rnd.float())
	w.IOSizeBytes = ioSizes[rnd.intn(len(ioSizes))]
	// Draw every parameter whatever the kind, so that the kind does not
	// shift the other draws.
	amp, peak := 0.3+0.5*rnd.float(), time.Duration(rnd.float()*float64(day)).Truncate(time.Minute)
	chance, factor := 0.03+0.07*rnd.float(), 3+7*rnd.float()
	switch w.Kind {
	case Diurnal:
		w.Amplitude, w.PeakOffset = amp, peak
	case Bursty:
		w.BurstChance, w.BurstFactor = chance, factor
	}
	return w
}

// shape is the multiplier the workload's kind applies to its base load at
// time ns (Unix nanoseconds); rh is the hash of the replica's ID.
func (w *Workload) shape(seed, rh uint64, ns int64) float64 {
	switch w.Kind {
	case Diurnal:
		sinceMidnight := ns - floorDiv(ns, int64(day))*int64(day)
		phase := 2 * math.Pi * float64(sinceMidnight-int64(w.PeakOffset)) / float64(day)
		return 1 + w.Amplitude*math.Cos(phase)
	case Bursty:
		if unit(hash4(seed, rh, uint64(floorDiv(ns, int64(burstPeriod))), saltBurst)) < w.BurstChance {
			return w.BurstFactor
		}
	}
	return 1
}

// noise is a factor in [1-noiseAmplitude, 1+noiseAmplitude) that depends only
// on the seed, the replica and the noise period that ns falls in.
func noise(seed, rh uint64, ns int64) float64 {
	u := unit(hash4(seed, rh, uint64(floorDiv(ns, int64(noisePeriod))), saltNoise))
	return 1 + noiseAmplitude*(2*u-1)
}
