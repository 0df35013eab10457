package challenge_test

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rempart/rempart/challenge"
)

// challengePageBudget is what a signer downloads, compressed, on a first
// visit before the proof of work starts: the page and every asset it
// references, the WebAssembly SIMD solver and the JavaScript one (the
// worker carries both). Old phones on slow networks must not wait on the
// download.
const challengePageBudget = 12 * 1024

// assetRef matches the shield's own URLs in the page: stylesheet, scripts,
// and the worker the solver starts and the WebAssembly module it loads (in
// data- attributes).
var assetRef = regexp.MustCompile(`(?:href|src|data-[a-z-]+)="(/\.rempart/[^"?#]+)"`)

func gzipSize(t *testing.T, b []byte) int {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Len()
}

func TestChallengePageWeight(t *testing.T) {
	const prefix = "/.rempart/"
	pages, err := challenge.NewPages(prefix)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := challenge.NewSigner([]byte("0123456789abcdef-page-weight-test"), nil)
	if err != nil {
		t.Fatal(err)
	}
	client := challenge.NewBinding(netip.MustParseAddr("192.0.2.7"), 24, 48,
		"Mozilla/5.0 (Linux; Android 8.1.0; Moto G5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/109.0 Mobile Safari/537.36",
		"petition.example.org")
	c, err := signer.IssueChallenge(client, challenge.MaxDifficulty, challenge.MaxCredits, time.Now(), 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}

	// The heaviest page: every optional part shown, in each language.
	var page []byte
	for _, accept := range []string{"fr", "en"} {
		lang, msgs := challenge.Negotiate(accept)
		var buf bytes.Buffer
		err := pages.RenderChallenge(&buf, challenge.ChallengePage{
			Lang: lang, T: msgs, Challenge: c, VerifyPath: prefix + "verify",
			Return:     "/petitions/noel-sans-amazon/signer?source=newsletter&utm_campaign=decembre",
			Submission: strings.Repeat("7", 32),
			Problem:    strings.Repeat("x", 120),
			NoScript:   &challenge.NoScriptWait{URL: prefix + "wait?token=" + c.Token, Seconds: 30},
		})
		if err != nil {
			t.Fatalf("rendering the %s page: %v", lang, err)
		}
		if gzipSize(t, buf.Bytes()) > gzipSize(t, page) {
			page = buf.Bytes()
		}
	}
	pageSize := gzipSize(t, page)
	total := pageSize
	t.Logf("challenge page: %d bytes, %d gzipped", len(page), pageSize)

	var refs []string
	for _, m := range assetRef.FindAllSubmatch(page, -1) {
		if ref := string(m[1]); !slices.Contains(refs, ref) && ref != prefix+"verify" && !strings.HasPrefix(ref, prefix+"wait") {
			refs = append(refs, ref)
		}
	}
	paths := pages.Paths()
	for _, want := range []string{paths.Style, paths.Solver, paths.Worker, paths.SIMD} {
		if !slices.Contains(refs, want) {
			t.Errorf("the page does not reference %s; it references %q", want, refs)
		}
	}
	for _, ref := range refs {
		req := httptest.NewRequest(http.MethodGet, ref, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		rec := httptest.NewRecorder()
		if !pages.ServeAsset(rec, req, strings.TrimPrefix(ref, prefix)) || rec.Code != http.StatusOK {
			t.Errorf("the page references %s, which is not served (status %d)", ref, rec.Code)
			continue
		}
		size := rec.Body.Len()
		if rec.Header().Get("Content-Encoding") != "gzip" {
			size = gzipSize(t, rec.Body.Bytes())
		}
		t.Logf("%s: %d bytes gzipped", ref, size)
		total += size
	}
	t.Logf("total: %d bytes gzipped, budget %d", total, challengePageBudget)
	if total > challengePageBudget {
		t.Errorf("the challenge page and its assets weigh %d bytes gzipped, more than the %d-byte budget", total, challengePageBudget)
	}
}
