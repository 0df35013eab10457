package challenge

import (
	"math"
	"time"
)

// ReferenceHashRate is the hash rate, in SHA-256 attempts per second, that
// the difficulty cap (SolvableDifficulty) is made for: a 2-core phone-class
// browser, both cores solving. It is taken low on purpose, as the
// JavaScript solver's rate (the WebAssembly SIMD solver is several times
// faster where the browser runs it), about a fifth of the 4.8 MH/s that one
// worker of today's JavaScript solver does per core of a 2 GHz-class x86
// server in Chromium, times 2 cores: see BENCHMARKS.md, "Difficulty cap".
const ReferenceHashRate = 2_000_000

// ExpectedSolveTime is the mean time a browser solving rate attempts per
// second takes on a challenge of the given difficulty: a proof is found
// after 2^bits attempts on average.
func ExpectedSolveTime(bits int, rate float64) time.Duration {
	return time.Duration(math.Ldexp(1, bits) / rate * float64(time.Second))
}

// SolvableDifficulty is the highest difficulty whose expected solving time
// at ReferenceHashRate is at most d, within MinDifficulty..MaxDifficulty.
func SolvableDifficulty(d time.Duration) int {
	work := d.Seconds() * ReferenceHashRate
	if work < 2 {
		return MinDifficulty
	}
	bits := int(math.Floor(math.Log2(work)))
	// Log2 of an exact power of two may land a hair below it.
	if math.Ldexp(1, bits+1) <= work {
		bits++
	}
	return min(max(bits, MinDifficulty), MaxDifficulty)
}
