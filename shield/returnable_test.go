package shield

import (
	"net/http"
	"strings"
	"testing"

	"github.com/rempart/rempart/challenge"
)

// A signature is held only at an address the verify endpoint sends it
// back to unchanged (challenge.SafeReturn): one held elsewhere was lost
// after the proof, the re-post landing on "/" and answered 410. Such a
// signature is refused at once (400, or 414 for a long address), its form
// still a page back; a long address within the limit is held and sent.
func TestHeldOnlyWhereItCanBeReleased(t *testing.T) {
	query := func(n int) string { return "/sign?ref=" + strings.Repeat("a", n-len("/sign?ref=")) }
	cases := []struct {
		name, target string
		status       int // 0: challenged, then forwarded once
	}{
		{"plain", "/sign", 0},
		{"trailing slash", "/sign/", 0},
		{"upper case", "/SIGN", 0},
		{"long query", query(2000), 0},
		{"longest query", query(2048), 0},
		{"query one byte too long", query(2049), http.StatusRequestURITooLong},
		{"query far too long", query(8000), http.StatusRequestURITooLong},
		{"double slash", "//sign", http.StatusBadRequest},
		{"double slash, query", "//sign?x=1", http.StatusBadRequest},
		{"backslash in query", "/sign?x=a\\b", http.StatusBadRequest},
	}
	forwardedAsExpected, expected := 0, 0
	for _, c := range cases {
		if c.status == 0 {
			expected++
		}
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, setup{protect: []string{"POST /sign"}})
			b := h.browser("198.51.100.7", 64496, "")
			r := b.request(http.MethodPost, "/", signBody)
			path, query, _ := strings.Cut(c.target, "?")
			r.URL.Path, r.URL.RawPath, r.URL.RawQuery, r.RequestURI = path, "", query, c.target
			w := b.send(r)
			if c.status != 0 {
				entries, _ := stashLen(h.state)
				if w.Code != c.status || w.Header().Get("Rempart-Action") != "refuse" || entries != 0 {
					t.Fatalf("%s: %d (%s), %d held; want %d refused, nothing held", c.target[:min(len(c.target), 40)], w.Code, w.Header().Get("Rempart-Action"), entries, c.status)
				}
				_, fr := challenge.Negotiate("")
				title := fr.UnreadablePathTitle
				if c.status == http.StatusRequestURITooLong {
					title = fr.AddressTooLongTitle
				}
				if !strings.Contains(w.Body.String(), title) {
					t.Fatalf("refusal page without its title %q:\n%s", title, w.Body)
				}
				if o := h.outcomes[len(h.outcomes)-1]; o.Action != ActionRefuse || o.Reason == "" {
					t.Fatalf("outcome %+v, want a refusal that says why", o)
				}
				return
			}
			if w.Code != StatusChallenge {
				t.Fatalf("%d, want a challenge", w.Code)
			}
			proof := b.solveProof(w)
			verify := b.sendProof(proof)
			if loc := verify.Header().Get("Location"); verify.Code != http.StatusTemporaryRedirect || loc != c.target {
				t.Fatalf("verify: %d to %.60q, want 307 to the submission's own address", verify.Code, loc)
			}
			b.follow(verify, proof.Form.Encode())
			if n := h.forwardedCount(); n != 1 || h.forwarded[0].Body != signBody {
				t.Fatalf("forwarded %d: %+v, want the held signature once", n, h.forwarded)
			}
			forwardedAsExpected++
		})
	}
	t.Logf("signature addresses: tried %d / held and forwarded %d / expected %d (the other %d refused at once)", len(cases), forwardedAsExpected, expected, len(cases)-expected)
}
