package shield

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/rempart/rempart/budget"
	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/internal/shieldtest"
	"github.com/rempart/rempart/policies"
)

// The shield's own pages go out compressed to a browser that accepts gzip,
// and the same page inflated as goes out plain to one that does not.
func TestPagesCompressedWhenAccepted(t *testing.T) {
	h := newHarness(t, setup{
		protect: []string{"POST /sign"},
		limits:  []policies.Budget{{Counts: policies.CountChallenges, Per: budget.KeyASN, Rate: "1/hour", Class: "hosting"}},
	})
	over := h.browser("203.0.113.9", 64500, "hosting")
	over.do(http.MethodGet, "/", "") // spends the network's one challenge
	for _, tc := range []struct {
		name   string
		b      *browser
		status int
		csp    string
	}{
		{"challenge", h.browser("192.0.2.1", 64501, ""), StatusChallenge, challenge.ContentSecurityPolicy},
		{"limit", over, http.StatusTooManyRequests, challenge.MessageSecurityPolicy},
	} {
		plain := tc.b.send(tc.b.request(http.MethodGet, "/petition", ""))
		r := tc.b.request(http.MethodGet, "/petition", "")
		r.Header.Set("Accept-Encoding", "br;q=1, gzip;q=0.5")
		zipped := tc.b.send(r)
		for _, w := range []*httptest.ResponseRecorder{plain, zipped} {
			if w.Code != tc.status {
				t.Fatalf("%s: status %d, want %d", tc.name, w.Code, tc.status)
			}
			// A length the shield sets must be the body's; a short page's
			// is net/http's (TestShortPagesGetTheirLengthFromNetHTTP).
			if n := w.Header().Get("Content-Length"); n != "" && n != strconv.Itoa(w.Body.Len()) {
				t.Fatalf("%s: Content-Length %s for %d bytes", tc.name, n, w.Body.Len())
			}
			// Caddy adds Server, a 429 Retry-After: 8 fields in all is one
			// group of the header map (see writePage).
			// What the page's fields no longer say, its HTML says.
			if w.Header().Get("Content-Security-Policy") != tc.csp || w.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Fatalf("%s: security fields missing or not the page's (want policy %q): %v", tc.name, tc.csp, w.Header())
			}
			if fields := len(w.Header()) + 1; fields > 8 {
				t.Fatalf("%s: %d header fields with Server, want at most 8: %v", tc.name, fields, w.Header())
			}
		}
		if plain.Header().Get("Content-Encoding") != "" || zipped.Header().Get("Content-Encoding") != "gzip" {
			t.Fatalf("%s: Content-Encoding %q plain, %q accepted", tc.name, plain.Header().Get("Content-Encoding"), zipped.Header().Get("Content-Encoding"))
		}
		zr, err := gzip.NewReader(bytes.NewReader(zipped.Body.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		inflated, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !bytes.Contains(inflated, []byte(`<meta name="referrer" content="same-origin">`)) {
			t.Fatalf("%s: no referrer policy in the page:\n%s", tc.name, inflated)
		}
		if tc.name == "limit" && !bytes.Equal(inflated, plain.Body.Bytes()) {
			t.Fatalf("%s: compressed page differs from the plain one", tc.name)
		}
		if tc.name == "challenge" {
			page, err := shieldtest.ParsePage(inflated)
			if err != nil || page.Puzzle.Difficulty != challengeBits(t, plain) {
				t.Fatalf("%s: compressed page is not a challenge page (%v):\n%s", tc.name, err, inflated)
			}
		}
		t.Logf("%s: %d bytes plain, %d compressed", tc.name, plain.Body.Len(), zipped.Body.Len())
	}
}

// Pages short enough for net/http's buffer go without a Content-Length of
// the shield's, and still reach the client with their exact length, over
// a real connection: a 429 (short), and a challenge page plain (long, so
// the shield sets it) and compressed.
func TestShortPagesGetTheirLengthFromNetHTTP(t *testing.T) {
	h := newHarness(t, setup{
		protect: []string{"POST /sign"},
		limits:  []policies.Budget{{Counts: policies.CountChallenges, Per: budget.KeyASN, Rate: "1/hour", Class: "hosting"}},
	})
	over := h.browser("203.0.113.9", 64500, "hosting")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := over
		if r.URL.Query().Has("fresh") {
			b = h.browser("192.0.2.1", 64501, "")
		}
		if err := h.shield.Serve(w, r, b.id, h.backend); err != nil {
			t.Error(err)
		}
	}))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	long, short := 0, 0 // pages whose length the shield set, and net/http
	for _, tc := range []struct {
		name, query, encoding string
		status                int
	}{
		{"challenge", "?fresh", "", StatusChallenge},
		{"challenge gzip", "?fresh", "gzip", StatusChallenge},
		{"first", "", "", StatusChallenge}, // spends the network's one challenge
		{"limit", "", "", http.StatusTooManyRequests},
		{"limit gzip", "", "gzip", http.StatusTooManyRequests},
		{"limit HEAD", "", "", http.StatusTooManyRequests},
	} {
		method := http.MethodGet
		if tc.name == "limit HEAD" {
			method = http.MethodHead
		}
		req, _ := http.NewRequest(method, srv.URL+"/petition"+tc.query, nil)
		if tc.encoding != "" {
			req.Header.Set("Accept-Encoding", tc.encoding)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if resp.StatusCode != tc.status {
			t.Fatalf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.status)
		}
		if method == http.MethodGet && (resp.ContentLength != int64(len(body)) || len(resp.TransferEncoding) != 0) {
			t.Fatalf("%s: Content-Length %d, transfer encoding %v, for %d bytes", tc.name, resp.ContentLength, resp.TransferEncoding, len(body))
		}
		if len(body) > autoLength {
			long++
		} else if len(body) > 0 {
			short++
		}
		if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Rempart-Action") == "" {
			t.Fatalf("%s: header %v", tc.name, resp.Header)
		}
	}
	if long == 0 || short == 0 {
		t.Fatalf("%d pages longer than %d bytes, %d shorter: both ways of setting the length must be tried", long, autoLength, short)
	}
}
