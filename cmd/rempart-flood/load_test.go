package main

import (
	"testing"
	"time"
)

// The figure is the median of the rounds' ratios, each shield run over the
// bare run after it, so that one disturbed round does not move it.
func TestComparisonRatio(t *testing.T) {
	runs := func(rps ...float64) []wrkResult {
		out := make([]wrkResult, len(rps))
		for i, r := range rps {
			out[i].RPS = r
		}
		return out
	}
	for _, tc := range []struct {
		name          string
		shield, bare  []wrkResult
		median, means float64
		met           bool
	}{
		{"no runs", nil, nil, 0, 0, false},
		{"one round", runs(90), runs(100), 0.9, 0.9, false},
		{"odd rounds, one disturbed", runs(95, 10, 96), runs(100, 100, 100), 0.95, 201.0 / 300, true},
		{"even rounds", runs(90, 100, 80, 70), runs(100, 100, 100, 100), 0.85, 0.85, false},
		{"bare run lost", runs(90, 95), runs(100, 0), 0.9, 185.0 / 100, false},
	} {
		c := comparison{Shield: tc.shield, Bare: tc.bare, MinRatio: 0.95}
		if got := c.Ratio(); !near(got, tc.median) {
			t.Errorf("%s: Ratio = %.3f, want %.3f", tc.name, got, tc.median)
		}
		if got := c.RatioOfMeans(); !near(got, tc.means) {
			t.Errorf("%s: RatioOfMeans = %.3f, want %.3f", tc.name, got, tc.means)
		}
		if c.Met() != tc.met {
			t.Errorf("%s: Met = %v, want %v", tc.name, c.Met(), tc.met)
		}
	}
}

// The CPU ratio is the median of the rounds' ratios of bare Caddy's CPU
// time per request to the shield's; a run whose CPU time was not read
// leaves its round out.
func TestComparisonCPURatio(t *testing.T) {
	run := func(requests int64, cpu time.Duration) wrkResult {
		return wrkResult{Requests: requests, ServerCPU: cpu}
	}
	for _, tc := range []struct {
		name         string
		shield, bare []wrkResult
		want         float64
	}{
		{"no runs", nil, nil, 0},
		{"shield costs a quarter more", []wrkResult{run(1000, 50*time.Millisecond)}, []wrkResult{run(1000, 40*time.Millisecond)}, 0.8},
		{"per request, not per run", []wrkResult{run(2000, 100*time.Millisecond)}, []wrkResult{run(1000, 40*time.Millisecond)}, 0.8},
		{"odd rounds, one disturbed",
			[]wrkResult{run(1000, 45*time.Millisecond), run(1000, 90*time.Millisecond), run(1000, 40*time.Millisecond)},
			[]wrkResult{run(1000, 40*time.Millisecond), run(1000, 40*time.Millisecond), run(1000, 40*time.Millisecond)},
			40.0 / 45},
		{"shield's CPU not read", []wrkResult{run(1000, 0), run(1000, 50*time.Millisecond)},
			[]wrkResult{run(1000, 40*time.Millisecond), run(1000, 45*time.Millisecond)}, 0.9},
	} {
		c := comparison{Shield: tc.shield, Bare: tc.bare}
		if got := c.CPURatio(); !near(got, tc.want) {
			t.Errorf("%s: CPURatio = %.3f, want %.3f", tc.name, got, tc.want)
		}
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }
