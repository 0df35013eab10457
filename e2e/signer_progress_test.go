package e2e

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The progress text says what the bar shows, percent by percent: it used
// to move every 25 % only, and said "0 %" while the bar moved. Once the
// rate is measured it adds the expected solving time on this device, and
// the workers run the WebAssembly SIMD solver through the real shield (its
// CSP and its asset).
func TestSignerProgressTextFollowsBar(t *testing.T) {
	// A proof long enough to watch (it is not waited for). max_solve off:
	// its default cap (23 bits) is solved in a second or two here, and the
	// page would be gone before the bar is read.
	startPetition(t, "difficulty 28", "max_solve off")
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(shieldURL+"/")); err != nil {
		t.Fatal(err)
	}
	number := regexp.MustCompile(`\d+`)
	estimate := regexp.MustCompile(`About (\d+(?:\.\d)?) s on average on this device\.$`)
	seen := map[int]bool{}
	var estimates []float64
	solver := ""
	for i := 0; i < 600 && (len(seen) < 4 || len(estimates) == 0); i++ {
		s, err := chromedp.Run(ctx, chromedp.Evaluate[struct {
			Value  float64
			Text   string
			Solver string
		}](`({Value: document.getElementById('rempart-progress').value, Text: document.getElementById('rempart-status').textContent,
			Solver: document.getElementById('rempart-proof').getAttribute('data-solver-used') || ''})`))
		if err != nil {
			t.Fatal(err)
		}
		if s.Value > 0 {
			m := number.FindString(s.Text)
			if got, _ := strconv.Atoi(m); m == "" || got != int(s.Value) {
				t.Fatalf("the bar shows %v %% and the text says %q", s.Value, s.Text)
			}
			seen[int(s.Value)] = true
		}
		if m := estimate.FindStringSubmatch(s.Text); m != nil {
			secs, _ := strconv.ParseFloat(m[1], 64)
			estimates = append(estimates, secs)
		}
		if s.Solver != "" {
			solver = s.Solver
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	if len(seen) < 2 {
		t.Fatalf("the bar moved through %d values in a minute; cannot compare", len(seen))
	}
	t.Logf("solver %s; expected times shown at 28 bits: %v s", solver, estimates)
	if solver != "wasm" {
		t.Errorf("the workers ran the %q solver, want the WebAssembly SIMD one (wasm)", solver)
	}
	// 2^28 attempts: minutes at a few MH/s, seconds at a few hundred.
	if len(estimates) == 0 || estimates[0] <= 0 || estimates[0] > 3600 {
		t.Errorf("expected solving times shown: %v, want some between 0 and 3600 s", estimates)
	}
}
