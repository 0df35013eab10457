package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"
)

// passCookie is the name of the shield's pass cookie.
const passCookie = "rempart_pass"

// maxReplyBody bounds what the runner reads of any answer.
const maxReplyBody = 1 << 20

// newTransport returns the connection pool every simulated client shares:
// they all reach the shield through the same trusted proxy (127.0.0.1),
// whatever address they present in X-Forwarded-For.
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 1024
	return t
}

// visitor is one client of the shield: the address it presents, its
// User-Agent, and its cookies. It follows no redirect, so that every step
// of the protocol is seen.
type visitor struct {
	client *http.Client
	base   string
	ip     string
	ua     string
	// header is sent with every request (the attacker's moves tag theirs).
	header http.Header
	// observe, when set, sees every request's path and answer.
	observe func(path string, r reply, err error)
}

func newVisitor(transport http.RoundTripper, base, ip, ua string) *visitor {
	jar, _ := cookiejar.New(nil) // never fails without options
	return &visitor{
		client: &http.Client{
			Transport:     transport,
			Jar:           jar,
			Timeout:       30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		base: base,
		ip:   ip,
		ua:   ua,
	}
}

// forgetCookies drops every cookie, as a browser whose cookies are cleared.
func (v *visitor) forgetCookies() {
	v.client.Jar, _ = cookiejar.New(nil)
}

// reply is an answer as the runner keeps it.
type reply struct {
	status int
	header http.Header
	body   []byte
	took   time.Duration
}

// location returns where the answer redirects to.
func (r reply) location() string { return r.header.Get("Location") }

// signatureAccepted reports whether a POST /sign reached the petition: the
// demo answers a recorded signature with 303 to /?signed=1.
func (r reply) signatureAccepted() bool {
	return r.status == http.StatusSeeOther && strings.Contains(r.location(), "signed=1")
}

// do sends one request. cookie, when set, replaces the jar's cookies with
// exactly that Cookie header (a bot replaying a pass).
func (v *visitor) do(ctx context.Context, method, path, contentType string, body string, cookie string) (reply, error) {
	return v.doWith(ctx, method, path, contentType, body, cookie, nil)
}

// doWith is do with extra headers.
func (v *visitor) doWith(ctx context.Context, method, path, contentType string, body string, cookie string, extra http.Header) (reply, error) {
	r, err := v.send(ctx, method, path, contentType, body, cookie, extra)
	if v.observe != nil {
		v.observe(path, r, err)
	}
	return r, err
}

func (v *visitor) send(ctx context.Context, method, path, contentType string, body string, cookie string, extra http.Header) (reply, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, v.base+path, rd)
	if err != nil {
		return reply{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if v.ip != "" {
		req.Header.Set("X-Forwarded-For", v.ip)
	}
	req.Header.Set("User-Agent", v.ua)
	for _, h := range []http.Header{v.header, extra} {
		for name, values := range h {
			req.Header[name] = values
		}
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	client := v.client
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
		c := *v.client
		c.Jar = nil
		client = &c
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return reply{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyBody))
	if err != nil {
		return reply{}, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b, took: time.Since(start)}, nil
}

func (v *visitor) get(ctx context.Context, path string) (reply, error) {
	return v.do(ctx, http.MethodGet, path, "", "", "")
}

const formType = "application/x-www-form-urlencoded"

func (v *visitor) postForm(ctx context.Context, path string, form url.Values) (reply, error) {
	return v.do(ctx, http.MethodPost, path, formType, form.Encode(), "")
}

// signatureForm is what a signer types into the demo petition.
func signatureForm(name string) url.Values {
	return url.Values{"name": {name}, "email": {strings.ToLower(name) + "@example.org"}}
}

// passFrom returns the pass cookie an answer sets, as a Cookie header value.
func passFrom(r reply) (string, bool) {
	resp := http.Response{Header: r.header}
	for _, c := range resp.Cookies() {
		if c.Name == passCookie && c.Value != "" {
			return c.Name + "=" + c.Value, true
		}
	}
	return "", false
}

// rawHeader is one header line of a raw request, written as is.
type rawHeader struct{ name, value string }

// rawTimeout bounds one raw request, connection to answer.
const rawTimeout = 30 * time.Second

// rawRequest sends one request exactly as written, the request line and
// the headers byte for byte, on a connection of its own to addr (host:port,
// also its Host header), so that no client library cleans the path or the
// method on the way to Caddy. A body gets its Content-Length.
func rawRequest(ctx context.Context, addr, method, target string, headers []rawHeader, body string) (reply, error) {
	if strings.ContainsAny(method+target, "\r\n ") {
		return reply{}, fmt.Errorf("raw request %q %q: a space or line break in the request line", method, target)
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return reply{}, fmt.Errorf("%s %s: %w", method, target, err)
	}
	defer conn.Close()
	deadline := time.Now().Add(rawTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = conn.SetDeadline(deadline)

	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, target, addr)
	for _, h := range headers {
		if strings.ContainsAny(h.name+h.value, "\r\n") {
			return reply{}, fmt.Errorf("raw request: line break in header %q", h.name)
		}
		fmt.Fprintf(&b, "%s: %s\r\n", h.name, h.value)
	}
	if body != "" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("Connection: close\r\n\r\n")
	b.WriteString(body)

	start := time.Now()
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return reply{}, fmt.Errorf("%s %s: %w", method, target, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return reply{}, fmt.Errorf("%s %s: reading the answer: %w", method, target, err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyBody))
	if err != nil {
		return reply{}, fmt.Errorf("%s %s: reading the answer: %w", method, target, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: rb, took: time.Since(start)}, nil
}
