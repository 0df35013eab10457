package shield

import (
	"net/http"
	"testing"
)

// The routes and method claims a WordPress (or Yii) petition honours sign
// with a spent pass no more than its endpoint does:
//   - PHP reads ".", " " and an unclosed "[" in a name as "_", so
//     ?rest.route= is WordPress's rest_route;
//   - WordPress reads rest_route from $_POST before $_GET, Yii 1 its r
//     from both: a route in a POST's form runs the signature handler;
//   - WordPress's REST API takes the method from ?_method= on any request:
//     GET /wp-json/x?_method=POST runs the POST handler.
func TestRoutesAndClaimsWithASpentPassSignNothing(t *testing.T) {
	h := newHarness(t, setup{protect: []string{"POST /wp-json/petition/v1/sign", "POST /petition/sign"}})
	b := h.browser("198.51.100.7", 64496, "")
	if !b.sign("/wp-json/petition/v1/sign", signBody) {
		t.Fatal("the real signature was not forwarded")
	}
	for _, tc := range []struct {
		name, method string
		targets      []string
		body         string
	}{
		{"names as PHP reads them", http.MethodPost, []string{
			"/?rest_route=/petition/v1/sign", "/?rest.route=/petition/v1/sign", "/?rest+route=/petition/v1/sign",
			"/?rest%20route=/petition/v1/sign", "/?rest[route=/petition/v1/sign", "/?rest%2Eroute=/petition/v1/sign",
			"/blog/post?rest.route=/petition/v1/sign",
		}, signBody},
		{"a route in the posted form", http.MethodPost, []string{"/"}, "rest_route=%2Fpetition%2Fv1%2Fsign&" + signBody},
		{"a route in the posted form (Yii)", http.MethodPost, []string{"/"}, "r=petition%2Fsign&" + signBody},
		{"a method claimed in the query", http.MethodGet, []string{
			"/wp-json/petition/v1/sign?_method=POST", "/wp-json/petition/v1/sign?_method=post&name=Ada",
			"/wp-json/petition/v1/sign?%5Fmethod=POST", "/wp-json/petition/v1/sign?_method=GET&_method=POST",
			"/?rest_route=/petition/v1/sign&_method=POST", "/wp-json/petition/v1/sign?_m%65thod=POST",
		}, ""},
	} {
		before := h.forwardedCount()
		for _, target := range tc.targets {
			b.do(tc.method, target, tc.body)
		}
		accepted := h.forwardedCount() - before
		t.Logf("%s, spent pass: tried %d / accepted %d / expected 0", tc.name, len(tc.targets), accepted)
		if accepted != 0 {
			t.Errorf("%s: %d signatures forwarded without a credit", tc.name, accepted)
		}
	}
	// Without a claim, a GET of the route is a page, with a pass.
	if w := b.do(http.MethodGet, "/wp-json/petition/v1/sign?methods=all", ""); w.Code != http.StatusOK {
		t.Errorf("GET of the route without a claim: %d, want it forwarded", w.Code)
	}
}

// A route named in the query is what the framework runs, whatever the
// path: WordPress runs ?rest_route= on any page, Drupal 7 reads ?q= on
// its front controller before the path. A cheap endpoint in the path must
// not price the dear route.
func TestQueryRouteDecidesBeforeThePath(t *testing.T) {
	for _, target := range []string{"/newsletter?rest_route=/petition/v1/sign", "/index.php?q=wp-json/petition/v1/sign"} {
		t.Run(target, func(t *testing.T) {
			h := newHarness(t, setup{
				protect: []string{"POST /newsletter", "POST /index.php", "POST /wp-json/petition/v1/sign"},
				policy: `
rules:
  - name: cheap
    match: {method: POST, path: [/newsletter, /index.php]}
    action: challenge
    difficulty: 3
    credits: 5
  - name: dear-signature
    match: {method: POST, path: /wp-json/petition/v1/sign}
    action: challenge
    difficulty: 12
    credits: 1
`,
			})
			b := h.browser("198.51.100.7", 64496, "")
			w := b.do(http.MethodPost, target, signBody)
			if w.Code != StatusChallenge {
				t.Fatalf("POST %s without a pass: %d, want a challenge", target, w.Code)
			}
			o := h.outcomes[len(h.outcomes)-1]
			bits := challengeBits(t, w)
			proof := b.solveProof(w)
			b.follow(b.sendProof(proof), proof.Form.Encode())
			const tries = 6
			for range tries {
				b.do(http.MethodPost, target, signBody)
			}
			accepted := h.forwardedCount()
			t.Logf("POST %s: rule %q at %d bits; signatures for one proof: tried %d / accepted %d / expected 1", target, o.Rule, bits, tries+1, accepted)
			if bits != 12 || o.Rule != "dear-signature" || accepted != 1 {
				t.Errorf("the route was priced as its path: %q at %d bits, %d signatures for one proof", o.Rule, bits, accepted)
			}
		})
	}
}

// r and route are common names for a return URL: a login form posting to
// /login?r=/sign (back to the petition after logging in) is not a
// signature, nor is a single sign-on provider's cross-site POST callback
// naming it. They are routes only on / or a PHP script.
func TestReturnParametersAreNotRoutes(t *testing.T) {
	h := newHarness(t, setup{protect: []string{"POST /sign"}})
	b := h.browser("198.51.100.7", 64496, "")
	b.pass("/")
	tried, wrong := 0, 0
	// A same-site login that returns to the petition.
	tried++
	w := b.do(http.MethodPost, "/login?r=%2Fsign", "user=ada&password=x")
	o := h.outcomes[len(h.outcomes)-1]
	t.Logf("POST /login?r=%%2Fsign: %d, signature=%v, action %s", w.Code, o.Signature, o.Action)
	if o.Signature {
		wrong++
	}
	// Its signature now needs a new challenge: the login spent the credit.
	tried++
	w = b.do(http.MethodPost, "/sign", signBody)
	t.Logf("the real signature after the login: %d (%s)", w.Code, h.outcomes[len(h.outcomes)-1].Reason)
	if w.Code != http.StatusOK {
		wrong++
	}
	// A SAML/OIDC form_post callback from the identity provider, cross-site.
	tried++
	r := b.request(http.MethodPost, "/sso/acs?route=sign", "SAMLResponse=abc")
	r.Header.Set("Origin", "https://idp.example")
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	w = b.send(r)
	t.Logf("cross-site POST /sso/acs?route=sign: %d, Rempart-Action %q", w.Code, w.Header().Get("Rempart-Action"))
	if w.Code != http.StatusOK {
		wrong++
	}
	t.Logf("ordinary requests naming the petition in a return parameter: tried %d / wrongly treated %d / expected 0", tried, wrong)
	if wrong != 0 {
		t.Errorf("%d ordinary requests broken", wrong)
	}
}

// With a GET endpoint (a vote by GET), a search for the word "vote" on a
// page of its own is not the vote.
func TestASearchForTheEndpointsNameIsNotAVote(t *testing.T) {
	h := newHarness(t, setup{protect: []string{"GET /vote"}})
	b := h.browser("198.51.100.7", 64496, "")
	b.pass("/")
	w := b.do(http.MethodGet, "/search?q=vote", "")
	o := h.outcomes[len(h.outcomes)-1]
	t.Logf("GET /search?q=vote: %d, signature=%v, action %s", w.Code, o.Signature, o.Action)
	if o.Signature {
		t.Errorf("GET /search?q=vote was taken for a vote")
	}
	w = b.do(http.MethodGet, "/vote?choice=yes", "")
	t.Logf("the real vote after the search: %d (%s)", w.Code, h.outcomes[len(h.outcomes)-1].Reason)
	if w.Code != http.StatusOK {
		t.Errorf("the real vote after a search: %d, want it forwarded", w.Code)
	}
}

// The proof form the shield reads in a re-post releases only its own
// client's submission, at its own address, after its proof: another
// client naming it, or the form posted without the proof, release
// nothing.
func TestRepostedProofFormReleasesOnlyItsOwn(t *testing.T) {
	h := newHarness(t, setup{protect: []string{"POST /sign"}})
	victim := h.browser("192.0.2.7", 64496, "")
	attacker := h.browser("203.0.113.9", 64497, "")
	// The victim's submission is held.
	w := victim.do(http.MethodPost, "/sign", signBody)
	if w.Code != StatusChallenge {
		t.Fatalf("victim: %d", w.Code)
	}
	vp := victim.solveProof(w)
	id := vp.Form.Get("submission")
	tried, accepted := 0, 0
	// 1. The attacker, with a pass of its own, names the victim's submission.
	attacker.pass("/")
	for _, m := range []string{"POST", "PUT"} {
		tried++
		before := h.forwardedCount()
		body := "challenge=x&nonce=1&return=%2F&submission=" + id
		w := attacker.do(m, "/sign", body)
		if h.forwardedCount() > before {
			accepted++
			t.Logf("attacker released the victim's submission with %s: %d", m, w.Code)
		}
	}
	// 2. The victim's own browser re-posts without a pass (proof never sent).
	tried++
	before := h.forwardedCount()
	victim.do(http.MethodPost, "/sign", vp.Form.Encode())
	if h.forwardedCount() > before {
		accepted++
	}
	// 3. A proof form naming the held submission at another path.
	tried++
	before = h.forwardedCount()
	victim.do(http.MethodPost, "/sign?x=1", vp.Form.Encode())
	if h.forwardedCount() > before {
		accepted++
	}
	t.Logf("reposted abuse: tried %d / accepted %d / expected 0", tried, accepted)
	if accepted != 0 {
		t.Errorf("accepted %d", accepted)
	}
	// The victim's own release still works, byte for byte.
	before = h.forwardedCount()
	v := victim.sendProof(vp)
	victim.follow(v, vp.Form.Encode())
	if h.forwardedCount() != before+1 || h.forwarded[len(h.forwarded)-1].Body != signBody {
		t.Fatalf("the victim's submission was not sent on as held: %+v", h.forwarded)
	}
}

// A front controller's PATH_INFO route is priced as its route: a cheap
// rule for the home page (/, /index.php) that comes first does not price
// /index.php/sign, which the rules see as /sign.
func TestPathInfoIsPricedAsItsRoute(t *testing.T) {
	h := newHarness(t, setup{
		protect: []string{"POST /sign"},
		policy: `
rules:
  - name: home
    match: {path: [/, /index.php]}
    action: challenge
    difficulty: 3
  - name: dear-signature
    match: {method: POST, path: /sign}
    action: challenge
    difficulty: 12
`,
	})
	b := h.browser("198.51.100.7", 64496, "")
	tried, cheap := 0, 0
	for _, target := range []string{"/sign", "/?q=sign", "/index.php?/sign", "/index.php/sign", "/INDEX.PHP/sign.json", "/index.php//sign/"} {
		tried++
		w := b.do(http.MethodPost, target, signBody)
		o := h.outcomes[len(h.outcomes)-1]
		bits := 0
		if w.Code == StatusChallenge {
			bits = challengeBits(t, w)
		}
		t.Logf("POST %s: %d, signature=%v, rule %q, %d bits", target, w.Code, o.Signature, o.Rule, bits)
		if o.Signature && bits < 12 {
			cheap++
		}
	}
	t.Logf("spellings of the signature: tried %d / priced below 12 bits %d / expected 0", tried, cheap)
	// The cheap proof pays for the signature on release.
	w := b.do(http.MethodPost, "/index.php/sign", signBody)
	before := h.forwardedCount()
	p := b.solveProof(w)
	b.follow(b.sendProof(p), p.Form.Encode())
	t.Logf("a %d-bit proof released the signature: forwarded %d", challengeBits(t, w), h.forwardedCount()-before)
	if cheap != 0 {
		t.Errorf("%d spellings priced below the signature's rule", cheap)
	}
}

// PHP takes a body for a form when its Content-Type, lower-cased and cut
// at the first ";", "," or space, is application/x-www-form-urlencoded
// (main/SAPI.c), and fills $_POST from it, where WordPress reads its
// rest_route. Every such spelling is read for its route, so a spent pass
// signs through none of them.
func TestFormRouteInEveryContentTypeSpelling(t *testing.T) {
	h := newHarness(t, setup{protect: []string{"POST /wp-json/petition/v1/sign"}})
	b := h.browser("198.51.100.7", 64496, "")
	if !b.sign("/wp-json/petition/v1/sign", signBody) {
		t.Fatal("the real signature was not forwarded")
	}
	spellings := []string{
		"application/x-www-form-urlencoded",
		"APPLICATION/X-WWW-FORM-URLENCODED; charset=UTF-8",
		"application/x-www-form-urlencoded,text/plain",
		"application/x-www-form-urlencoded text/plain",
		"application/x-www-form-urlencoded, application/json",
		"application/x-www-form-urlencoded;",
	}
	before := h.forwardedCount()
	for _, ct := range spellings {
		r := b.request(http.MethodPost, "/?p=1", "rest_route=%2Fpetition%2Fv1%2Fsign&"+signBody)
		r.Header.Set("Content-Type", ct)
		b.send(r)
	}
	accepted := h.forwardedCount() - before
	t.Logf("a route in a posted form, Content-Type spelled as PHP reads a form, spent pass: tried %d / accepted %d / expected 0",
		len(spellings), accepted)
	if accepted != 0 {
		t.Errorf("%d signatures forwarded without a credit", accepted)
	}
}
