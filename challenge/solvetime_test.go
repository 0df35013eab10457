package challenge_test

import (
	"testing"
	"time"

	"github.com/rempart/rempart/challenge"
)

func TestSolvableDifficulty(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want int
	}{
		// 5s at 2 MH/s: 10^7 attempts; 2^23 = 8.4e6 fits, 2^24 does not.
		{5 * time.Second, 23},
		{time.Second, 20},                // 2e6: 2^20 = 1.05e6
		{4194304 * time.Microsecond, 23}, // exactly 2^23 attempts
		{4194303 * time.Microsecond, 22},
		{time.Minute, 26}, // 1.2e8: 2^26 = 6.7e7
		{time.Nanosecond, challenge.MinDifficulty},
		{time.Hour, 32}, // 7.2e9: 2^32 = 4.3e9
		{time.Duration(1 << 62), challenge.MaxDifficulty},
	} {
		got := challenge.SolvableDifficulty(tt.d)
		if got != tt.want {
			t.Errorf("SolvableDifficulty(%s) = %d, want %d", tt.d, got, tt.want)
		}
		if got > challenge.MinDifficulty && got < challenge.MaxDifficulty {
			if e := challenge.ExpectedSolveTime(got, challenge.ReferenceHashRate); e > tt.d {
				t.Errorf("SolvableDifficulty(%s) = %d bits, expected to take %s", tt.d, got, e)
			}
			if e := challenge.ExpectedSolveTime(got+1, challenge.ReferenceHashRate); e <= tt.d {
				t.Errorf("SolvableDifficulty(%s) = %d bits, but %d bits take %s", tt.d, got, got+1, e)
			}
		}
	}
}
