package shield

import (
	"bufio"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rempart/rempart/internal/fuzzguard"
)

// FuzzServe throws arbitrary request lines, cookies, origins and claimed
// methods (method-override values, separated by commas) at the shield. Whatever the spelling, nothing reaches the backend without a
// proof, and nothing panics or hangs.
func FuzzServe(f *testing.F) {
	for _, seed := range []struct{ line, cookie, origin, override string }{
		{"POST /sign HTTP/1.1", "", "", ""},
		{"POST /%2Fsign HTTP/1.1", "rempart_pass=AAAA", "http://petition.example", ""},
		{"post //SIGN/ HTTP/1.1", "rempart_replay=x", "null", ""},
		{"GET /.rempart/verify HTTP/1.1", "", "", ""},
		{"POST /.rempart/verify HTTP/1.1", "", "", ""},
		{"GET /.rempart/wait?t=x HTTP/1.1", "", "", ""},
		{"PUT /sign;a=b/..%2f HTTP/1.1", "rempart_pass=" + strings.Repeat("A", 92), "https://evil.example", ""},
		{"GET /SIGN HTTP/1.1", "", "", "post"},
		{"GET /petitions/1/sign HTTP/1.1", "", "", "(,GET,HEAD,OPTIONS,TRACE,get,PUT"},
	} {
		f.Add(seed.line, seed.cookie, seed.origin, seed.override, "name=x")
	}
	h := newHarness(f, setup{protect: []string{"POST /sign", "PUT /petitions/*/sign"}})
	b := h.browser("198.51.100.7", 64496, "")
	f.Fuzz(func(t *testing.T, line, cookie, origin, override, body string) {
		raw := line + "\r\nHost: petition.example\r\nContent-Type: application/x-www-form-urlencoded\r\n"
		if cookie != "" {
			raw += "Cookie: " + cookie + "\r\n"
		}
		if origin != "" {
			raw += "Origin: " + origin + "\r\n"
		}
		if override != "" {
			for i, v := range strings.Split(override, ",") {
				raw += methodOverrideHeaders[i%len(methodOverrideHeaders)] + ": " + v + "\r\n"
			}
		}
		raw += "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return // not HTTP: Caddy never hands it to the shield
		}
		before := h.forwardedCount()
		fuzzguard.Within(t, 2*time.Second, func() {
			if err := h.shield.Serve(httptest.NewRecorder(), r, b.id, h.backend); err != nil {
				var se *StatusError
				if !errors.As(err, &se) {
					t.Errorf("%q: %v", line, err)
				}
			}
		})
		if h.forwardedCount() != before {
			t.Fatalf("%q with cookie %q reached the backend without a proof", line, cookie)
		}
	})
}

// FuzzCookie checks the shield's cookie reader against net/http's: where
// net/http reads exactly one cookie of the name, both read the same value;
// and a value never runs into the next cookie.
func FuzzCookie(f *testing.F) {
	for _, seed := range []string{
		"rempart_pass=abc", "a=1; rempart_pass=\"abc\"; b=2", "rempart_pass", "rempart_pass=; x=y",
		" rempart_pass = v ;", "rempart_passx=1; rempart_pass=2", "=;;=;", "rempart_pass=a=b",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		fuzzguard.WithinInput(t, fuzzguard.DefaultLimit, []byte(header), func() {
			r := &http.Request{Header: http.Header{"Cookie": {header}}}
			got, ok := cookie(r, passCookie)
			if ok && strings.Contains(got, ";") {
				t.Fatalf("cookie %q read as %q, into the next one", header, got)
			}
			named := 0
			for _, c := range r.Cookies() {
				if c.Name == passCookie {
					named++
				}
			}
			if named != 1 || strings.Count(header, passCookie) != 1 {
				return
			}
			want, _ := r.Cookie(passCookie)
			if want.Value == "" {
				return // a bare name is no token either way
			}
			if !ok || got != want.Value {
				t.Fatalf("cookie %q: read %q (%v), net/http reads %q", header, got, ok, want.Value)
			}
		})
	})
}
