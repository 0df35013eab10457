package shield

import (
	"net/http"
	"strings"
	"testing"
)

// A link on another site is a signature too when the request it makes
// signs: a vote by GET, or a GET whose _method claims POST (WordPress's REST
// API runs its POST handler). The browser follows the link with its pass
// (SameSite=Lax cookies go with a top-level navigation), or solves the
// challenge by itself and comes back to the link's address from the
// challenge page, same-origin: either way the other site's visitor signs
// without knowing. The navigation from the other site is refused, as its
// form's POST is.
func TestCrossSiteLinksCannotSign(t *testing.T) {
	cases := []struct {
		name     string
		protect  string
		method   string
		target   string
		fetch    string // Sec-Fetch-Site of the navigation
		withPass bool   // the visitor holds a pass from an earlier visit
		// viaVerify: the other site's form posts another client's proof
		// to the verify endpoint, returning to target: refused, it is
		// answered with a challenge for target, which the page solves.
		viaVerify bool
	}{
		{"GET vote, cross-site, no pass", "GET /vote", http.MethodGet, "/vote?choice=B", "cross-site", false, false},
		{"GET vote, cross-site, with a pass", "GET /vote", http.MethodGet, "/vote?choice=B", "cross-site", true, false},
		{"GET vote, same-site, no pass", "GET /vote", http.MethodGet, "/vote?choice=B", "same-site", false, false},
		{"HEAD vote, cross-site, with a pass", "GET /vote", http.MethodHead, "/vote?choice=B", "cross-site", true, false},
		{"GET claiming POST, cross-site, no pass", "POST /sign", http.MethodGet, "/sign?_method=POST&name=Victime&email=v%40example.org", "cross-site", false, false},
		{"GET claiming POST, cross-site, with a pass", "POST /sign", http.MethodGet, "/sign?_method=POST&name=Victime&email=v%40example.org", "cross-site", true, false},
		{"rest_route claiming POST, cross-site", "POST /wp-json/petition/v1/sign", http.MethodGet, "/?rest_route=/petition/v1/sign&_method=POST&name=Victime", "cross-site", false, false},
		{"GET vote, through the verify endpoint", "GET /vote", http.MethodGet, "/vote?choice=B", "cross-site", false, true},
	}
	tried, accepted := 0, 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, setup{protect: []string{c.protect}})
			b := h.browser("198.51.100.7", 64496, "")
			if c.withPass {
				b.pass("/")
			}
			tried++
			r := b.request(c.method, c.target, "")
			if c.viaVerify {
				attacker := h.browser("203.0.113.9", 64511, "")
				proof := attacker.solveProof(attacker.do(http.MethodGet, "/", ""))
				proof.Form.Set("return", c.target)
				r = b.request(http.MethodPost, proof.Action, proof.Form.Encode())
				r.Header.Set("Origin", "https://evil.example")
			}
			r.Header.Set("Sec-Fetch-Site", c.fetch)
			w := b.send(r)
			if w.Code == StatusChallenge && w.Header().Get("Rempart-Action") == "challenge" {
				// The challenge page solves by itself, posts its proof
				// and follows the 303 back to the link's address, all on
				// the petition's site.
				if v := b.solve(w); v.Code == http.StatusSeeOther {
					r := b.request(c.method, v.Header().Get("Location"), "")
					r.Header.Set("Sec-Fetch-Site", "same-origin")
					w = b.send(r)
				}
			}
			t.Logf("%s %s from another site (%s): %d, Rempart-Action %q, forwarded %d",
				c.method, c.target, c.fetch, w.Code, w.Header().Get("Rempart-Action"), h.forwardedCount())
			if h.forwardedCount() > 0 {
				accepted++
				t.Errorf("the link signed: %d forwarded", h.forwardedCount())
			}
			says := c.method == http.MethodHead || strings.Contains(w.Body.String(), "autre site") // HEAD: no body
			if w.Code != http.StatusForbidden || w.Header().Get("Rempart-Action") != "refuse" || !says {
				t.Errorf("%d %q, want the cross-site refusal", w.Code, w.Header().Get("Rempart-Action"))
			}
			// The same request from the petition's own page signs.
			r = b.request(c.method, c.target, "")
			r.Header.Set("Sec-Fetch-Site", "same-origin")
			if w := b.send(r); w.Code == StatusChallenge {
				if v := b.solve(w); v.Code == http.StatusSeeOther {
					b.do(c.method, v.Header().Get("Location"), "")
				}
			}
			if h.forwardedCount() != 1 {
				t.Errorf("from the petition's own page: %d forwarded, want 1", h.forwardedCount())
			}
		})
	}
	t.Logf("links from another site: tried %d / accepted %d / expected 0", tried, accepted)
}
