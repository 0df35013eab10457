package shield

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rempart/rempart/policies"
)

// A refused proof is answered with a challenge for what the browser was
// after, named by the proof form's return. An attacker whose network has
// spent its challenge budget replays one redeemed proof with the return of
// a page that needs no challenge (robots.txt is allowed above every limit
// rule of the default policy): that must not buy a challenge page counted
// against no budget, at the allowed page's difficulty.
func TestRefusedProofBuysNoChallengeOutsideTheBudgets(t *testing.T) {
	// The default policy's rules with a closed page above them.
	withDeny := strings.Replace(string(policies.DefaultSource()), "\nrules:\n", `
rules:
  - name: closed
    match: {path: /admin}
    action: deny
`, 1)
	for _, tc := range []struct {
		name, policy, ret string
		want              int
		location, action  string
	}{
		{"an allowed page is reached without a pass", string(policies.DefaultSource()), "/robots.txt", http.StatusSeeOther, "/robots.txt", "refuse"},
		{"a denied page is refused", withDeny, "/admin", http.StatusForbidden, "", "refuse"},
		{"a page that needs a challenge is over the budget", string(policies.DefaultSource()), "/", http.StatusTooManyRequests, "", "limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, setup{protect: []string{"POST /sign"}, policy: tc.policy})
			bot := h.browser("203.0.113.7", 64500, "hosting")
			var page *httptest.ResponseRecorder
			issued := 0
			for w := bot.do(http.MethodGet, "/", ""); w.Code == StatusChallenge; w = bot.do(http.MethodGet, "/", "") {
				page = w
				if issued++; issued > 1000 {
					t.Fatal("no challenge budget")
				}
			}
			if page == nil {
				t.Fatal("no challenge page before the budget ran out")
			}
			proof := bot.solveProof(page).Form
			if w := bot.do(http.MethodPost, "/.rempart/verify", proof.Encode()); w.Code != http.StatusSeeOther {
				t.Fatalf("first use of the proof: %d, want 303", w.Code)
			}
			replay := formOf(proof.Encode())
			replay.Set("return", tc.ret)
			tried, challenged, answered := 0, 0, 0
			for i := range 200 {
				// Any address of the network: a challenge is bound to its sender.
				b := h.browser(fmt.Sprintf("203.0.113.%d", 1+i%250), 64500, "hosting")
				w := b.do(http.MethodPost, "/.rempart/verify", replay.Encode())
				tried++
				if w.Header().Get("Rempart-Action") == "challenge" {
					challenged++
				} else if w.Code == tc.want && w.Header().Get("Location") == tc.location && w.Header().Get("Rempart-Action") == tc.action {
					answered++
				}
			}
			t.Logf("replayed proof returning to %s, %d challenge pages first: tried %d / challenge pages %d (expected 0) / answered %d as wanted (expected %d)",
				tc.ret, issued, tried, challenged, answered, tried)
			if challenged != 0 || answered != tried {
				t.Errorf("%d challenge pages past an exhausted budget, %d of %d answered %d %q", challenged, answered, tried, tc.want, tc.location)
			}
		})
	}
}

// A signer whose held submission is gone by the time the proof arrives
// (the shield restarted with its state in memory, or the challenge
// expired) is told to submit again (410), not sent through a new
// challenge to the form's address with nothing sent.
func TestRefusedProofForAGoneSubmissionSaysSo(t *testing.T) {
	for _, tc := range []struct {
		name string
		gone func(h *harness, b *browser) *harness
	}{
		{"restart", func(h *harness, b *browser) *harness {
			restarted := newHarness(t, setup{protect: []string{"POST /sign"}})
			b.h = restarted
			return restarted
		}},
		{"expired", func(h *harness, _ *browser) *harness {
			h.now = h.now.Add(h.shield.cfg.ChallengeTTL + time.Second)
			return h
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, setup{protect: []string{"POST /sign"}})
			b := h.browser("198.51.100.7", 64496, "")
			held := b.do(http.MethodPost, "/sign", signBody)
			if held.Code != StatusChallenge {
				t.Fatalf("signature: %d, want a challenge", held.Code)
			}
			proof := b.solveProof(held)
			h = tc.gone(h, b)
			w := b.sendProof(proof)
			t.Logf("proof for a held submission that is gone: %d %s (%s); forwarded %d",
				w.Code, w.Header().Get("Rempart-Action"), h.outcomes[len(h.outcomes)-1].Reason, h.forwardedCount())
			if w.Code != http.StatusGone || h.forwardedCount() != 0 {
				t.Fatalf("answered %d with %d forwarded, want 410 and nothing forwarded", w.Code, h.forwardedCount())
			}
		})
	}
}
