package shield

import (
	"fmt"
	"net/http"
	"testing"
)

// A pass pays for as many signatures as both it and the signature's rule
// allow: one bought on a page whose rule gives more credits does not sign
// more often where the signature's rule gives fewer.
func TestPassCreditsAreTheSignaturesRulesAtMost(t *testing.T) {
	for _, tc := range []struct {
		pageCredits, signCredits, want int
	}{
		{5, 1, 1},
		{1, 5, 1},
		{3, 3, 3},
		{4, 2, 2},
	} {
		t.Run(fmt.Sprintf("page %d, signature %d", tc.pageCredits, tc.signCredits), func(t *testing.T) {
			h := newHarness(t, setup{protect: []string{"POST /sign"}, policy: fmt.Sprintf(`
defaults:
  difficulty: 6
  credits: %d
rules:
  - name: one-proof-per-signature
    match: {method: POST, path: /sign}
    action: challenge
    difficulty: 6
    credits: %d
`, tc.pageCredits, tc.signCredits)})
			b := h.browser("198.51.100.7", 64496, "")
			b.pass("/") // one proof, bought on a page
			const tried = 10
			accepted := 0
			for range tried {
				if w := b.do(http.MethodPost, "/sign", signBody); w.Code == http.StatusOK {
					accepted++
				}
			}
			t.Logf("signatures for one proof bought on /: tried %d / accepted %d / expected %d", tried, accepted, tc.want)
			if accepted != tc.want || h.forwardedCount() != tc.want {
				t.Errorf("accepted %d (forwarded %d), want %d", accepted, h.forwardedCount(), tc.want)
			}
		})
	}
}
