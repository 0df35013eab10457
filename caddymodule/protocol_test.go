package caddymodule_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/rempart/rempart/internal/shieldtest"
	"github.com/rempart/rempart/store/redisstore"
	"github.com/rempart/rempart/store/redisstore/redistest"
)

// protoUA is the User-Agent of every request of these tests: a pass is
// bound to it, and Go's clients name their protocol version in theirs.
const protoUA = "protocol-test/1"

// arrival is one request as the petition received it.
type arrival struct {
	method, uri, contentType, body string
}

// protoBackend is the petition behind the shield; it records each
// request's method, target, Content-Type and body.
type protoBackend struct {
	mu   sync.Mutex
	got  []arrival
	hits atomic.Int64
}

func (b *protoBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	b.mu.Lock()
	b.got = append(b.got, arrival{r.Method, r.URL.RequestURI(), r.Header.Get("Content-Type"), string(body)})
	b.mu.Unlock()
	if r.Method != http.MethodGet {
		b.hits.Add(1)
	}
	fmt.Fprintf(w, "petition page %s", r.URL.Path)
}

func (b *protoBackend) arrivals() []arrival {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]arrival(nil), b.got...)
}

// startProtocolShield runs a real Caddy speaking HTTP/1.1 and cleartext
// HTTP/2 (h2c) on 9180, rempart in front of a fresh backend.
func startProtocolShield(t *testing.T, options string) *protoBackend {
	t.Helper()
	return startProtocolShieldWith(t, "", options)
}

// startProtocolShieldWith is startProtocolShield with global options.
func startProtocolShieldWith(t *testing.T, global, options string) *protoBackend {
	t.Helper()
	be := &protoBackend{}
	srv := httptest.NewServer(be)
	t.Cleanup(srv.Close)
	initTestCaddy(t, testCaddyfile(t.TempDir(), `servers {
			protocols h1 h2c
		}
		`+global, fmt.Sprintf(`
	http://localhost:9180 {
		rempart {
			secret integration-test-secret-0123456789
			difficulty 8
			site %s
			%s
		}
		reverse_proxy %s
	}`, testSite(t), options, strings.TrimPrefix(srv.URL, "http://"))))
	return be
}

// testSite names the shield's state after the test: a site's state outlives
// a config that a test's next config replaces, so tests sharing a name
// would share budgets (20 signatures an hour from 127.0.0.1 under the
// default policy) and fail or pass by the order they run in. Each run of
// a test (-count) has a name of its own, kept by the configs it loads.
func testSite(t *testing.T) string {
	testSites.Lock()
	defer testSites.Unlock()
	if name, ok := testSites.names[t]; ok {
		return name
	}
	if testSites.names == nil {
		testSites.names, testSites.runs = map[*testing.T]string{}, map[string]int{}
	}
	testSites.runs[t.Name()]++
	sum := sha256.Sum256([]byte(t.Name()))
	name := fmt.Sprintf("test-%s-%d", hex.EncodeToString(sum[:6]), testSites.runs[t.Name()])
	testSites.names[t] = name
	return name
}

// testSites holds the names testSite gave: one per test run, and how many
// runs each test's name has had.
var testSites struct {
	sync.Mutex
	names map[*testing.T]string
	runs  map[string]int
}

// h2cClient speaks HTTP/2 without TLS (prior knowledge) over one
// connection, follows no redirect, and counts the connections it opened.
func h2cClient(dials *atomic.Int64) *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &p, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dials != nil {
			dials.Add(1)
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}, TLSClientConfig: &tls.Config{}}
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// h1Client speaks HTTP/1.1, a new connection per request.
func h1Client() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// send makes one request with the test's User-Agent and the given cookies;
// chunked hides the body's length (HTTP/1.1 chunked, HTTP/2 without
// content-length).
func send(t *testing.T, c *http.Client, method, target, contentType, body string, chunked bool, cookies ...*http.Cookie) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
		if chunked {
			rd = io.MultiReader(rd) // no known length
		}
	}
	req, err := http.NewRequest(method, shieldURL+target, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", protoUA)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for _, ck := range cookies {
		req.AddCookie(ck)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func passCookie(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == "rempart_pass" {
			return c
		}
	}
	return nil
}

// buyPass solves a challenge for GET / and returns the pass cookie.
func buyPass(t *testing.T, c *http.Client) *http.Cookie {
	t.Helper()
	pass := buyPassOrNil(t, c)
	if pass == nil {
		t.Fatal("proof answered without a pass")
	}
	return pass
}

// holdAndSolve posts form to /sign without a pass, solves the challenge
// that holds it and posts the proof, which must answer with the release
// (307): it returns the proof, whose form the browser re-posts, and the
// pass it bought.
func holdAndSolve(t *testing.T, c *http.Client, form string) (shieldtest.Proof, *http.Cookie) {
	t.Helper()
	resp, page := send(t, c, http.MethodPost, "/sign", "application/x-www-form-urlencoded", form, false)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("unsolved signature answered %d", resp.StatusCode)
	}
	proof, err := shieldtest.SolvePage([]byte(page))
	if err != nil {
		t.Fatal(err)
	}
	resp, _ = send(t, c, http.MethodPost, proof.Action, "application/x-www-form-urlencoded", proof.Form.Encode(), false)
	if resp.StatusCode != http.StatusTemporaryRedirect {
		t.Fatalf("proof answered %d", resp.StatusCode)
	}
	return proof, passCookie(resp)
}

// buyPassOrNil is buyPass, nil when the proof is refused.
func buyPassOrNil(t *testing.T, c *http.Client) *http.Cookie {
	t.Helper()
	_, page := send(t, c, http.MethodGet, "/", "", "", false)
	proof, err := shieldtest.SolvePage([]byte(page))
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := send(t, c, http.MethodPost, proof.Action, "application/x-www-form-urlencoded", proof.Form.Encode(), false)
	if resp.StatusCode != http.StatusSeeOther {
		return nil
	}
	return passCookie(resp)
}

// rawExchange writes raw to a new HTTP/1.1 connection and reads n answers.
func rawExchange(t *testing.T, raw string, n int) []*http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(shieldURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	var out []*http.Response
	for range n {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			break
		}
		_, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		out = append(out, resp)
	}
	return out
}

// A WordPress route in a short posted form is a signature however the
// body is framed: with a Content-Length, chunked (with or without chunk
// extensions), or on an HTTP/2 stream that gives no length.
func TestFormRouteInEveryFraming(t *testing.T) {
	be := startProtocolShield(t, "protect POST /wp-json/petition/v1/sign")
	var pass *http.Cookie
	const form = "rest_route=%2Fpetition%2Fv1%2Fsign&name=Mallory&email=m%40example.org"
	raw := func(body string) string {
		return "POST /?p=1 HTTP/1.1\r\nHost: localhost:9180\r\nUser-Agent: " + protoUA + "\r\nCookie: rempart_pass=" + pass.Value +
			"\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n" + body
	}
	for _, tc := range []struct {
		name string
		send func() int
	}{
		{"HTTP/1.1 Content-Length", func() int {
			resp, _ := send(t, h1Client(), http.MethodPost, "/?p=1", "application/x-www-form-urlencoded", form, false, pass)
			return resp.StatusCode
		}},
		{"HTTP/1.1 chunked", func() int {
			resp, _ := send(t, h1Client(), http.MethodPost, "/?p=1", "application/x-www-form-urlencoded", form, true, pass)
			return resp.StatusCode
		}},
		{"HTTP/1.1 chunked in pieces with extensions", func() int {
			body := fmt.Sprintf("%x;ext=1\r\n%s\r\n%x;a=\"b\"\r\n%s\r\n0\r\n\r\n", 11, form[:11], len(form)-11, form[11:])
			resps := rawExchange(t, raw(body), 1)
			if len(resps) == 0 {
				return 0
			}
			return resps[0].StatusCode
		}},
		{"HTTP/2 content-length", func() int {
			resp, _ := send(t, h2cClient(nil), http.MethodPost, "/?p=1", "application/x-www-form-urlencoded", form, false, pass)
			return resp.StatusCode
		}},
		{"HTTP/2 no content-length", func() int {
			resp, _ := send(t, h2cClient(nil), http.MethodPost, "/?p=1", "application/x-www-form-urlencoded", form, true, pass)
			return resp.StatusCode
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// One pass, one credit: at most one of the tries signs.
			pass = buyPass(t, h1Client())
			before := be.hits.Load()
			tried, accepted := 5, 0
			for range tried {
				if status := tc.send(); status == http.StatusOK {
					accepted++
				}
			}
			forwarded := be.hits.Load() - before
			t.Logf("%s, one 1-credit pass: tried %d / accepted %d / forwarded %d / expected at most 1", tc.name, tried, accepted, forwarded)
			if accepted > 1 || forwarded > 1 {
				t.Errorf("a route in a posted form framed as %s signed without a proof each", tc.name)
			}
		})
	}
}

// One pass spent by many signatures at once, on the streams of one HTTP/2
// connection or on as many HTTP/1.1 connections, with the memory store and
// with Redis: no more go through than the pass has credits.
func TestOnePassSpentConcurrently(t *testing.T) {
	const tries = 40
	for _, st := range []string{"memory", "redis"} {
		global := ""
		if st == "redis" {
			// One Redis for every Redis case: the site's state outlives
			// Caddy's reloads, and a fresh Redis under it would look like
			// one that lost its records.
			redistest.Start(t, protocolRedisPort)
			global = fmt.Sprintf("rempart {\nstore redis 127.0.0.1:%d\n}", protocolRedisPort)
		}
		for i, credits := range []int{1, 3, 1, 3} {
			proto := "h2c one connection"
			if i >= 2 {
				proto = "h1 many connections"
			}
			t.Run(fmt.Sprintf("%s %d credits %s", st, credits, proto), func(t *testing.T) {
				// One site for every case of a store: only the first waits
				// out a new site's LossSkew in Redis.
				be := startProtocolShieldWith(t, global, fmt.Sprintf("site one-pass-%s\nprotect POST /sign\ncredits %d", st, credits))
				if st == "redis" && i == 0 {
					// A site new to Redis refuses tokens issued in its first
					// LossSkew (see redisstore.LossSkew).
					time.Sleep(redisstore.LossSkew + time.Second)
				}
				pass := buyPass(t, h1Client())
				var dials atomic.Int64
				c := h1Client()
				if i < 2 {
					c = h2cClient(&dials)
					send(t, c, http.MethodGet, "/warm", "", "", false, pass) // open the connection first
				}
				var accepted atomic.Int64
				var start, done sync.WaitGroup
				start.Add(1)
				for range tries {
					done.Go(func() {
						start.Wait()
						resp, _ := send(t, c, http.MethodPost, "/sign", "application/x-www-form-urlencoded", petitionForm.Encode(), false, pass)
						if resp.StatusCode == http.StatusOK {
							accepted.Add(1)
						}
					})
				}
				start.Done()
				done.Wait()
				t.Logf("%s %s, %d-credit pass: tried %d / accepted %d / forwarded %d / expected %d (h2 connections %d)",
					st, proto, credits, tries, accepted.Load(), be.hits.Load(), credits, dials.Load())
				if accepted.Load() != int64(credits) || be.hits.Load() != int64(credits) {
					t.Errorf("one pass bought %d signatures, has %d credits", be.hits.Load(), credits)
				}
			})
		}
	}
}

// protocolRedisPort is the redis-server of TestOnePassSpentConcurrently.
const protocolRedisPort = 6450

// One proof's release re-posted many times at once, on one HTTP/2
// connection: the held submission reaches the petition once.
func TestHeldReleaseRacedOnStreams(t *testing.T) {
	be := startProtocolShield(t, "protect POST /sign")
	c := h2cClient(nil)
	proof, pass := holdAndSolve(t, c, petitionForm.Encode())
	const tries = 40
	var accepted atomic.Int64
	var start, done sync.WaitGroup
	start.Add(1)
	for range tries {
		done.Go(func() {
			start.Wait()
			resp, _ := send(t, c, http.MethodPost, "/sign", "application/x-www-form-urlencoded", proof.Form.Encode(), false, pass)
			if resp.StatusCode == http.StatusOK {
				accepted.Add(1)
			}
		})
	}
	start.Done()
	done.Wait()
	t.Logf("one release re-posted on %d streams: accepted %d / forwarded %d / expected 1", tries, accepted.Load(), be.hits.Load())
	if accepted.Load() != 1 || be.hits.Load() != 1 {
		t.Errorf("one held submission released %d times", be.hits.Load())
	}
}

// A held submission reaches the petition as it was first sent (method,
// path, query, Content-Type, body), however both the submission and its
// release were framed; a release re-posted elsewhere, or with another
// method, sends nothing anywhere else.
func TestHeldReleaseIsTheOriginal(t *testing.T) {
	be := startProtocolShield(t, "protect POST /sign\nprotect PUT /api/sign")
	framings := []struct {
		name    string
		client  func() *http.Client
		chunked bool
	}{
		{"h1 content-length", h1Client, false},
		{"h1 chunked", h1Client, true},
		{"h2c content-length", func() *http.Client { return h2cClient(nil) }, false},
		{"h2c no content-length", func() *http.Client { return h2cClient(nil) }, true},
	}
	subs := []arrival{
		{http.MethodPost, "/sign?lang=fr&next=%2Fthanks", "application/x-www-form-urlencoded; charset=UTF-8", "name=Zo%C3%A9&email=z%40example.org"},
		{http.MethodPut, "/api/sign?v=2", "application/json", `{"name":"Zoé","email":"z@example.org"}`},
		// Longer than the short form the shield reads for routes: put back
		// whole after that read.
		{http.MethodPost, "/sign?long=1", "application/x-www-form-urlencoded", "name=Long&comment=" + strings.Repeat("x", 20<<10)},
	}
	for _, f := range framings {
		for _, sub := range subs {
			t.Run(f.name+" "+sub.method+" "+sub.uri, func(t *testing.T) {
				c := f.client()
				before := len(be.arrivals())
				resp, page := send(t, c, sub.method, sub.uri, sub.contentType, sub.body, f.chunked)
				if resp.StatusCode != http.StatusForbidden {
					t.Fatalf("unsolved signature answered %d", resp.StatusCode)
				}
				proof, err := shieldtest.SolvePage([]byte(page))
				if err != nil {
					t.Fatal(err)
				}
				resp, _ = send(t, c, http.MethodPost, proof.Action, "application/x-www-form-urlencoded", proof.Form.Encode(), f.chunked)
				if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != sub.uri {
					t.Fatalf("proof answered %d to %q", resp.StatusCode, resp.Header.Get("Location"))
				}
				pass := passCookie(resp)
				var replay *http.Cookie
				for _, ck := range resp.Cookies() {
					if ck.Name != "rempart_pass" {
						replay = ck
					}
				}
				// The attacker re-posts the release elsewhere, or with
				// another method, before the browser's own re-post.
				for _, move := range []struct{ method, target string }{
					{http.MethodPost, "/other"}, {http.MethodPost, "/sign"}, {http.MethodPost, "/SIGN?lang=fr&next=%2Fthanks"},
					{http.MethodPost, "/sign?lang=en&next=%2Fthanks"}, {http.MethodPost, "/api/sign?v=2"},
					{http.MethodDelete, sub.uri}, {http.MethodPatch, sub.uri}, {http.MethodPost, "/other?" + proof.Form.Encode()},
				} {
					if move.method == sub.method && move.target == sub.uri {
						continue
					}
					resp, _ := send(t, c, move.method, move.target, "application/x-www-form-urlencoded", proof.Form.Encode(), f.chunked, pass, replay)
					if resp.StatusCode == http.StatusOK {
						t.Logf("%s %s released", move.method, move.target)
					}
				}
				send(t, c, sub.method, sub.uri, "application/x-www-form-urlencoded", proof.Form.Encode(), f.chunked, pass, replay)
				got := be.arrivals()[before:]
				t.Logf("%s %s %s: forwarded %d, want exactly the original once", f.name, sub.method, sub.uri, len(got))
				if len(got) != 1 || got[0] != sub {
					t.Errorf("petition got %.200q, want [%.200q]", got, sub)
				}
			})
		}
	}
}

// HTTP/1.1 spellings on one connection: a signature held after
// Expect: 100-continue is released whole; a held signature pipelined with
// other requests holds its own body only; HTTP/1.0 without Host and
// absolute-form targets sign nothing without a proof.
func TestHTTP1Spellings(t *testing.T) {
	be := startProtocolShield(t, "protect POST /sign")
	const form = "name=Ana%C3%AFs&email=a%40example.org"
	post := func(target, extra, body string) string {
		return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: localhost:9180\r\nUser-Agent: %s\r\nContent-Type: application/x-www-form-urlencoded\r\n%sContent-Length: %d\r\n\r\n%s",
			target, protoUA, extra, len(body), body)
	}
	release := func(t *testing.T, page string, target string) []arrival {
		t.Helper()
		before := len(be.arrivals())
		proof, err := shieldtest.SolvePage([]byte(page))
		if err != nil {
			t.Fatal(err)
		}
		resp, _ := send(t, h1Client(), http.MethodPost, proof.Action, "application/x-www-form-urlencoded", proof.Form.Encode(), false)
		if resp.StatusCode != http.StatusTemporaryRedirect {
			t.Fatalf("proof answered %d", resp.StatusCode)
		}
		send(t, h1Client(), http.MethodPost, target, "application/x-www-form-urlencoded", proof.Form.Encode(), false, passCookie(resp))
		return be.arrivals()[before:]
	}
	want := arrival{http.MethodPost, "/sign", "application/x-www-form-urlencoded", form}

	t.Run("expect 100-continue", func(t *testing.T) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(shieldURL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		head := post("/sign", "Expect: 100-continue\r\n", form)
		head = head[:len(head)-len(form)]
		io.WriteString(conn, head)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusContinue {
			io.WriteString(conn, form)
			resp, err = http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
		}
		page, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(page), `name="submission"`) {
			t.Fatalf("held signature answered %d", resp.StatusCode)
		}
		got := release(t, string(page), "/sign")
		t.Logf("held after 100-continue: forwarded %q, want [%q]", got, want)
		if len(got) != 1 || got[0] != want {
			t.Errorf("petition got %q", got)
		}
	})

	t.Run("pipelined", func(t *testing.T) {
		before := be.hits.Load()
		resps := rawExchange(t, post("/sign", "", form)+
			post("/sign", "", "name=Second&email=s%40example.org")+
			"GET /x HTTP/1.1\r\nHost: localhost:9180\r\nUser-Agent: "+protoUA+"\r\n\r\n"+
			post("/sign", "", "name=Third&email=t%40example.org"), 4)
		if len(resps) != 4 {
			t.Fatalf("%d answers to 4 pipelined requests", len(resps))
		}
		for i, r := range resps {
			if r.StatusCode != http.StatusForbidden {
				t.Errorf("pipelined request %d answered %d without a pass", i, r.StatusCode)
			}
		}
		if n := be.hits.Load() - before; n != 0 {
			t.Errorf("pipelined signatures without a proof: forwarded %d / expected 0", n)
		}
	})

	t.Run("pipelined held then released", func(t *testing.T) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(shieldURL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		io.WriteString(conn, post("/sign", "", form)+post("/sign", "", "name=Other&email=o%40example.org"))
		br := bufio.NewReader(conn)
		var pages []string
		for range 2 {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			pages = append(pages, string(b))
		}
		got := release(t, pages[0], "/sign")
		t.Logf("first of two pipelined, released: forwarded %q, want [%q]", got, want)
		if len(got) != 1 || got[0] != want {
			t.Errorf("petition got %q", got)
		}
	})

	for _, raw := range []string{
		"POST /sign HTTP/1.0\r\nUser-Agent: " + protoUA + "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 6\r\n\r\nname=x",
		"POST http://localhost:9180/sign HTTP/1.1\r\nHost: localhost:9180\r\nUser-Agent: " + protoUA + "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 6\r\n\r\nname=x",
		"POST HTTP://LOCALHOST:9180/sign HTTP/1.1\r\nHost: localhost:9180\r\nUser-Agent: " + protoUA + "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 6\r\n\r\nname=x",
		"POST HTTP://localhost:9180/sign HTTP/1.1\r\nHost: other.example\r\nUser-Agent: " + protoUA + "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 6\r\n\r\nname=x",
		"POST /sign HTTP/1.1\r\nHost: localhost:9180\r\nUser-Agent: " + protoUA + "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nname=x\r\n0\r\n\r\n",
	} {
		line, _, _ := strings.Cut(raw, "\r\n")
		t.Run(line, func(t *testing.T) {
			before := be.hits.Load()
			resps := rawExchange(t, raw, 1)
			status := 0
			if len(resps) == 1 {
				status = resps[0].StatusCode
			}
			forwarded := be.hits.Load() - before
			t.Logf("%q without a pass: answered %d, forwarded %d / expected 0", line, status, forwarded)
			if forwarded != 0 {
				t.Errorf("%q signed without a proof", line)
			}
		})
	}
}

// h2Raw sends one request on a fresh h2c connection, written frame by
// frame with the given header fields (pseudo-headers first, as given), the
// body in one DATA frame, and returns the answer's status (0: the stream
// or the connection was refused).
func h2Raw(t *testing.T, fields [][2]string, body string) int {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(shieldURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	var block strings.Builder
	enc := hpack.NewEncoder(&block)
	for _, f := range fields {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte(block.String()),
		EndStream: body == "", EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	if body != "" {
		if err := fr.WriteData(1, true, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return 0
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = fr.WriteSettingsAck()
			}
		case *http2.MetaHeadersFrame:
			if f.StreamID == 1 {
				status := f.PseudoValue("status")
				if status == "100" {
					continue
				}
				var n int
				fmt.Sscan(status, &n)
				return n
			}
		case *http2.RSTStreamFrame, *http2.GoAwayFrame:
			return 0
		}
	}
}

// HTTP/2 spellings of a signature: pseudo-headers written as a client
// chooses (an absolute-form :path, a :path naming another authority, a
// lower-case :method, cookie crumbs) sign nothing without a proof, and
// a pass spent on one stream is spent for the others.
func TestHTTP2Spellings(t *testing.T) {
	be := startProtocolShield(t, "protect POST /sign")
	const form = "name=Eve&email=e%40example.org"
	req := func(method, authority, path string, extra ...[2]string) [][2]string {
		f := [][2]string{{":method", method}, {":scheme", "http"}, {":authority", authority}, {":path", path},
			{"user-agent", protoUA}, {"content-type", "application/x-www-form-urlencoded"}}
		return append(f, extra...)
	}
	for _, tc := range []struct {
		name   string
		fields [][2]string
	}{
		{"plain", req("POST", "localhost:9180", "/sign")},
		{"absolute :path", req("POST", "localhost:9180", "http://localhost:9180/sign")},
		{"absolute :path upper-case scheme", req("POST", "localhost:9180", "HTTP://localhost:9180/sign")},
		{"absolute :path another authority", req("POST", "localhost:9180", "http://other.example/sign")},
		{"lower-case :method", req("post", "localhost:9180", "/sign")},
		{"host field against :authority", req("POST", "localhost:9180", "/sign", [2]string{"host", "other.example"})},
		{":path with query and fragment-like", req("POST", "localhost:9180", "/sign?x=1")},
		{"content-length given", req("POST", "localhost:9180", "/sign", [2]string{"content-length", fmt.Sprint(len(form))})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := be.hits.Load()
			status := h2Raw(t, tc.fields, form)
			forwarded := be.hits.Load() - before
			t.Logf("h2 %s without a pass: answered %d, forwarded %d / expected 0", tc.name, status, forwarded)
			if forwarded != 0 || status == http.StatusOK {
				t.Errorf("h2 %s signed without a proof", tc.name)
			}
		})
	}

	t.Run("cookie crumbs", func(t *testing.T) {
		pass := buyPass(t, h1Client())
		before := be.hits.Load()
		accepted := 0
		for range 5 {
			if h2Raw(t, req("POST", "localhost:9180", "/sign", [2]string{"cookie", "a=1"},
				[2]string{"cookie", "rempart_pass=" + pass.Value}, [2]string{"cookie", "b=2"}), form) == http.StatusOK {
				accepted++
			}
		}
		forwarded := be.hits.Load() - before
		t.Logf("h2 pass in a cookie crumb, 1 credit: tried 5 / accepted %d / forwarded %d / expected 1", accepted, forwarded)
		if accepted != 1 || forwarded != 1 {
			t.Errorf("a 1-credit pass in a cookie crumb bought %d signatures", forwarded)
		}
	})
}

// A form the shield reads for its route (up to 8 KiB, longer ones in
// part) goes on to the petition whole, whatever its framing.
func TestReadFormGoesOnWhole(t *testing.T) {
	be := startProtocolShield(t, "protect POST /sign")
	pass := buyPass(t, h1Client())
	for _, body := range []string{"name=Short&x=1", "name=Long&comment=" + strings.Repeat("y", 20<<10)} {
		for _, f := range []struct {
			name    string
			c       *http.Client
			chunked bool
		}{{"h1", h1Client(), false}, {"h1 chunked", h1Client(), true}, {"h2c", h2cClient(nil), false}, {"h2c no length", h2cClient(nil), true}} {
			before := len(be.arrivals())
			resp, _ := send(t, f.c, http.MethodPost, "/comment", "application/x-www-form-urlencoded", body, f.chunked, pass)
			got := be.arrivals()[before:]
			want := arrival{http.MethodPost, "/comment", "application/x-www-form-urlencoded", body}
			if resp.StatusCode != http.StatusOK || len(got) != 1 || got[0] != want {
				t.Errorf("%s, %d bytes: answered %d, petition got %.100q", f.name, len(body), resp.StatusCode, got)
			}
		}
	}
}

// A proof's pass spent at once by its held submission's release and by
// new signatures on other streams of the same connection: no more go
// through than its credits, and a release that lost the race keeps its
// submission held.
func TestReleaseRacesNewSignatures(t *testing.T) {
	for _, credits := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d credits", credits), func(t *testing.T) {
			be := startProtocolShield(t, fmt.Sprintf("protect POST /sign\ncredits %d", credits))
			c := h2cClient(nil)
			proof, pass := holdAndSolve(t, c, "name=Held&email=h%40example.org")
			const tries = 20
			var accepted atomic.Int64
			var start, done sync.WaitGroup
			start.Add(1)
			for i := range 2 * tries {
				done.Go(func() {
					start.Wait()
					body := "name=New&email=n%40example.org"
					if i%2 == 0 {
						body = proof.Form.Encode() // the release
					}
					resp, _ := send(t, c, http.MethodPost, "/sign", "application/x-www-form-urlencoded", body, false, pass)
					if resp.StatusCode == http.StatusOK {
						accepted.Add(1)
					}
				})
			}
			start.Done()
			done.Wait()
			held := 0
			for _, a := range be.arrivals() {
				if strings.HasPrefix(a.body, "name=Held") {
					held++
				}
			}
			t.Logf("%d-credit pass, %d releases and %d new signatures at once: accepted %d / forwarded %d (held one %d) / expected %d",
				credits, tries, tries, accepted.Load(), be.hits.Load(), held, credits)
			if accepted.Load() != int64(credits) || be.hits.Load() != int64(credits) || held > 1 {
				t.Errorf("one pass bought %d signatures (the held one %d times), has %d credits", be.hits.Load(), held, credits)
			}
			if held == 0 {
				// Lost the race: still held, challenged again for it.
				resp, page := send(t, c, http.MethodPost, "/sign", "application/x-www-form-urlencoded", proof.Form.Encode(), false, pass)
				if resp.StatusCode != http.StatusForbidden || !strings.Contains(page, `name="submission"`) {
					t.Errorf("a release that lost the race answered %d, not a challenge for its held submission", resp.StatusCode)
				}
			}
		})
	}
}
