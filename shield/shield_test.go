package shield

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rempart/rempart/budget"
	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/internal/shieldtest"
	"github.com/rempart/rempart/policies"
)

const signBody = "name=Ada&email=ada%40example.org"

// Every spelling of the signature endpoint that a common framework routes
// to its sign handler is a signature: with a pass whose credit is spent,
// none of them reaches the backend.
func TestAliasesOfTheSignatureEndpointPayLikeIt(t *testing.T) {
	aliases := []struct{ method, target string }{
		{"POST", "/SIGN"}, {"POST", "/Sign"}, {"POST", "/sign/"}, {"POST", "//sign"}, {"POST", "/./sign"},
		{"POST", "/x/../sign"}, {"POST", "/%2Fsign"}, {"POST", "/%2fsign"}, {"POST", "/%73ign"}, {"POST", "/%53IGN"},
		{"POST", "/sign;jsessionid=1"}, {"POST", "/sign.json"}, {"POST", "/sign?x=1"}, {"POST", "/sign%2F"},
		{"POST", "/%252Fsign"}, {"post", "/sign"}, {"Post", "/sign"}, {"POST", "/sign//"}, {"POST", "/./SIGN/."},
		{"GET", "/sign?_=1"}, // with a method override below
		// A front controller routes the PATH_INFO after its script.
		{"POST", "/index.php/sign"}, {"POST", "/index.php/SIGN/"}, {"POST", "/app.php/sign"}, {"POST", "/index.php//sign"},
		{"POST", "/index.php/sign.json"}, {"POST", "/INDEX.PHP/sign"},
		// Some route by the query string.
		{"POST", "/?/sign"}, {"POST", "/index.php?/sign&x=1"}, {"POST", "/?q=sign"}, {"POST", "/index.php?q=SIGN/"},
		{"POST", "/?r=sign"}, {"POST", "/?route=sign"}, {"POST", "/?q=a&q=sign"}, {"POST", "/?q=%2Fsign"},
	}
	h := newHarness(t, setup{protect: []string{"POST /sign"}})
	b := h.browser("198.51.100.7", 64496, "")
	if !b.sign("/sign", signBody) {
		t.Fatal("a real signer's first signature was not forwarded")
	}
	forwardedBefore := h.forwardedCount()
	for _, a := range aliases {
		r := b.request(a.method, a.target, signBody)
		if a.method == "GET" {
			r.Header.Set("X-HTTP-Method-Override", "POST")
		}
		w := b.send(r)
		if w.Code == http.StatusOK {
			t.Errorf("%s %s with a spent pass reached the backend", a.method, a.target)
		}
	}
	accepted := h.forwardedCount() - forwardedBefore
	t.Logf("aliases with a spent pass: tried %d / accepted %d / expected 0", len(aliases), accepted)
	if accepted != 0 {
		t.Fatalf("accepted %d aliases", accepted)
	}
}

// A route read from the query string is priced as its path: a rule that
// asks more for /sign asks it of /?q=sign, and a WordPress route names its
// /wp-json path from any page.
func TestQueryRoutesArePricedAsTheirPath(t *testing.T) {
	h := newHarness(t, setup{
		protect: []string{"POST /sign", "POST /wp-json/petition/v1/sign"},
		policy: `
rules:
  - name: dear-signature
    match: {method: POST, path: [/sign, /wp-json/petition/v1/sign]}
    action: challenge
    difficulty: 9
`,
	})
	b := h.browser("198.51.100.7", 64496, "")
	for _, target := range []string{"/?q=sign", "/index.php?/sign", "/blog/post?rest_route=/petition/v1/sign", "/?rest_route=%2Fpetition%2Fv1%2Fsign"} {
		w := b.do(http.MethodPost, target, signBody)
		if w.Code != StatusChallenge {
			t.Fatalf("POST %s without a pass: %d, want a challenge", target, w.Code)
		}
		o := h.outcomes[len(h.outcomes)-1]
		if o.Action != ActionHold || o.Rule != "dear-signature" || challengeBits(t, w) != 9 {
			t.Errorf("POST %s: %s by %q at %d bits, want held by dear-signature at 9", target, o.Action, o.Rule, challengeBits(t, w))
		}
	}
	if n := h.forwardedCount(); n != 0 {
		t.Fatalf("%d forwarded without a proof", n)
	}
}

// A vote by GET is every method's: HEAD runs the GET handler, and a script
// that does not check the method counts a POST's query as its GET. With
// the one vote's credit spent, no other method votes again.
func TestGetEndpointTakesEveryMethod(t *testing.T) {
	h := newHarness(t, setup{protect: []string{"GET /vote"}})
	b := h.browser("198.51.100.7", 64496, "")
	b.pass("/")
	if w := b.do(http.MethodGet, "/vote?choice=yes", ""); w.Code != http.StatusOK {
		t.Fatalf("the first vote: %d", w.Code)
	}
	tried := 0
	before := h.forwardedCount()
	for _, method := range []string{"GET", "HEAD", "POST", "PUT", "OPTIONS", "get"} {
		for range 3 {
			tried++
			body := ""
			if method == "POST" || method == "PUT" {
				body = "x=1"
			}
			if w := b.do(method, "/vote?choice=yes", body); w.Code == http.StatusOK {
				t.Errorf("%s /vote with the vote's credit spent reached the backend", method)
			}
		}
	}
	accepted := h.forwardedCount() - before
	t.Logf("votes with a spent pass, protect GET /vote: tried %d / accepted %d / expected 0", tried, accepted)
	if accepted != 0 {
		t.Fatalf("accepted %d votes", accepted)
	}
}

// An unsafe request whose path cannot be read unambiguously is refused,
// never waved through; a safe one is judged on its path as written.
func TestUnreadablePathsOfUnsafeRequestsAreRefused(t *testing.T) {
	h := newHarness(t, setup{protect: []string{"POST /sign"}})
	b := h.browser("198.51.100.7", 64496, "")
	b.pass("/")
	for _, target := range []string{"/sign%00", "/sign%0A", "/%2525zzsign", "/%25252525252Fsign"} {
		w := b.do(http.MethodPost, target, signBody)
		if w.Code != http.StatusBadRequest {
			t.Errorf("POST %s: %d, want 400", target, w.Code)
		}
	}
	if n := h.forwardedCount(); n != 0 {
		t.Fatalf("%d unreadable requests forwarded", n)
	}
	// A GET whose path cannot be read is judged on its path as written,
	// unless a signature endpoint takes GET: then it is refused too.
	if w := b.do(http.MethodGet, "/page%00", ""); w.Code != http.StatusOK {
		t.Fatalf("GET of an unreadable path with a pass: %d, want it forwarded", w.Code)
	}
	votes := newHarness(t, setup{protect: []string{"GET /vote"}})
	v := votes.browser("198.51.100.7", 64496, "")
	v.pass("/")
	if w := v.do(http.MethodGet, "/vote%00", ""); w.Code != http.StatusBadRequest {
		t.Fatalf("GET /vote%%00 where GET /vote signs: %d, want 400", w.Code)
	}
}

// A pass is worth what was paid for it: one bought on a cheap page does
// not sign where the policy asks for more; the signature is challenged at
// its own price, its body held, and released once.
func TestPassBuysOnlyWhatWasPaid(t *testing.T) {
	h := newHarness(t, setup{
		protect: []string{"POST /sign"},
		policy: `
rules:
  - name: cheap-home
    match: {method: GET, path: /}
    action: challenge
    difficulty: 3
  - name: dear-signature
    match: {method: POST, path: /sign}
    action: challenge
    difficulty: 9
`,
	})
	tried, accepted := 0, 0
	for i := range 10 {
		b := h.browser(fmt.Sprintf("198.51.100.%d", 1+i), 64496, "")
		b.pass("/")
		tried++
		w := b.do(http.MethodPost, "/sign", signBody)
		if w.Code == http.StatusOK {
			accepted++
			continue
		}
		if w.Code != StatusChallenge || challengeBits(t, w) != 9 {
			t.Fatalf("signature with a 3-bit pass: %d (bits %d), want a 9-bit challenge", w.Code, challengeBits(t, w))
		}
	}
	t.Logf("signatures with a pass bought at 3 bits where 9 are asked: tried %d / accepted %d / expected 0", tried, accepted)
	if accepted != 0 {
		t.Fatal("a cheap pass signed")
	}
	// The honest way through: solve the 9-bit challenge, the held body goes on.
	b := h.browser("198.51.100.77", 64496, "")
	b.pass("/")
	if !b.sign("/sign", signBody) {
		t.Fatal("the signature was not forwarded after its own challenge was solved")
	}
	last := h.forwarded[len(h.forwarded)-1]
	if last.Method != http.MethodPost || formOf(last.Body).Get("name") != "Ada" {
		t.Fatalf("forwarded %+v, want the held POST with its fields", last)
	}
}

// A form on another site cannot make its visitors sign: the submission is
// refused with a page that says why, and nothing is held.
func TestCrossSiteSignaturesAreRefusedNotHeld(t *testing.T) {
	h := newHarness(t, setup{protect: []string{"POST /sign"}})
	b := h.browser("198.51.100.7", 64496, "")
	cases := []struct {
		name    string
		headers map[string]string
	}{
		{"Origin of another site", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": ""}},
		{"Sec-Fetch-Site cross-site", map[string]string{"Origin": "", "Sec-Fetch-Site": "cross-site"}},
		{"Sec-Fetch-Site same-site", map[string]string{"Origin": "", "Sec-Fetch-Site": "same-site"}},
		{"Origin null", map[string]string{"Origin": "null", "Sec-Fetch-Site": ""}},
		{"Origin another port", map[string]string{"Origin": "http://petition.example:8081", "Sec-Fetch-Site": ""}},
	}
	for _, c := range cases {
		r := b.request(http.MethodPost, "/sign", signBody)
		for k, v := range c.headers {
			if v == "" {
				r.Header.Del(k)
			} else {
				r.Header.Set(k, v)
			}
		}
		w := b.send(r)
		if w.Code != http.StatusForbidden || w.Header().Get("Rempart-Action") != "refuse" || !strings.Contains(w.Body.String(), "autre site") {
			t.Errorf("%s: %d %q, want the cross-site refusal", c.name, w.Code, w.Header().Get("Rempart-Action"))
		}
	}
	if n, _ := stashLen(h.state); n != 0 {
		t.Fatalf("%d cross-site submissions held", n)
	}
	// The same form on the site itself is held and goes through.
	if !b.sign("/sign", signBody) {
		t.Fatal("a same-origin signature was not forwarded")
	}
}

// Only signatures are held: a POST elsewhere without a pass gets a
// challenge but takes no room in the stash.
func TestOnlySignaturesAreHeld(t *testing.T) {
	h := newHarness(t, setup{protect: []string{"POST /sign"}})
	b := h.browser("198.51.100.7", 64496, "")
	for _, target := range []string{"/search", "/comment", "/api/sign-up"} {
		if w := b.do(http.MethodPost, target, signBody); w.Code != StatusChallenge {
			t.Fatalf("POST %s: %d, want a challenge", target, w.Code)
		}
	}
	if n, _ := stashLen(h.state); n != 0 {
		t.Fatalf("%d non-signature bodies held", n)
	}
	b.do(http.MethodPost, "/sign", signBody)
	if n, _ := stashLen(h.state); n != 1 {
		t.Fatalf("%d held after a signature, want 1", n)
	}
}

// A flood that never solves cannot push a signer's held submission out of
// the stash: not one network posting big bodies, however many, nor many
// networks posting one big body each, which fill the stash's bytes long
// before its entries.
func TestStashFloodDoesNotEvictASigner(t *testing.T) {
	big := "x=" + strings.Repeat("a", 64<<10-64)
	for _, tc := range []struct {
		name              string
		networks, perEach int
	}{
		{"one network, 600 bodies of 64 KiB", 1, 600},
		{"520 networks, one body of 64 KiB each", 520, 1}, // 512 fill the 32 MiB
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, setup{protect: []string{"POST /sign"}})
			signer := h.browser("198.51.100.7", 64496, "")
			held := signer.do(http.MethodPost, "/sign", signBody)
			if held.Code != StatusChallenge {
				t.Fatalf("signer: %d, want a challenge", held.Code)
			}
			for i := range tc.networks {
				flooder := h.browser(fmt.Sprintf("10.%d.%d.1", i/250, i%250), uint32(70000+i), "hosting")
				for range tc.perEach {
					flooder.do(http.MethodPost, "/sign", big)
				}
			}
			entries, bytes := stashLen(h.state)
			verify := signer.solve(held)
			before := h.forwardedCount()
			w := signer.follow(verify, "")
			accepted := h.forwardedCount() - before
			t.Logf("%s: stash %d entries, %d bytes; the signer's held submission: tried 1 / accepted %d / expected 1", tc.name, entries, bytes, accepted)
			if accepted != 1 || w.Code != http.StatusOK || h.forwarded[len(h.forwarded)-1].Body != signBody {
				t.Fatalf("signer's submission: %d, forwarded %d", w.Code, accepted)
			}
		})
	}
}

// A refused signature consumes none of the other budgets: one address
// over its own budget does not drain its network's.
func TestBudgetsAreTakenAllOrNone(t *testing.T) {
	h := newHarness(t, setup{
		protect: []string{"POST /sign"},
		limits: []policies.Budget{
			{Counts: policies.CountSignatures, Per: budget.KeyASN, Rate: "10/hour"},
			{Counts: policies.CountSignatures, Per: budget.KeyIP, Rate: "3/hour"},
		},
	})
	greedy := h.browser("198.51.100.7", 64496, "")
	tried, accepted := 0, 0
	for range 20 {
		tried++
		if greedy.sign("/sign", signBody) {
			accepted++
		}
	}
	t.Logf("one address: tried %d / accepted %d / expected 3", tried, accepted)
	if accepted != 3 {
		t.Fatalf("one address signed %d times, want 3", accepted)
	}
	// A signature refused after its held body was released leaves no replay
	// cookie behind: the next try is refused by the budget again, not 410.
	if _, stale := greedy.cookies[replayCookie]; stale {
		t.Fatal("a replay cookie outlived the 429 of its submission")
	}
	if w := greedy.do(http.MethodPost, "/sign", signBody); w.Code == http.StatusGone {
		t.Fatal("the try after a 429 got 410")
	}
	others := 0
	for i := range 10 {
		b := h.browser(fmt.Sprintf("198.51.100.%d", 20+i), 64496, "")
		if b.sign("/sign", signBody) {
			others++
		}
	}
	t.Logf("the rest of the network: tried 10 / accepted %d / expected 7", others)
	if others != 7 {
		t.Fatalf("the network's other addresses signed %d times, want 7", others)
	}
}

// No replay, ever: a spent pass and a solved proof are refused after a
// restart (new records) and after a reload from secret A to B and back.
func TestNoReplayAcrossRestartAndSecretChanges(t *testing.T) {
	h := newHarness(t, setup{protect: []string{"POST /sign"}})
	b := h.browser("198.51.100.7", 64496, "")
	w := b.do(http.MethodPost, "/sign", signBody)
	proof := b.solveProof(w)
	b.sendProof(proof)
	spentPass := b.cookies[passCookie].Value
	if !b.sign("/sign", signBody) {
		t.Fatal("no first signature")
	}
	spentPass2 := b.cookies[passCookie].Value

	restarted := newHarness(t, setup{protect: []string{"POST /sign"}})
	reloaded := newHarness(t, setup{protect: []string{"POST /sign"}, state: h.state, secret: "another-secret-B-0123456789"})
	back := newHarness(t, setup{protect: []string{"POST /sign"}, state: h.state})
	tried, accepted := 0, 0
	for _, next := range []*harness{h, restarted, reloaded, back} {
		for _, pass := range []string{spentPass, spentPass2} {
			c := next.browser("198.51.100.7", 64496, "")
			c.cookies[passCookie] = &http.Cookie{Name: passCookie, Value: pass, Path: "/"}
			tried++
			if w := c.do(http.MethodPost, "/sign", signBody); w.Code == http.StatusOK {
				accepted++
			}
		}
		c := next.browser("198.51.100.7", 64496, "")
		tried++
		if v := c.sendProof(proof); v.Code == http.StatusSeeOther || v.Code == http.StatusTemporaryRedirect {
			accepted++
		}
	}
	t.Logf("replays after restart, reload A->B, reload B->A: tried %d / accepted %d / expected 0", tried, accepted)
	if accepted != 0 {
		t.Fatalf("%d replays accepted", accepted)
	}
}

// A held submission that expired answers 410 without spending the new
// pass's credit, which still signs when the form is sent again.
func TestExpiredHeldSubmissionCostsNoCredit(t *testing.T) {
	h := newHarness(t, setup{protect: []string{"POST /sign"}})
	b := h.browser("198.51.100.7", 64496, "")
	w := b.do(http.MethodPost, "/sign", signBody)
	proof := b.solveProof(w)
	h.now = h.now.Add(4 * time.Minute)
	v := b.sendProof(proof)
	h.now = h.now.Add(2 * time.Minute) // the held body is 6 minutes old: gone
	if got := b.follow(v, proof.Form.Encode()); got.Code != http.StatusGone {
		t.Fatalf("re-post of an expired submission: %d, want 410", got.Code)
	}
	if n := h.forwardedCount(); n != 0 {
		t.Fatalf("%d forwarded", n)
	}
	if w := b.do(http.MethodPost, "/sign", signBody); w.Code != http.StatusOK {
		t.Fatalf("signing again with the unspent pass: %d, want 200", w.Code)
	}
}

// Early data (TLS 0-RTT) is refused with 425, as Caddy's client_ip
// matcher does: its client address is not verified yet.
func TestEarlyDataIsTooEarly(t *testing.T) {
	h := newHarness(t, setup{protect: []string{"POST /sign"}})
	b := h.browser("198.51.100.7", 64496, "")
	r := b.request(http.MethodPost, "/sign", signBody)
	r.TLS = earlyData()
	if w := b.send(r); w.Code != http.StatusTooEarly {
		t.Fatalf("early data: %d, want 425", w.Code)
	}
}

// Observe mode lets everything through and records what enforce would do.
func TestObserveModeRecordsWithoutActing(t *testing.T) {
	h := newHarness(t, setup{protect: []string{"POST /sign"}, observe: true, policy: `
rules:
  - name: no-bots
    match: {user_agent: "(?i)bot"}
    action: deny
`})
	b := h.browser("198.51.100.7", 64496, "")
	b.do(http.MethodGet, "/", "")
	b.do(http.MethodPost, "/SIGN", signBody)
	b.ua = "EvilBot/1.0"
	b.do(http.MethodGet, "/", "")
	if n := h.forwardedCount(); n != 3 {
		t.Fatalf("observe mode forwarded %d of 3", n)
	}
	want := []Action{ActionChallenge, ActionHold, ActionDeny}
	for i, o := range h.outcomes {
		if !o.Observed || o.Action != want[i] {
			t.Errorf("outcome %d: %+v, want observed %s", i, o, want[i])
		}
	}
	if !h.outcomes[1].Signature || h.outcomes[1].Path != "/sign" {
		t.Errorf("observed signature outcome %+v, want the canonical /sign", h.outcomes[1])
	}
}

// Every request produces exactly one outcome.
func TestOneOutcomePerRequest(t *testing.T) {
	h := newHarness(t, setup{protect: []string{"POST /sign"}})
	b := h.browser("198.51.100.7", 64496, "")
	requests := 0
	count := func(w interface{ Result() *http.Response }) { requests++ }
	w := b.do(http.MethodGet, "/", "")
	count(w)
	count(b.solve(w))
	count(b.do(http.MethodGet, "/", ""))
	count(b.do(http.MethodGet, "/.rempart/nothing", ""))
	count(b.do(http.MethodGet, "/.rempart/verify", ""))
	if len(h.outcomes) != requests {
		t.Fatalf("%d outcomes for %d requests", len(h.outcomes), requests)
	}
	want := []Action{ActionChallenge, ActionVerify, ActionPass, ActionRefuse, ActionRefuse}
	for i, o := range h.outcomes {
		if o.Action != want[i] {
			t.Errorf("outcome %d: %s, want %s", i, o.Action, want[i])
		}
	}
	if h.outcomes[3].Status != http.StatusNotFound || h.outcomes[4].Status != http.StatusMethodNotAllowed {
		t.Errorf("own-prefix refusals: %d, %d, want 404, 405", h.outcomes[3].Status, h.outcomes[4].Status)
	}
}

// One credit, one signature, however many requests spend it at once.
func TestConcurrentSpendsOfOneCredit(t *testing.T) {
	h := newHarness(t, setup{protect: []string{"POST /sign"}})
	b := h.browser("198.51.100.7", 64496, "")
	b.pass("/")
	const tries = 32
	requests := make([]*http.Request, tries)
	for i := range requests {
		requests[i] = b.request(http.MethodPost, "/sign", signBody)
	}
	var wg sync.WaitGroup
	for _, r := range requests {
		wg.Go(func() {
			if err := h.shield.Serve(httptest.NewRecorder(), r, b.id, h.backend); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	accepted := h.forwardedCount()
	t.Logf("one 1-credit pass spent by %d requests at once: tried %d / accepted %d / expected 1", tries, tries, accepted)
	if accepted != 1 {
		t.Fatalf("%d signatures for one credit", accepted)
	}
}

// Rules price POST /sign for a hosting network; the attacker sends the
// signature with another method that writes, or claims POST in an
// override header, to be decided by a cheaper rule. Each must be priced as
// POST /sign, and a pass bought on a cheap page must not buy it.
func TestOtherMethodsPayWhatTheSignaturePays(t *testing.T) {
	const policy = `
rules:
  - name: hosting-signatures
    action: challenge
    difficulty: 14
    match: {method: POST, path: /sign, class: hosting}
  - name: pages
    action: challenge
    difficulty: 4
`
	h := newHarness(t, setup{protect: []string{"POST /sign"}, policy: policy})
	moves := []struct {
		method, target, override string
	}{
		{"PUT", "/sign", ""},
		{"DELETE", "/sign", ""},
		{"PATCH", "/SIGN/", ""},
		{"PROPFIND", "/%73ign", ""},
		{"GET", "/sign", "POST"},
		{"PUT", "/sign", "post"},
		{"GET", "/sign", "\x01"}, // an override that cannot be read counts as the one that signs
	}
	priced := 0
	for i, m := range moves {
		b := h.browser(fmt.Sprintf("203.0.113.%d", i+1), 16509, "hosting")
		r := b.request(m.method, m.target, signBody)
		if m.override != "" {
			r.Header.Set("X-HTTP-Method-Override", m.override)
		}
		w := b.send(r)
		if w.Code != http.StatusForbidden {
			t.Errorf("%s %s (override %q): %d, want a challenge", m.method, m.target, m.override, w.Code)
			continue
		}
		if bits := challengeBits(t, w); bits != 14 {
			t.Errorf("%s %s (override %q): challenged at %d bits, want the signature's 14", m.method, m.target, m.override, bits)
			continue
		}
		priced++
	}
	t.Logf("other methods for a signature: tried %d / priced as POST /sign %d / expected %d", len(moves), priced, len(moves))

	// A pass bought on a 4-bit page does not pay for PUT /sign.
	b := h.browser("203.0.113.99", 16509, "hosting")
	b.pass("/about")
	before := h.forwardedCount()
	w := b.do("PUT", "/sign", signBody)
	if w.Code == http.StatusOK || h.forwardedCount() != before {
		t.Errorf("a 4-bit pass bought PUT /sign: %d", w.Code)
	}
}

// A pass sent by another client than the one it was issued to, or after
// it expired, buys nothing, and the outcome says why.
func TestPassRefusedSaysWhy(t *testing.T) {
	h := newHarness(t, setup{})
	owner := h.browser("198.51.100.7", 64496, "")
	if w := owner.solve(owner.do(http.MethodGet, "/", "")); w.Code != http.StatusSeeOther {
		t.Fatalf("proof answered %d", w.Code)
	}
	pass := owner.cookies[passCookie]
	for _, tc := range []struct {
		name   string
		ip     string
		after  time.Duration
		reason string
	}{
		{"another network", "203.0.113.9", 0, "pass refused: " + challenge.ErrForged.Error()},
		{"expired", "198.51.100.7", 2 * time.Hour, "pass refused: " + challenge.ErrExpired.Error()},
	} {
		h.now = h.now.Add(tc.after)
		thief := h.browser(tc.ip, 64496, "")
		thief.cookies[passCookie] = pass
		if w := thief.do(http.MethodGet, "/", ""); w.Code != StatusChallenge {
			t.Errorf("%s: answered %d, want a challenge", tc.name, w.Code)
		}
		if got := h.outcomes[len(h.outcomes)-1].Reason; !strings.HasPrefix(got, tc.reason) {
			t.Errorf("%s: reason %q, want %q", tc.name, got, tc.reason)
		}
	}
}

// A 429 says what the network used up: a reader over the challenge budget
// is told of browser checks, not of signatures it never made; a signer
// over the signature budget, of signatures.
func TestTooManySaysWhatWasCounted(t *testing.T) {
	h := newHarness(t, setup{
		protect: []string{"POST /sign"},
		limits: []policies.Budget{
			{Counts: policies.CountSignatures, Per: budget.KeyIP, Rate: "1/hour"},
			{Counts: policies.CountChallenges, Per: budget.KeyIP, Rate: "2/hour"},
		},
	})
	_, msgs := challenge.Negotiate("")
	reader := h.browser("198.51.100.7", 64496, "")
	var w *httptest.ResponseRecorder
	for range 3 {
		w = reader.do(http.MethodGet, "/", "")
	}
	if want := fmt.Sprintf(msgs.TooManyChecks, 60); w.Code != http.StatusTooManyRequests || !strings.Contains(w.Body.String(), want) {
		t.Errorf("reader's third page: %d, want 429 saying %q:\n%s", w.Code, want, w.Body)
	}

	signer := h.browser("203.0.113.9", 64496, "")
	if !signer.sign("/sign", signBody) {
		t.Fatal("no first signature")
	}
	proof, err := shieldtest.SolvePage(signer.do(http.MethodPost, "/sign", signBody).Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	w = signer.follow(signer.send(signer.request(http.MethodPost, proof.Action, proof.Form.Encode())), proof.Form.Encode())
	if want := fmt.Sprintf(msgs.TooMany, 60); w.Code != http.StatusTooManyRequests || !strings.Contains(w.Body.String(), want) {
		t.Errorf("second signature: %d, want 429 saying %q:\n%s", w.Code, want, w.Body)
	}
}
