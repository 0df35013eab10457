package main

import (
	"context"
	"fmt"
	"io"
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
	r, err := v.send(ctx, method, path, contentType, body, cookie)
	if v.observe != nil {
		v.observe(path, r, err)
	}
	return r, err
}

func (v *visitor) send(ctx context.Context, method, path, contentType string, body string, cookie string) (reply, error) {
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
