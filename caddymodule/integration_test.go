package caddymodule_test

import (
	"bufio"
	"bytes"
	"fmt"
	"html"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"

	_ "github.com/rempart/rempart/caddymodule"
	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/internal/shieldtest"
)

// The tests in this package share one Caddy (caddytest's admin port
// 2999); they run one after another.

const shieldURL = "http://localhost:9180"

// backend is the petition behind the shield: it records what reaches it.
type backend struct {
	mu       sync.Mutex
	requests []string // "METHOD path body"
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	b.mu.Lock()
	b.requests = append(b.requests, fmt.Sprintf("%s %s %s", r.Method, r.URL.RequestURI(), body))
	b.mu.Unlock()
	fmt.Fprintf(w, "petition page %s", r.URL.Path)
}

func (b *backend) received(prefix string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, r := range b.requests {
		if strings.HasPrefix(r, prefix) {
			out = append(out, r)
		}
	}
	return out
}

// startShield runs a real Caddy with rempart in front of a fresh backend.
func startShield(t *testing.T, options string) (*caddytest.Tester, *backend) {
	t.Helper()
	return startShieldWith(t, t.TempDir(), "secret integration-test-secret-0123456789\n"+options)
}

// testCaddyfile is a config of this package's test Caddy: the global
// options every test shares (the admin API on 2999, http on 9180, no
// automatic HTTPS, storage in dir), then global, more of them, and the
// sites.
func testCaddyfile(storage, global, sites string) string {
	return fmt.Sprintf(`
	{
		admin localhost:2999
		http_port 9180
		https_port 9543
		grace_period 1ns
		auto_https off
		storage file_system %s
		%s
	}
	%s`, storage, global, sites)
}

// trustForwardedFor are global options that take the client's address
// from the X-Forwarded-For a proxy on 127.0.0.1 sends, as the tests'
// clients do.
const trustForwardedFor = `servers {
			trusted_proxies static 127.0.0.1/32
			trusted_proxies_strict
			client_ip_headers X-Forwarded-For
		}`

// initTestCaddy loads config (see testCaddyfile) into the test Caddy.
// The connections http.DefaultClient keeps were to the config this one
// replaced, which closed them: a POST sent on one before its close is seen
// fails with EOF (Go retries only idempotent requests), so they go too.
func initTestCaddy(t *testing.T, config string) *caddytest.Tester {
	t.Helper()
	tester := caddytest.NewTester(t)
	tester.InitServer(config, "caddyfile")
	http.DefaultClient.CloseIdleConnections()
	return tester
}

// countingPetition is a petition that counts the posts it gets in posts;
// it returns its address, host:port.
func countingPetition(t *testing.T, posts *atomic.Int64) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			posts.Add(1)
		}
		fmt.Fprint(w, "petition")
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// startShieldWith is startShield with Caddy's storage in dir and the
// handler's options given whole. The shield is the test's own site
// (testSite): under the default name, site-1, every test would count on
// the budgets, spent records and flood estimates the tests before it left.
func startShieldWith(t *testing.T, storage, options string) (*caddytest.Tester, *backend) {
	t.Helper()
	be := &backend{}
	srv := httptest.NewServer(be)
	t.Cleanup(srv.Close)
	tester := initTestCaddy(t, testCaddyfile(storage, "", shieldSite(testSite(t), options, srv.URL)))
	// Follow no redirect: each test looks at the shield's answers one by one.
	tester.Client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return tester, be
}

// shieldSite is the test Caddy's site block: a shield (difficulty 8,
// POST /sign protected, its state named site, and options) in front of
// the petition at upstream, a URL.
func shieldSite(site, options, upstream string) string {
	return fmt.Sprintf(`
	http://localhost:9180 {
		rempart {
			difficulty 8
			protect POST /sign
			site %s
			%s
		}
		reverse_proxy %s
	}`, site, options, strings.TrimPrefix(upstream, "http://"))
}

func do(t *testing.T, c *http.Client, method, target string, form url.Values, header ...string) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// pass solves the challenge on page and posts the proof; it returns the
// shield's answer to the proof.
func pass(t *testing.T, c *http.Client, page string) *http.Response {
	t.Helper()
	proof, err := shieldtest.SolvePage([]byte(page))
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := do(t, c, http.MethodPost, shieldURL+proof.Action, proof.Form)
	return resp
}

func wantStatus(t *testing.T, resp *http.Response, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d", resp.Request.Method, resp.Request.URL, resp.StatusCode, status)
	}
}

var petitionForm = url.Values{"name": {"Alice"}, "email": {"alice@example.org"}}

func TestShieldFlow(t *testing.T) {
	tester, be := startShield(t, "")
	c := tester.Client

	// Without a pass: the challenge page, never the petition.
	resp, page := do(t, c, http.MethodGet, shieldURL+"/", nil)
	wantStatus(t, resp, http.StatusForbidden)
	if resp.Header.Get("Rempart-Action") != "challenge" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("challenge headers: %v", resp.Header)
	}
	if len(be.received("")) != 0 {
		t.Fatalf("backend reached without a pass: %v", be.received(""))
	}

	// A bot that posts the signature without work is refused, not forwarded.
	resp, _ = do(t, http.DefaultClient, http.MethodPost, shieldURL+"/sign", petitionForm)
	wantStatus(t, resp, http.StatusForbidden)
	if got := be.received("POST /sign"); len(got) != 0 {
		t.Fatalf("unsolved signature forwarded: %v", got)
	}

	// Solving buys a pass and goes back to the page asked for.
	resp = pass(t, c, page)
	wantStatus(t, resp, http.StatusSeeOther)
	if resp.Header.Get("Location") != "/" {
		t.Fatalf("redirected to %q, want /", resp.Header.Get("Location"))
	}
	cookie := resp.Header.Get("Set-Cookie")
	for _, attr := range []string{"rempart_pass=", "HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(cookie, attr) {
			t.Errorf("pass cookie %q lacks %s", cookie, attr)
		}
	}
	resp, body := do(t, c, http.MethodGet, shieldURL+"/", nil)
	wantStatus(t, resp, http.StatusOK)
	if body != "petition page /" {
		t.Fatalf("with a pass got %q", body)
	}

	// One proof, one signature.
	resp, _ = do(t, c, http.MethodPost, shieldURL+"/sign", petitionForm)
	wantStatus(t, resp, http.StatusOK)
	resp, _ = do(t, c, http.MethodPost, shieldURL+"/sign", petitionForm)
	wantStatus(t, resp, http.StatusForbidden)
	if got := be.received("POST /sign"); len(got) != 1 {
		t.Fatalf("backend got %d signatures, want 1: %v", len(got), got)
	}
	// The spent pass was swapped for one that still reads the site.
	resp, _ = do(t, c, http.MethodGet, shieldURL+"/thanks", nil)
	wantStatus(t, resp, http.StatusOK)

	// The same solved challenge is refused the second time.
	resp = pass(t, c, page)
	wantStatus(t, resp, http.StatusForbidden)
}

func TestHeldSubmissionArrivesOnce(t *testing.T) {
	tester, be := startShield(t, "")
	c := tester.Client

	resp, page := do(t, c, http.MethodPost, shieldURL+"/sign?lang=fr", petitionForm)
	wantStatus(t, resp, http.StatusForbidden)
	if !strings.Contains(page, `name="submission"`) {
		t.Fatal("challenge page for a POST does not hold the submission")
	}
	resp = pass(t, c, page)
	wantStatus(t, resp, http.StatusTemporaryRedirect)
	if loc := resp.Header.Get("Location"); loc != "/sign?lang=fr" {
		t.Fatalf("307 to %q, want /sign?lang=fr", loc)
	}
	// The browser re-posts the proof form to the location (307 keeps the
	// method and body); the shield swaps in the held submission.
	proof, _ := shieldtest.SolvePage([]byte(page))
	resp, _ = do(t, c, http.MethodPost, shieldURL+"/sign?lang=fr", proof.Form)
	wantStatus(t, resp, http.StatusOK)
	got := be.received("POST /sign")
	want := "POST /sign?lang=fr " + petitionForm.Encode()
	if len(got) != 1 || got[0] != want {
		t.Fatalf("backend got %q, want exactly [%q]", got, want)
	}
	// Re-posting again releases nothing more.
	resp, _ = do(t, c, http.MethodPost, shieldURL+"/sign?lang=fr", proof.Form)
	if resp.StatusCode == http.StatusOK {
		t.Fatal("held submission released twice")
	}
	if got := be.received("POST /sign"); len(got) != 1 {
		t.Fatalf("backend got %d signatures, want 1", len(got))
	}
}

// A signature whose body stops one byte short is cut off once the shield's
// hold timeout passes, through Caddy's own response writers: a connection
// that never sends the rest holds neither the body read so far nor its
// goroutine for as long as the sender keeps it open.
func TestStalledSubmissionIsCutOff(t *testing.T) {
	const timeout = time.Second
	startShield(t, "body_timeout 1s")
	conn, err := net.Dial("tcp", strings.TrimPrefix(shieldURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const size = 1000
	fmt.Fprintf(conn, "POST /sign HTTP/1.1\r\nHost: localhost:9180\r\nContent-Type: application/x-www-form-urlencoded\r\n"+
		"Content-Length: %d\r\n\r\n%s", size, strings.Repeat("x", size-1))
	start := time.Now()
	_ = conn.SetReadDeadline(start.Add(timeout + 10*time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("stalled body still read after %v: %v", time.Since(start).Round(time.Second), err)
	}
	_ = resp.Body.Close()
	t.Logf("stalled body answered %d after %v", resp.StatusCode, time.Since(start).Round(100*time.Millisecond))
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("stalled body answered %d, want 400", resp.StatusCode)
	}
}

func TestPassBoundToClient(t *testing.T) {
	tester, be := startShield(t, "credits 5")
	_, page := do(t, tester.Client, http.MethodGet, shieldURL+"/", nil)
	resp := pass(t, tester.Client, page)
	wantStatus(t, resp, http.StatusSeeOther)
	var passCookie string
	for _, c := range resp.Cookies() {
		if c.Name == "rempart_pass" {
			passCookie = c.Value
		}
	}
	// The pass copied into another program with another User-Agent.
	resp, _ = do(t, http.DefaultClient, http.MethodPost, shieldURL+"/sign", petitionForm,
		"Cookie", "rempart_pass="+passCookie, "User-Agent", "curl/8.5.0")
	wantStatus(t, resp, http.StatusForbidden)
	if got := be.received("POST /sign"); len(got) != 0 {
		t.Fatalf("copied pass signed: %v", got)
	}
}

func TestHostileInput(t *testing.T) {
	tester, be := startShield(t, "max_body 1KiB")
	c := tester.Client
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		header []string
		want   int
	}{
		{"verify by GET", http.MethodGet, "/.rempart/verify", "", nil, http.StatusMethodNotAllowed},
		{"verify garbage", http.MethodPost, "/.rempart/verify", "challenge=%%%&nonce=zz", []string{"Content-Type", "application/x-www-form-urlencoded"}, http.StatusBadRequest},
		{"verify truncated token", http.MethodPost, "/.rempart/verify", "challenge=AUMS&nonce=0000000000000000", []string{"Content-Type", "application/x-www-form-urlencoded"}, http.StatusBadRequest},
		{"verify oversized", http.MethodPost, "/.rempart/verify", "challenge=" + strings.Repeat("A", 20000), []string{"Content-Type", "application/x-www-form-urlencoded"}, http.StatusBadRequest},
		{"unknown shield path", http.MethodGet, "/.rempart/nothing.js", "", nil, http.StatusNotFound},
		{"oversized signature", http.MethodPost, "/sign", "name=" + strings.Repeat("a", 2000), []string{"Content-Type", "application/x-www-form-urlencoded"}, http.StatusRequestEntityTooLarge},
		{"forged pass cookie", http.MethodPost, "/sign", "name=a", []string{"Cookie", "rempart_pass=" + strings.Repeat("A", challenge.TokenLen)}, http.StatusForbidden},
		{"malformed pass cookie", http.MethodGet, "/", "", []string{"Cookie", "rempart_pass=%%%;;;"}, http.StatusForbidden},
		{"spoofed forwarding header", http.MethodGet, "/", "", []string{"X-Forwarded-For", "1.2.3.4"}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, shieldURL+tt.path, strings.NewReader(tt.body))
			for i := 0; i+1 < len(tt.header); i += 2 {
				req.Header.Set(tt.header[i], tt.header[i+1])
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			wantStatus(t, resp, tt.want)
		})
	}
	if got := be.received(""); len(got) != 0 {
		t.Fatalf("hostile requests reached the backend: %v", got)
	}

	// An open redirect is not on offer.
	_, page := do(t, c, http.MethodGet, shieldURL+"/", nil)
	proof, err := shieldtest.SolvePage([]byte(page))
	if err != nil {
		t.Fatal(err)
	}
	proof.Form.Set("return", "//evil.example/")
	resp, _ := do(t, c, http.MethodPost, shieldURL+proof.Action, proof.Form)
	wantStatus(t, resp, http.StatusSeeOther)
	if loc := resp.Header.Get("Location"); loc != "/" {
		t.Fatalf("redirected to %q", loc)
	}
}

func TestAssets(t *testing.T) {
	tester, _ := startShield(t, "")
	_, page := do(t, tester.Client, http.MethodGet, shieldURL+"/", nil, "Accept-Language", "en-GB,en;q=0.9")
	if !strings.Contains(page, `<html lang="en">`) || !strings.Contains(page, "Checking your browser") {
		t.Fatalf("English page not served for an English browser")
	}
	for _, m := range []string{"solver", "worker", "style"} {
		i := strings.Index(page, "/.rempart/"+m+".")
		if i < 0 {
			t.Fatalf("page does not reference the %s asset", m)
		}
		path := page[i : i+strings.IndexByte(page[i:], '"')]
		resp, body := do(t, tester.Client, http.MethodGet, shieldURL+path, nil)
		wantStatus(t, resp, http.StatusOK)
		if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Errorf("%s: Cache-Control %q", path, cc)
		}
		if len(body) == 0 {
			t.Errorf("%s: empty", path)
		}
	}
}

func TestNoScriptWait(t *testing.T) {
	tester, be := startShield(t, "noscript_wait 1s")
	c := tester.Client
	resp, page := do(t, c, http.MethodPost, shieldURL+"/sign", petitionForm)
	wantStatus(t, resp, http.StatusForbidden)
	m := regexp.MustCompile(`<noscript>.*<a class="button" href="(/\.rempart/wait\?[^"]+)">`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no way on for browsers without JavaScript in:\n%s", page)
	}
	waitURL := shieldURL + html.UnescapeString(m[1])
	// Coming back before the wait is over: the same wait goes on.
	resp, early := do(t, c, http.MethodGet, waitURL, nil)
	wantStatus(t, resp, http.StatusForbidden)
	waitQuery, _ := url.Parse(html.UnescapeString(m[1]))
	if !strings.Contains(early, "t="+waitQuery.Query().Get("t")) {
		t.Fatalf("coming back early did not keep the same wait:\n%s", early)
	}
	// The wait is whole seconds, never shorter than asked: at most 2s.
	time.Sleep(2100 * time.Millisecond)
	resp, _ = do(t, c, http.MethodGet, waitURL, nil)
	wantStatus(t, resp, http.StatusSeeOther)
	if loc := resp.Header.Get("Location"); loc != "/sign" {
		t.Fatalf("303 to %q, want /sign", loc)
	}
	// The browser comes back with a GET; the held POST is what arrives.
	resp, _ = do(t, c, http.MethodGet, shieldURL+"/sign", nil)
	wantStatus(t, resp, http.StatusOK)
	want := "POST /sign " + petitionForm.Encode()
	if got := be.received("POST /sign"); len(got) != 1 || got[0] != want {
		t.Fatalf("backend got %q, want [%q]", got, want)
	}
	// The wait challenge is single-use: used again, it is refused, and
	// the submission it names is said to be sent already.
	resp, _ = do(t, c, http.MethodGet, waitURL, nil)
	wantStatus(t, resp, http.StatusGone)
	if got := be.received("POST /sign"); len(got) != 1 {
		t.Fatalf("backend got %d signatures, want 1", len(got))
	}
}

func TestNoScriptWaitOffByDefault(t *testing.T) {
	tester, _ := startShield(t, "")
	resp, page := do(t, tester.Client, http.MethodGet, shieldURL+"/", nil)
	wantStatus(t, resp, http.StatusForbidden)
	if strings.Contains(page, "http-equiv") || !strings.Contains(page, "besoin de JavaScript") {
		t.Fatal("without noscript_wait the page must tell a browser without JavaScript to enable it, not refresh")
	}
	resp, _ = do(t, tester.Client, http.MethodGet, shieldURL+"/.rempart/wait?t=x", nil)
	wantStatus(t, resp, http.StatusNotFound)
}

func TestMultipartSubmissionHeld(t *testing.T) {
	tester, be := startShield(t, "")
	c := tester.Client
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("name", "Chloé")
	_ = mw.WriteField("email", "chloe@example.org")
	fw, _ := mw.CreateFormFile("attachment", "note.txt")
	_, _ = fw.Write([]byte("signed in good faith"))
	_ = mw.Close()
	original := body.String()
	req, _ := http.NewRequest(http.MethodPost, shieldURL+"/sign", strings.NewReader(original))
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	wantStatus(t, resp, http.StatusForbidden)
	resp = pass(t, c, string(page))
	wantStatus(t, resp, http.StatusTemporaryRedirect)
	proof, _ := shieldtest.SolvePage(page)
	resp, _ = do(t, c, http.MethodPost, shieldURL+"/sign", proof.Form)
	wantStatus(t, resp, http.StatusOK)
	if got := be.received("POST /sign"); len(got) != 1 || got[0] != "POST /sign "+original {
		t.Fatalf("backend got %q, want the original multipart body", got)
	}
}

func TestCopiedPassReplayedTwentyTimes(t *testing.T) {
	for _, credits := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d credits", credits), func(t *testing.T) {
			tester, be := startShield(t, fmt.Sprintf("credits %d", credits))
			_, page := do(t, tester.Client, http.MethodGet, shieldURL+"/", nil)
			resp := pass(t, tester.Client, page)
			wantStatus(t, resp, http.StatusSeeOther)
			var cookie string
			for _, c := range resp.Cookies() {
				if c.Name == "rempart_pass" {
					cookie = c.Value
				}
			}
			// The same browser identity (User-Agent, network), replayed by a
			// script: the pass buys its credits and no more.
			ua := "Go-http-client/1.1"
			for range 20 {
				do(t, http.DefaultClient, http.MethodPost, shieldURL+"/sign", petitionForm, "Cookie", "rempart_pass="+cookie, "User-Agent", ua)
			}
			if got := len(be.received("POST /sign")); got != credits {
				t.Fatalf("20 replays of a %d-credit pass got %d signatures through", credits, got)
			}
		})
	}
}

func TestGeneratedSecretSurvivesRestart(t *testing.T) {
	storage := t.TempDir()
	tester, _ := startShieldWith(t, storage, "")
	_, page := do(t, tester.Client, http.MethodGet, shieldURL+"/", nil)
	resp := pass(t, tester.Client, page)
	wantStatus(t, resp, http.StatusSeeOther)

	// A new Caddy config with the same storage: the pass still reads.
	again, _ := startShieldWith(t, storage, "")
	again.Client.Jar = tester.Client.Jar
	resp, _ = do(t, again.Client, http.MethodGet, shieldURL+"/", nil)
	wantStatus(t, resp, http.StatusOK)

	// Other storage, other secret: the pass is refused.
	other, _ := startShieldWith(t, t.TempDir(), "")
	other.Client.Jar = tester.Client.Jar
	resp, _ = do(t, other.Client, http.MethodGet, shieldURL+"/", nil)
	wantStatus(t, resp, http.StatusForbidden)
}
