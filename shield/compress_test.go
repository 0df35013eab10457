package shield

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/rempart/rempart/budget"
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
	}{
		{"challenge", h.browser("192.0.2.1", 64501, ""), StatusChallenge},
		{"limit", over, http.StatusTooManyRequests},
	} {
		plain := tc.b.send(tc.b.request(http.MethodGet, "/petition", ""))
		r := tc.b.request(http.MethodGet, "/petition", "")
		r.Header.Set("Accept-Encoding", "br;q=1, gzip;q=0.5")
		zipped := tc.b.send(r)
		for _, w := range []*http.Response{plain.Result(), zipped.Result()} {
			if w.StatusCode != tc.status {
				t.Fatalf("%s: status %d, want %d", tc.name, w.StatusCode, tc.status)
			}
			if w.Header.Get("Vary") != "Accept-Encoding" {
				t.Fatalf("%s: Vary %q", tc.name, w.Header.Get("Vary"))
			}
			if w.Header.Get("Content-Length") != strconv.Itoa(int(w.ContentLength)) {
				t.Fatalf("%s: Content-Length %q", tc.name, w.Header.Get("Content-Length"))
			}
		}
		if plain.Header().Get("Content-Encoding") != "" || zipped.Header().Get("Content-Encoding") != "gzip" {
			t.Fatalf("%s: Content-Encoding %q plain, %q accepted", tc.name, plain.Header().Get("Content-Encoding"), zipped.Header().Get("Content-Encoding"))
		}
		if n, _ := strconv.Atoi(zipped.Header().Get("Content-Length")); n != zipped.Body.Len() {
			t.Fatalf("%s: Content-Length %d for %d bytes", tc.name, n, zipped.Body.Len())
		}
		zr, err := gzip.NewReader(bytes.NewReader(zipped.Body.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		inflated, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
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
