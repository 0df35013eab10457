package caddymodule_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/rempart/rempart/internal/shieldtest"
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
	be := &protoBackend{}
	srv := httptest.NewServer(be)
	t.Cleanup(srv.Close)
	tester := caddytest.NewTester(t)
	tester.InitServer(fmt.Sprintf(`
	{
		admin localhost:2999
		http_port 9180
		https_port 9543
		grace_period 1ns
		auto_https off
		storage file_system %s
		servers {
			protocols h1 h2c
		}
	}
	http://localhost:9180 {
		rempart {
			secret integration-test-secret-0123456789
			difficulty 8
			%s
		}
		reverse_proxy %s
	}`, t.TempDir(), options, strings.TrimPrefix(srv.URL, "http://")), "caddyfile")
	return be
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
	_, page := send(t, c, http.MethodGet, "/", "", "", false)
	proof, err := shieldtest.SolvePage([]byte(page))
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := send(t, c, http.MethodPost, proof.Action, "application/x-www-form-urlencoded", proof.Form.Encode(), false)
	if resp.StatusCode != http.StatusSeeOther || passCookie(resp) == nil {
		t.Fatalf("proof answered %d without a pass", resp.StatusCode)
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
