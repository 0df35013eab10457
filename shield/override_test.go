package shield

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/rempart/rempart/policies"
)

// overrideRequest is a GET of path carrying values, one X-HTTP-Method
// header each, as net/http's server reads it.
func overrideRequest(t testing.TB, ua, path string, values []string) (*http.Request, int) {
	t.Helper()
	var raw strings.Builder
	raw.WriteString("GET " + path + " HTTP/1.1\r\nHost: petition.example\r\nUser-Agent: " + ua + "\r\n")
	for _, v := range values {
		raw.WriteString("X-HTTP-Method: " + v + "\r\n")
	}
	raw.WriteString("\r\n")
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw.String())))
	if err != nil {
		t.Fatal(err)
	}
	return r, raw.Len()
}

// Method-override values cost work for the few a client may claim, not for
// each of the tens of thousands one request can carry: the path is
// canonicalized once, and past maxOverrideValues distinct values the
// request is taken for the worst case. Measured in allocations, not time,
// so that the test never depends on the machine's speed: before the fix,
// 1,000 values on this path cost tens of thousands of allocations.
func TestMethodOverrideWorkIsBounded(t *testing.T) {
	h := newHarness(t, setup{protect: []string{"POST /sign"}})
	b := h.browser("198.51.100.7", 64496, "")
	path := "/" + strings.Repeat("A/", 4000) + "x" // 8 KiB, upper case: not canonical
	distinct := make([]string, 1000)
	for i := range distinct {
		distinct[i] = fmt.Sprintf("M%d", i)
	}
	cases := []struct {
		name   string
		values []string
	}{
		{"none", nil},
		{"1,000 unreadable", slicesRepeat("(", 1000)},
		{"1,000 equal methods", slicesRepeat("DELETE", 1000)},
		{"1,000 distinct methods", distinct},
		{"1,000 distinct unreadable", prefixed("(", distinct)},
	}
	// The whole request may allocate this much more than one without
	// override values: a few canonical methods and their errors.
	const bound = 32
	var base float64
	for i, c := range cases {
		r, size := overrideRequest(t, b.ua, path, c.values)
		serve := func() {
			req := *r
			w := httptest.NewRecorder()
			if err := h.shield.Serve(w, &req, b.id, h.backend); err != nil {
				t.Fatal(err)
			}
			if w.Code != StatusChallenge {
				t.Fatalf("%s: %d, want a challenge", c.name, w.Code)
			}
		}
		allocs := testing.AllocsPerRun(20, serve)
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		serve()
		runtime.ReadMemStats(&m1)
		t.Logf("%-26s request of %7d bytes: %5.0f allocations, %7d bytes allocated", c.name, size, allocs, m1.TotalAlloc-m0.TotalAlloc)
		if i == 0 {
			base = allocs
			continue
		}
		if allocs > base+bound {
			t.Errorf("%s: %.0f allocations, want at most %.0f (%.0f without override values, + %d)", c.name, allocs, base+bound, base, bound)
		}
	}
	if n := h.forwardedCount(); n != 0 {
		t.Fatalf("%d forwarded", n)
	}
}

func slicesRepeat(v string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func prefixed(p string, vs []string) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = p + v
	}
	return out
}

// Past maxOverrideValues distinct values, a request is a signature when
// any method would make it one, whatever the values after the bound; up to
// it, each value is read as before.
func TestMethodOverrideWorstCase(t *testing.T) {
	h := newHarness(t, setup{protect: []string{"PUT /sign", "GET /vote"}})
	active := h.shield.cfg.Policy.Active(h.now)
	// Values that sign nothing at /sign (safe methods, spelt again), and
	// methods that write.
	reads := func(n int) []string {
		return slices.Clone([]string{"GET", "HEAD", "OPTIONS", "TRACE", "get", "head"}[:n])
	}
	writes := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("X%d", i)
		}
		return out
	}
	cases := []struct {
		path   string
		values []string
		want   string // the form, "" for no signature
	}{
		{"/sign", nil, ""},
		{"/sign", []string{"GET"}, ""},
		{"/sign", []string{"POST"}, "PUT /sign"},
		{"/sign", []string{" delete "}, "PUT /sign"},
		{"/sign", []string{"("}, "PUT /sign"}, // unreadable: the one that signs
		{"/sign", []string{""}, "PUT /sign"},
		{"/sign", []string{"GET", "GET", "GET", "GET", "GET", "GET", "PATCH"}, "PUT /sign"}, // repeats count once
		{"/sign", append(reads(maxOverrideValues-1), "PATCH"), "PUT /sign"},
		{"/sign", append(reads(maxOverrideValues), "get"), "PUT /sign"}, // past the bound: the worst
		{"/sign", reads(maxOverrideValues), ""},
		// A GET endpoint is every method's.
		{"/vote", []string{"GET"}, "GET /vote"},
		{"/vote", []string{"("}, "GET /vote"},
		{"/vote", append(writes(maxOverrideValues), "X9"), "GET /vote"},
		{"/vote", append(writes(maxOverrideValues-1), "HEAD"), "GET /vote"},
		{"/other", append(writes(maxOverrideValues), "("), ""},
		{"/other", writes(maxOverrideValues), ""},
	}
	right := 0
	for _, c := range cases {
		r := httptest.NewRequest(http.MethodGet, c.path, nil)
		r.Header["X-Http-Method"] = c.values
		form, ok := overriddenSignature(r, active, c.path, r.URL.RawQuery)
		got := ""
		if ok {
			got = form.String()
		}
		if got != c.want {
			t.Errorf("%s claiming %q: %q, want %q", c.path, c.values, got, c.want)
			continue
		}
		right++
	}
	t.Logf("method-override values: tried %d / read as expected %d / expected %d", len(cases), right, len(cases))
}

// referenceOverride is overriddenSignature as it was before values were
// bounded: every value, the path canonicalized again for each. It is what
// the bounded one must answer up to maxOverrideValues distinct values.
func referenceOverride(r *http.Request, active *Active, escapedPath string) (policies.Canonical, bool) {
	for _, name := range methodOverrideHeaders {
		for _, m := range r.Header[name] {
			canon, err := policies.Canonicalize(strings.TrimSpace(m), escapedPath)
			if err != nil {
				canon, err = policies.Canonicalize(http.MethodPost, escapedPath)
				if err != nil {
					continue
				}
			}
			if form, ok := active.Chain.Signature(canon); ok {
				return form, true
			}
		}
	}
	return policies.Canonical{}, false
}

// FuzzMethodOverride compares overriddenSignature with the reading of
// every value: the same answer up to maxOverrideValues distinct values, and
// past them never less of a signature.
func FuzzMethodOverride(f *testing.F) {
	for _, seed := range [][2]string{
		{"/sign", "POST"}, {"/SIGN/", "put\n("}, {"/vote", "GET"}, {"/vote", "a\nb\nc\nd\ne\nGET"},
		{"/sign", "GET\nGET\nHEAD\nOPTIONS\nTRACE\nDELETE"}, {"/sign;x=1", " \n\t"}, {"/petitions/7/sign", "x\n(\npatch"},
	} {
		f.Add(seed[0], seed[1])
	}
	h := newHarness(f, setup{protect: []string{"PUT /sign", "GET /vote", "PATCH /petitions/*/sign"}})
	active := h.shield.cfg.Policy.Active(h.now)
	f.Fuzz(func(t *testing.T, path, values string) {
		canon, err := policies.Canonicalize(http.MethodGet, path)
		if err != nil {
			return // classify refuses or passes it before asking
		}
		r := &http.Request{Header: http.Header{}}
		distinct := map[string]bool{}
		for i, v := range strings.Split(values, "\n") {
			name := methodOverrideHeaders[i%len(methodOverrideHeaders)]
			r.Header[name] = append(r.Header[name], v)
			distinct[strings.TrimSpace(v)] = true
		}
		got, ok := overriddenSignature(r, active, canon.Path, "")
		want, wantOK := referenceOverride(r, active, path)
		if len(distinct) <= maxOverrideValues && (got != want || ok != wantOK) {
			t.Fatalf("%s claiming %q: %v %v, every value read: %v %v", path, values, got, ok, want, wantOK)
		}
		if wantOK && !ok {
			t.Fatalf("%s claiming %q (%d distinct values): no signature, every value read: %v", path, values, len(distinct), want)
		}
	})
}

// CGI, and so Caddy's php_fastcgi, names a header's variable by upper-
// casing it and writing "-" as "_": X_HTTP_METHOD_OVERRIDE and
// x-http_method-override both arrive as HTTP_X_HTTP_METHOD_OVERRIDE, which
// WordPress's REST API takes for the method on any request. net/http
// keeps such names apart from X-Http-Method-Override, so each spelling is
// a claim too: a GET with a spent pass signs through none of them.
func TestMethodOverrideHeaderSpelledWithUnderscores(t *testing.T) {
	overrideSpellingsSign(t, []string{"X-HTTP-Method-Override", "X_HTTP_METHOD_OVERRIDE", "x-http_method-override", "X_Http_Method",
		"X_METHOD_OVERRIDE", "x_method-override"})
}

// PHP then names $_SERVER's variables as it names a form's fields, a "."
// read as "_" (php_register_variable): php_fastcgi passes X.HTTP.METHOD.
// OVERRIDE as HTTP_X.HTTP.METHOD.OVERRIDE, and WordPress reads it as
// HTTP_X_HTTP_METHOD_OVERRIDE. A "." is a token character, so net/http
// takes such a name, and each spelling is a claim too.
func TestMethodOverrideHeaderSpelledWithDots(t *testing.T) {
	overrideSpellingsSign(t, []string{"X.HTTP.METHOD.OVERRIDE", "x-http-method.override", "X_HTTP.Method-Override", "X.Http.Method",
		"X.METHOD.OVERRIDE", "x.method_override"})
}

// overrideSpellingsSign sends, with a spent pass, a GET of a WordPress
// REST route claiming POST in a header under each of names: none may sign.
func overrideSpellingsSign(t *testing.T, names []string) {
	t.Helper()
	h := newHarness(t, setup{protect: []string{"POST /wp-json/petition/v1/sign"}})
	b := h.browser("198.51.100.7", 64496, "")
	if !b.sign("/wp-json/petition/v1/sign", signBody) {
		t.Fatal("the real signature was not forwarded")
	}
	before := h.forwardedCount()
	for _, name := range names {
		raw := "GET /wp-json/petition/v1/sign HTTP/1.1\r\nHost: " + b.host + "\r\nUser-Agent: " + b.ua + "\r\n" + name + ": POST\r\n\r\n"
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			t.Fatal(err)
		}
		r.RemoteAddr = "198.51.100.7:1234"
		for _, c := range b.cookies {
			r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
		b.send(r)
	}
	accepted := h.forwardedCount() - before
	t.Logf("GET claiming POST, override header spelled as CGI reads it, spent pass: tried %d / accepted %d / expected 0", len(names), accepted)
	if accepted != 0 {
		t.Errorf("%d signatures forwarded without a credit", accepted)
	}
}
