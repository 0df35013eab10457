package caddymodule

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/internal/metricstest"
	"github.com/rempart/rempart/internal/shieldtest"
	"github.com/rempart/rempart/shield"
)

const proofsURL = "http://localhost:9852"

// scrapeLocal returns the rempart series of the test Caddy's /metrics.
func scrapeLocal(t *testing.T) map[string]float64 {
	t.Helper()
	return metricstest.Scrape(t, noCookieClient, localAdminURL+"/metrics")
}

// challengePage gets a fresh challenge of the proofs site.
func challengePage(t *testing.T) shieldtest.Page {
	t.Helper()
	resp, err := noCookieClient.Get(proofsURL + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("GET /: %d, want a challenge (403)", resp.StatusCode)
	}
	page, err := shieldtest.ParsePage(body)
	if err != nil {
		t.Fatal(err)
	}
	return page
}

// postProof posts a proof form to the verify endpoint and returns the
// status.
func postProof(t *testing.T, action string, form url.Values) int {
	t.Helper()
	resp, err := noCookieClient.PostForm(proofsURL+action, form)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// flipLastByte returns the token with the last byte of its MAC flipped:
// still well formed and unexpired, so only the signature check fails.
func flipLastByte(t *testing.T, token string) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		t.Fatalf("challenge token %q: %v", token, err)
	}
	raw[len(raw)-1] ^= 0x01
	return base64.RawURLEncoding.EncodeToString(raw)
}

// tooLittleWork returns a nonce that does not solve the page's puzzle.
func tooLittleWork(p shieldtest.Page) string {
	for nonce := uint64(0); ; nonce++ {
		if challenge.LeadingZeroBits(p.Puzzle.Seed, nonce) < p.Puzzle.Difficulty {
			return fmt.Sprintf("%016x", nonce)
		}
	}
}

// Every kind of proof posted to the verify endpoint of a real Caddy is
// counted under its result in rempart_proofs_total: each result's
// counter grows by the number of proofs of that kind, no more, no less.
func TestProofResultsAreCounted(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "petition") }))
	t.Cleanup(backend.Close)
	const site = "proofs-metrics"
	// challenge_ttl is at its minimum, 10s, so that one challenge can
	// expire while the test waits. The flood is off: the difficulty stays
	// 8 bits, whatever the number of challenges.
	tester := caddytest.NewTester(t)
	tester.InitServer(fmt.Sprintf(`
	{
		admin localhost:2999
		http_port 9852
		https_port 9858
		grace_period 1ns
		auto_https off
		storage file_system %s
	}
	%s {
		rempart {
			secret proofs-test-secret-0123456789
			site %s
			difficulty 8
			challenge_ttl 10s
			protect POST /sign
			flood off
		}
		reverse_proxy %s
	}`, t.TempDir(), proofsURL, site, strings.TrimPrefix(backend.URL, "http://")), "caddyfile")
	if t.Failed() {
		t.FailNow()
	}
	before := scrapeLocal(t)

	// The challenge that will expire is asked for first, so that the
	// other proofs are posted while it ages.
	stale := challengePage(t)
	staleBy := time.Now().Add(10*time.Second + 100*time.Millisecond)

	var solved []url.Values // the accepted proofs, to post again
	solve := func(p shieldtest.Page) url.Values { return p.Proof(challenge.Solve(p.Puzzle)) }
	cases := []struct {
		result shield.ProofResult
		posts  int
		status int // the shield's answer: a pass, or a fresh challenge
		proof  func(t *testing.T, i int) url.Values
	}{
		{shield.ProofOK, 2, http.StatusSeeOther, func(t *testing.T, _ int) url.Values {
			form := solve(challengePage(t))
			solved = append(solved, form)
			return form
		}},
		{shield.ProofReplayed, 2, http.StatusForbidden, func(_ *testing.T, i int) url.Values { return solved[i] }},
		{shield.ProofForged, 3, http.StatusForbidden, func(t *testing.T, _ int) url.Values {
			form := solve(challengePage(t))
			form.Set("challenge", flipLastByte(t, form.Get("challenge")))
			return form
		}},
		{shield.ProofTooLittle, 1, http.StatusForbidden, func(t *testing.T, _ int) url.Values {
			p := challengePage(t)
			return p.Proof(tooLittleWork(p))
		}},
		{shield.ProofMalformed, 1, http.StatusBadRequest, func(t *testing.T, _ int) url.Values {
			return challengePage(t).Proof("not-a-nonce")
		}},
		{shield.ProofExpired, 1, http.StatusForbidden, func(*testing.T, int) url.Values {
			// A challenge expires at the whole second after its TTL.
			time.Sleep(time.Until(staleBy))
			return solve(stale)
		}},
	}
	for _, c := range cases {
		for i := range c.posts {
			if got := postProof(t, stale.Action, c.proof(t, i)); got != c.status {
				t.Fatalf("%s proof %d: status %d, want %d", c.result, i+1, got, c.status)
			}
		}
	}

	after := scrapeLocal(t)
	for _, c := range cases {
		labels := []string{`site="` + site + `"`, `result="` + string(c.result) + `"`}
		counted := metricstest.Sum(after, "rempart_proofs_total", labels...) - metricstest.Sum(before, "rempart_proofs_total", labels...)
		t.Logf("%s: tried %d, counted %v, expected %d", c.result, c.posts, counted, c.posts)
		if counted != float64(c.posts) {
			t.Errorf("rempart_proofs_total{result=%q}: tried %d, counted %v, expected %d", c.result, c.posts, counted, c.posts)
		}
	}
	// No proof was counted under a result it was not posted as.
	total := metricstest.Sum(after, "rempart_proofs_total", `site="`+site+`"`) - metricstest.Sum(before, "rempart_proofs_total", `site="`+site+`"`)
	posts := 0
	for _, c := range cases {
		posts += c.posts
	}
	if total != float64(posts) {
		t.Errorf("rempart_proofs_total of every result: tried %d, counted %v, expected %d", posts, total, posts)
	}
}
