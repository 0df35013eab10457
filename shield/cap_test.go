package shield

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/rempart/rempart/budget"
)

// The difficulty cap stops what the policy and the flood add: every
// challenge of a flooding network asks at most the cap, and a pass bought
// at the cap opens the pages and signs where the policy asks for more.
func TestDifficultyCapStopsRisingDifficulty(t *testing.T) {
	const policy = `
rules:
  - name: dear-home
    match: {method: GET, path: /}
    action: challenge
    difficulty: 12
  - name: dear-signature
    match: {method: POST, path: /sign}
    action: challenge
    difficulty: 13
`
	for _, tt := range []struct {
		cap      int
		wantBits func(bits int) bool
		want     string
	}{
		{0, func(bits int) bool { return bits >= 12 }, "at least the policy's 12 bits"},
		{10, func(bits int) bool { return bits == 10 }, "the cap, 10 bits"},
	} {
		t.Run(fmt.Sprintf("cap %d", tt.cap), func(t *testing.T) {
			pressure, err := budget.NewPressure(budget.PressureConfig{Threshold: 1, MaxExtraBits: 6})
			if err != nil {
				t.Fatal(err)
			}
			h := newHarness(t, setup{protect: []string{"POST /sign"}, policy: policy, pressure: pressure, difficultyCap: tt.cap})
			// A flood of new clients from one network: its difficulty rises.
			tried, within, highest := 0, 0, 0
			for i := range 40 {
				w := h.browser(fmt.Sprintf("203.0.113.%d", 1+i), 64500, "hosting").do(http.MethodGet, "/", "")
				if w.Code != StatusChallenge {
					t.Fatalf("GET /: %d, want a challenge", w.Code)
				}
				bits := challengeBits(t, w)
				tried++
				highest = max(highest, bits)
				if tt.wantBits(bits) {
					within++
				}
			}
			t.Logf("challenges during the flood: tried %d / asking %s %d / expected %d (highest %d bits)", tried, tt.want, within, tried, highest)
			if within != tried {
				t.Fatalf("%d of %d challenges asked other than %s", tried-within, tried, tt.want)
			}
			if tt.cap == 0 {
				if highest <= 12 {
					t.Fatalf("the flood did not raise the difficulty above the policy's (highest %d bits): the test tests nothing", highest)
				}
				return
			}
			// A pass bought at the cap is worth the policy's price.
			b := h.browser("203.0.113.200", 64500, "hosting")
			b.pass("/")
			if w := b.do(http.MethodGet, "/", ""); w.Code != http.StatusOK {
				t.Fatalf("GET / with a pass bought at the cap: %d, want 200", w.Code)
			}
			if !b.sign("/sign", signBody) {
				t.Fatal("a signature was not forwarded once its capped challenge was solved")
			}
		})
	}
}
