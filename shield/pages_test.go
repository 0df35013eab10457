package shield

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rempart/rempart/budget"
	"github.com/rempart/rempart/policies"
)

var (
	heading  = regexp.MustCompile(`<h1>([^<]*)</h1>`)
	langAttr = regexp.MustCompile(`<html lang="([a-z]+)">`)
	waitLink = regexp.MustCompile(`href="(/\.rempart/wait\?[^"]+)"`)
)

// inLanguage sends r with an Accept-Language header.
func (b *browser) inLanguage(lang, method, target, body string) *http.Response {
	r := b.request(method, target, body)
	r.Header.Set("Accept-Language", lang)
	return b.send(r).Result()
}

func readPage(t *testing.T, resp *http.Response) (h1, lang, page string) {
	t.Helper()
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	page = sb.String()
	if m := heading.FindStringSubmatch(page); m != nil {
		h1 = html.UnescapeString(m[1])
	}
	if m := langAttr.FindStringSubmatch(page); m != nil {
		lang = m[1]
	}
	return h1, lang, page
}

// The 404 and 405 pages under the shield's prefix have a title and a text
// in the signer's language (they were empty).
func TestOwnRefusalPagesAreTranslated(t *testing.T) {
	h := newHarness(t, setup{protect: []string{"POST /sign"}})
	b := h.browser("198.51.100.7", 64496, "")
	for _, tt := range []struct {
		method, path, lang, want string
		status                   int
	}{
		{http.MethodGet, "/.rempart/nothing", "fr", "Page introuvable", http.StatusNotFound},
		{http.MethodGet, "/.rempart/nothing", "en", "Page not found", http.StatusNotFound},
		{http.MethodGet, "/.rempart/verify", "fr-FR", "Requête non acceptée", http.StatusMethodNotAllowed},
		{http.MethodGet, "/.rempart/verify", "en-GB", "Request not accepted", http.StatusMethodNotAllowed},
	} {
		resp := b.inLanguage(tt.lang, tt.method, tt.path, "")
		h1, lang, page := readPage(t, resp)
		if resp.StatusCode != tt.status || h1 != tt.want || lang != tt.lang[:2] {
			t.Errorf("%s %s in %s: %d, <h1>%s</h1> lang %q, want %d, %q", tt.method, tt.path, tt.lang, resp.StatusCode, h1, lang, tt.status, tt.want)
		}
		if !regexp.MustCompile(`<p role="alert">[^<]+</p>`).MatchString(page) {
			t.Errorf("%s %s in %s: no text under the title:\n%s", tt.method, tt.path, tt.lang, page)
		}
	}
}

// A deny rule's own message comes under a heading in the signer's language.
func TestDenyMessageHasTranslatedHeading(t *testing.T) {
	h := newHarness(t, setup{protect: []string{"POST /sign"}, policy: `
rules:
  - name: closed
    match: {path: /closed}
    action: deny
    status: 403
    message: "Cette pétition est close."
`})
	b := h.browser("198.51.100.7", 64496, "")
	for lang, want := range map[string]string{"fr": "Accès refusé", "en": "Access denied"} {
		resp := b.inLanguage(lang, http.MethodGet, "/closed", "")
		h1, pageLang, page := readPage(t, resp)
		if resp.StatusCode != http.StatusForbidden || h1 != want || pageLang != lang {
			t.Errorf("deny in %s: %d, <h1>%s</h1> lang %q, want 403 %q", lang, resp.StatusCode, h1, pageLang, want)
		}
		if !strings.Contains(html.UnescapeString(page), "Cette pétition est close.") {
			t.Errorf("deny in %s: the rule's message is missing:\n%s", lang, page)
		}
	}
}

// Without JavaScript the wait has no timed refresh (WCAG 2.2.1): the signer
// selects "Continue". Selected early, it says how long is left and keeps
// the same wait: no failure, no new wait.
func TestWaitClickedEarlyKeepsTheWait(t *testing.T) {
	h := newHarness(t, setup{protect: []string{"POST /sign"}})
	h.shield.cfg.NoScriptWait = 10 * time.Second
	b := h.browser("198.51.100.7", 64496, "")
	w := b.do(http.MethodGet, "/", "")
	page := w.Body.String()
	if w.Code != StatusChallenge || strings.Contains(page, "http-equiv") {
		t.Fatalf("challenge page %d has a timed refresh or none at all:\n%s", w.Code, page)
	}
	m := waitLink.FindStringSubmatch(page)
	if m == nil || !strings.Contains(page, "cliquez sur « Continuer »") || strings.Contains(page, "sans rien à cliquer : vous poursuivrez dans un instant.</p>\n<progress") && !strings.Contains(page, `id="rempart-auto" hidden`) {
		t.Fatalf("no Continue link, or text that says there is nothing to click:\n%s", page)
	}
	first := html.UnescapeString(m[1])

	h.now = h.now.Add(3 * time.Second)
	resp := b.inLanguage("fr", http.MethodGet, first, "")
	_, _, early := readPage(t, resp)
	early = html.UnescapeString(early)
	if resp.StatusCode != StatusChallenge || !strings.Contains(early, "Encore 7 s à attendre") || strings.Contains(early, "n’a pas abouti") {
		t.Fatalf("Continue selected 7 s early: %d (%s)\n%s", resp.StatusCode, h.outcomes[len(h.outcomes)-1].Reason, early)
	}
	m = waitLink.FindStringSubmatch(early)
	if m == nil || html.UnescapeString(html.UnescapeString(m[1])) != first {
		t.Fatalf("the early page's Continue is not the same wait (%q, want %q)", m, first)
	}
	if o := h.outcomes[len(h.outcomes)-1]; o.Action != ActionChallenge || o.Status != StatusChallenge {
		t.Errorf("early Continue recorded as %+v", o)
	}

	h.now = h.now.Add(7 * time.Second)
	if w := b.do(http.MethodGet, first, ""); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/" {
		t.Fatalf("Continue after the wait: %d to %q, want 303 to /", w.Code, w.Header().Get("Location"))
	}
	if w := b.do(http.MethodGet, "/", ""); w.Code != http.StatusOK {
		t.Fatalf("after the wait: %d, want the petition", w.Code)
	}
}

// A page answering an early Continue carries its wait's token and return
// path: an attacker selecting Continue early again and again, each time
// with another return path, must not fill the kept message pages with its
// own, neither holding their memory nor leaving every refusal rendered
// for each request, uncompressed, from then on.
func TestEarlyWaitsKeepNoPages(t *testing.T) {
	h := newHarness(t, setup{protect: []string{"POST /sign"}})
	h.shield.cfg.NoScriptWait = 10 * time.Second
	h.shield.cfg.Observer = nil // keep no outcomes: the heap is measured
	a := h.browser("203.0.113.9", 64500, "")
	m := waitLink.FindStringSubmatch(a.do(http.MethodGet, "/", "").Body.String())
	if m == nil {
		t.Fatal("no Continue link")
	}
	wait, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const tries = 2100 // past the message pages kept
	for i := range tries {
		q := wait.Query()
		q.Set("return", "/"+strconv.Itoa(i)+"/"+strings.Repeat("x", 1900))
		if w := a.do(http.MethodGet, wait.Path+"?"+q.Encode(), ""); w.Code != StatusChallenge {
			t.Fatalf("early Continue %d: %d", i, w.Code)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	kept := int64(after.HeapAlloc) - int64(before.HeapAlloc)

	// A refusal rendered for the first time afterwards.
	r := a.request(http.MethodGet, "/.rempart/nothing", "")
	r.Header.Set("Accept-Encoding", "gzip")
	w := a.send(r)
	compressed := w.Header().Get("Content-Encoding") == "gzip"
	t.Logf("%d early Continues with distinct return paths: heap kept %.1f MiB; a new refusal page compressed: %v (want true)",
		tries, float64(kept)/(1<<20), compressed)
	if w.Code != http.StatusNotFound || !compressed {
		t.Errorf("refusal after the early Continues: %d, compressed %v, want 404 compressed", w.Code, compressed)
	}
	if kept > 1<<20 {
		t.Errorf("the early Continues' pages hold %.1f MiB, want under 1 MiB", float64(kept)/(1<<20))
	}
}

// A signature refused by a budget says that what the signer typed is kept,
// and offers to go back to the form: one page back for a form posted
// directly, two for a held submission (its form, then the challenge page).
// A page refused by a challenge budget just links home.
func TestTooManySubmissionOffersTheFormBack(t *testing.T) {
	h := newHarness(t, setup{
		protect: []string{"POST /sign"},
		limits:  []policies.Budget{{Counts: policies.CountSignatures, Per: budget.KeyIP, Rate: "1/hour"}},
		policy:  "defaults: {credits: 3}\nrules: []\n",
	})
	b := h.browser("198.51.100.7", 64496, "")
	b.pass("/")
	if !b.sign("/sign", signBody) {
		t.Fatal("first signature refused")
	}
	// The pass has credits left: the refusal answers the form's own post.
	resp := b.inLanguage("fr", http.MethodPost, "/sign", signBody)
	_, _, page := readPage(t, resp)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(page, `id="rempart-back" data-steps="1"`) ||
		!strings.Contains(html.UnescapeString(page), "n’est pas perdu") || strings.Contains(page, `<a href="/">`) {
		t.Fatalf("429 for a direct submission: %d\n%s", resp.StatusCode, page)
	}

	// A held submission comes back through the challenge page: two back.
	h2 := newHarness(t, setup{
		protect: []string{"POST /sign"},
		limits:  []policies.Budget{{Counts: policies.CountSignatures, Per: budget.KeyIP, Rate: "1/hour"}},
	})
	c := h2.browser("198.51.100.8", 64496, "")
	if !c.sign("/sign", signBody) {
		t.Fatal("first signature refused")
	}
	w := c.do(http.MethodPost, "/sign", signBody)
	proof := c.solveProof(w)
	v := c.sendProof(proof)
	if v.Code != http.StatusTemporaryRedirect {
		t.Fatalf("verify: %d", v.Code)
	}
	w = c.follow(v, proof.Form.Encode())
	if w.Code != http.StatusTooManyRequests || !strings.Contains(w.Body.String(), `id="rempart-back" data-steps="2"`) {
		t.Fatalf("429 for a held submission: %d\n%s", w.Code, w.Body)
	}

	// A page refused by a challenge budget is not a submission.
	h3 := newHarness(t, setup{
		limits: []policies.Budget{{Counts: policies.CountChallenges, Per: budget.KeyIP, Rate: "1/hour"}},
	})
	d := h3.browser("198.51.100.9", 64496, "")
	d.do(http.MethodGet, "/", "")
	w = d.do(http.MethodGet, "/", "")
	if w.Code != http.StatusTooManyRequests || strings.Contains(w.Body.String(), "rempart-back") || !strings.Contains(w.Body.String(), `<a href="/">`) {
		t.Fatalf("429 for a page: %d\n%s", w.Code, w.Body)
	}
}

// A challenge page with a wait for browsers without JavaScript buys one
// pass, not two: its proof and its wait are one single-use challenge,
// whichever is redeemed first, even once the proof's own token has expired
// and the wait's has not.
func TestOneChallengePageBuysOnePass(t *testing.T) {
	for _, tc := range []struct {
		name      string
		waitFirst bool
		late      bool
	}{
		{"proof, then wait", false, false},
		{"wait, then proof", true, false},
		{"proof, then wait past the proof's expiry", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, setup{protect: []string{"POST /sign"}})
			h.shield.cfg.NoScriptWait = 10 * time.Second
			b := h.browser("198.51.100.7", 64496, "")
			page := b.do(http.MethodGet, "/", "")
			m := waitLink.FindStringSubmatch(page.Body.String())
			if page.Code != StatusChallenge || m == nil {
				t.Fatalf("challenge page %d without a wait link", page.Code)
			}
			waitURL := html.UnescapeString(m[1])
			proof := b.solveProof(page)
			// Each redemption from a cookie jar of its own: the same client.
			redeem := map[bool]func() int{
				false: func() int { return h.browser("198.51.100.7", 64496, "").sendProof(proof).Code },
				true: func() int {
					return h.browser("198.51.100.7", 64496, "").do(http.MethodGet, waitURL, "").Code
				},
			}
			h.now = h.now.Add(11 * time.Second) // the wait is over
			passes := 0
			for i, wait := range []bool{tc.waitFirst, !tc.waitFirst} {
				if i == 1 && tc.late {
					h.now = h.now.Add(h.shield.cfg.ChallengeTTL - 11*time.Second + time.Second)
				}
				if redeem[wait]() == http.StatusSeeOther {
					passes++
				}
			}
			t.Logf("redemptions of one page's proof and wait: tried 2 / passes %d / expected 1", passes)
			if passes != 1 {
				t.Errorf("one challenge page bought %d passes", passes)
			}
		})
	}
}
