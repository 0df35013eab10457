package shield

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/rempart/rempart/budget"
	"github.com/rempart/rempart/policies"
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

// A page on another site cannot spend the budgets and the flood estimate of
// its visitors' networks on the petition: its images, scripts, frames and
// fetches reach the petition from the visitors' own addresses, yet none of
// them can run a challenge page (a subresource is never shown, a frame is
// forbidden by the page's policy). Issued all the same, each challenge was
// counted against the visitor's network: a popular page with twenty
// images of the petition put a carrier's /24 (one CGNAT) over its challenge
// budget and raised the difficulty of the whole ASN, and a genuine signer
// there was refused. They are refused without a challenge, uncounted.
func TestCrossSiteSubresourcesSpendNoBudget(t *testing.T) {
	h := challengeBudgetHarness(t)
	loads := []struct {
		kind             string
		site, mode, dest string
	}{
		{"image", "cross-site", "no-cors", "image"},
		{"script", "cross-site", "no-cors", "script"},
		{"stylesheet", "same-site", "no-cors", "style"},
		{"frame", "cross-site", "navigate", "iframe"},
		{"fetch", "cross-site", "no-cors", "empty"},
	}
	// A hidden frame posting someone else's proof to the verify endpoint:
	// refused, it is answered with a challenge for its return page.
	attacker := h.browser("203.0.113.9", 64511, "")
	proof := attacker.solveProof(attacker.do(http.MethodGet, "/", ""))
	// Thirty visitors of the other site, behind one carrier's CGNAT, each
	// load its page: four of each kind of load, and the frame's proof.
	tried, counted := 0, 0
	for v := range 30 {
		visitor := h.browser(fmt.Sprintf("198.51.100.%d", 1+v), 64496, "")
		for i := range 21 {
			l := loads[i%len(loads)]
			r := visitor.request(http.MethodGet, fmt.Sprintf("/?img=%d", i), "")
			if i == 20 {
				l = loads[3]
				r = visitor.request(http.MethodPost, proof.Action, proof.Form.Encode())
			}
			r.Header.Set("Sec-Fetch-Site", l.site)
			r.Header.Set("Sec-Fetch-Mode", l.mode)
			r.Header.Set("Sec-Fetch-Dest", l.dest)
			visitor.send(r)
			tried++
			if a := h.outcomes[len(h.outcomes)-1].Action; a == ActionChallenge || a == ActionLimit {
				counted++
			}
		}
	}
	t.Logf("the other site's loads of the petition: tried %d / counted against the network %d / expected 0", tried, counted)
	if counted != 0 {
		t.Errorf("%d loads from the other site counted against their network", counted)
	}

	// A genuine signer behind the same CGNAT opens the petition.
	genuineSignerSigns(t, h, "the genuine signer opening the petition", "/", "none", "")
}

// genuineSignerSigns checks that a signer behind the CGNAT whose budget
// another site's loads tried to spend, navigating to path (Sec-Fetch-Site
// site, Sec-Fetch-User user unless empty), gets a challenge at the site's
// difficulty, and that its signature goes through.
func genuineSignerSigns(t *testing.T, h *harness, what, path, site, user string) {
	t.Helper()
	signer := h.browser("198.51.100.200", 64496, "")
	r := signer.request(http.MethodGet, path, "")
	r.Header.Set("Sec-Fetch-Site", site)
	r.Header.Set("Sec-Fetch-Mode", "navigate")
	r.Header.Set("Sec-Fetch-Dest", "document")
	if user != "" {
		r.Header.Set("Sec-Fetch-User", user)
	}
	w := signer.send(r)
	if w.Code != StatusChallenge || w.Header().Get("Rempart-Action") != "challenge" {
		t.Fatalf("%s: %d %q (%s), want a challenge",
			what, w.Code, w.Header().Get("Rempart-Action"), h.outcomes[len(h.outcomes)-1].Reason)
	}
	if bits := challengeBits(t, w); bits != 6 {
		t.Errorf("the genuine signer's challenge asks %d bits, want the site's 6", bits)
	}
	if !signer.sign("/sign", signBody) {
		t.Error("the genuine signer's signature was not forwarded")
	}
}

// A page on another site can also have its visitors' browsers load the
// petition as documents without a click: speculation rules prefetch
// (Chrome, up to 50 URLs at a time, again each time the page swaps its
// rules; cross-site when the visitor has no cookie for the petition, as
// most have not) and prerender (from a same-site page). Such a load is
// navigate/document like a link, but never shown until the visitor follows
// it, and a prefetch answered with anything but the page is dropped: the
// challenge it got was counted against the visitor's network for nothing.
// It is refused uncounted, as a subresource is; a link the visitor follows
// is challenged and counted.
func TestCrossSitePrefetchesSpendNoBudget(t *testing.T) {
	h := challengeBudgetHarness(t)
	loads := []struct {
		kind, site, header, purpose string
	}{
		{"speculation rules prefetch", "cross-site", "Sec-Purpose", "prefetch"},
		{"prefetch through Chrome's private proxy", "cross-site", "Sec-Purpose", "prefetch;anonymous-client-ip"},
		{"prerender from a same-site page", "same-site", "Sec-Purpose", "prefetch;prerender"},
		{"older Chrome's prefetch", "cross-site", "Purpose", "prefetch"},
	}
	// Thirty visitors behind one carrier's CGNAT each open the other
	// site's page, whose rules prefetch twenty pages of the petition.
	tried, counted := 0, 0
	for v := range 30 {
		visitor := h.browser(fmt.Sprintf("198.51.100.%d", 1+v), 64496, "")
		for i := range 20 {
			l := loads[i%len(loads)]
			r := visitor.request(http.MethodGet, fmt.Sprintf("/?page=%d", i), "")
			r.Header.Set("Sec-Fetch-Site", l.site)
			r.Header.Set("Sec-Fetch-Mode", "navigate")
			r.Header.Set("Sec-Fetch-Dest", "document")
			r.Header.Set(l.header, l.purpose)
			w := visitor.send(r)
			tried++
			if a := h.outcomes[len(h.outcomes)-1].Action; a == ActionChallenge || a == ActionLimit {
				counted++
				if counted == 1 {
					t.Logf("%s: %d %q, counted", l.kind, w.Code, w.Header().Get("Rempart-Action"))
				}
			}
		}
	}
	t.Logf("the other site's speculative loads of the petition: tried %d / counted against the network %d / expected 0", tried, counted)
	if counted != 0 {
		t.Errorf("%d speculative loads from the other site counted against their network", counted)
	}

	// A genuine signer behind the same CGNAT follows a link from the other
	// site.
	genuineSignerSigns(t, h, "a link from another site", "/from-a-link", "cross-site", "?1")
}

// challengeBudgetHarness is a shield that counts challenges against a
// budget of 120 a minute per network prefix, and feeds the flood estimate.
func challengeBudgetHarness(t *testing.T) *harness {
	t.Helper()
	pressure, err := budget.NewPressure(budget.PressureConfig{Threshold: 60, MaxExtraBits: 6})
	if err != nil {
		t.Fatal(err)
	}
	return newHarness(t, setup{
		protect:  []string{"POST /sign"},
		limits:   []policies.Budget{{Counts: policies.CountChallenges, Per: budget.KeyPrefix, Rate: "120/min"}},
		pressure: pressure,
	})
}
