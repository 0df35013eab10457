package challenge

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rempart/rempart/internal/fuzzguard"
)

func FuzzVerifyProof(f *testing.F) {
	s := newTestSigner(f, "0123456789abcdef-test-secret")
	c, nonce := solved(f, s, testClient, 4)
	f.Add(c.Token, nonce)
	f.Add(c.Token[:20], "00")
	f.Add(strings.Repeat("A", TokenLen), strings.Repeat("f", NonceLen))
	f.Fuzz(func(t *testing.T, token, nonce string) {
		fuzzguard.Within(t, fuzzguard.DefaultLimit, func() {
			got, err := s.VerifyProof(token, nonce, testClient, 1, testNow)
			if err == nil && (got.Token != token || LeadingZeroBits(got.Seed, mustNonce(t, nonce)) < got.Difficulty) {
				t.Fatalf("accepted an invalid proof %q %q", token, nonce)
			}
		})
	})
}

func mustNonce(t *testing.T, s string) uint64 {
	n, err := parseNonce(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func FuzzVerifyPass(f *testing.F) {
	s := newTestSigner(f, "0123456789abcdef-test-secret")
	p, _ := s.IssuePass(testClient, 1, 18, testNow, time.Hour)
	f.Add(p.Token)
	f.Add("")
	f.Add(p.Token + "=")
	f.Fuzz(func(t *testing.T, token string) {
		fuzzguard.WithinInput(t, fuzzguard.DefaultLimit, []byte(token), func() {
			got, err := s.VerifyPass(token, testClient, testNow)
			if err != nil {
				return
			}
			// The fuzzing workers each have their own random ids, so "issued by
			// this signer" cannot be checked here; what is accepted must at
			// least be the one spelling of a sane pass.
			raw, decErr := base64.RawURLEncoding.DecodeString(token)
			if decErr != nil || base64.RawURLEncoding.EncodeToString(raw) != token || !got.Expires.After(testNow) || got.Credits > MaxCredits {
				t.Fatalf("accepted a malformed pass %q as %+v", token, got)
			}
		})
	})
}

func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{"", "fr-FR,fr;q=0.9,en;q=0.8", "en;q=0.5;q=1", strings.Repeat("en,", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		fuzzguard.WithinInput(t, fuzzguard.DefaultLimit, []byte(header), func() {
			lang, msgs := Negotiate(header)
			if msgs == nil || catalog[lang] != msgs {
				t.Fatalf("Negotiate(%q) = %q without its messages", header, lang)
			}
		})
	})
}

// A page is sent gzip-compressed only to a client that names gzip with a
// quality above zero, whatever else its Accept-Encoding holds.
func FuzzAcceptsGzip(f *testing.F) {
	for _, s := range []string{"", "gzip", "GZIP;q=0", "br, gzip;q=0.5", "gzip;q=NaN", "gzip;q=1e309", "x;q=1,gzip ; Q = 0.001", strings.Repeat("identity,", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		fuzzguard.WithinInput(t, fuzzguard.DefaultLimit, []byte(header), func() {
			if AcceptsGzip(header) && !strings.Contains(strings.ToLower(header), "gzip") {
				t.Fatalf("AcceptsGzip(%q) without gzip named", header)
			}
		})
	})
}

func FuzzSafeReturn(f *testing.F) {
	for _, s := range []string{"/", "//x", "/\\x", "https://x", "/a?b=c", "/.rempart/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		fuzzguard.WithinInput(t, fuzzguard.DefaultLimit, []byte(target), func() {
			got := SafeReturn(target, "/.rempart/")
			if got == "/" {
				return
			}
			if got != target {
				t.Fatalf("SafeReturn rewrote %q to %q", target, got)
			}
			u, err := url.Parse(got)
			if err != nil || u.Host != "" || u.Scheme != "" || !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") {
				t.Fatalf("SafeReturn(%q) = %q leaves the site", target, got)
			}
			// Browsers treat a backslash as a slash: "/\evil" would be "//evil".
			if strings.ContainsAny(got, "\\\r\n\t") {
				t.Fatalf("SafeReturn(%q) kept a dangerous character", target)
			}
		})
	})
}

func FuzzStashTake(f *testing.F) {
	seed, _ := NewStash(StashConfig{MaxEntries: 4, MaxBytes: 1 << 10})
	seedKey, _ := seed.Put(Submission{Body: []byte("name=a"), Expires: testNow.Add(time.Minute)}, testClient, "asn:64500")
	f.Add(seedKey, false, "asn:64500", uint16(6))
	f.Add("", true, "", uint16(0))
	f.Add(strings.Repeat("A", idLen), false, "203.0.113.0/24", uint16(1<<10))
	// Ids are random, so a fuzzed k never names the stored one: exact
	// tries the stored id itself.
	f.Fuzz(func(t *testing.T, k string, exact bool, owner string, size uint16) {
		fuzzguard.Within(t, fuzzguard.DefaultLimit, func() {
			st, err := NewStash(StashConfig{MaxEntries: 4, MaxBytes: 1 << 17, PerOwner: 2})
			if err != nil {
				t.Fatal(err)
			}
			exp := testNow.Add(time.Minute)
			key, err := st.Put(Submission{Body: []byte("name=a"), Expires: exp}, testClient, "asn:64500")
			if err != nil {
				t.Fatal(err)
			}
			// A second submission, of the fuzzed size and owner, fits: it pushes
			// nothing out (of owner, or of asn:64500 whose share of 2 holds both).
			if _, err := st.Put(Submission{Body: make([]byte, size), Expires: exp}, testClient, owner); err != nil {
				t.Fatalf("put of %d bytes refused: %v", size, err)
			}
			if n, b := st.Len(); n != 2 || b != 6+int(size) {
				t.Fatalf("stash holds %d entries, %d bytes after two puts", n, b)
			}
			if exact {
				k = key
			}
			if _, ok := st.Peek(k, testClient, testNow); ok != (k == key) {
				t.Fatalf("Peek(%q) = %v for a submission stored as %q", k, ok, key)
			}
			if _, ok := st.Take(k, testClient, testNow); ok != (k == key) {
				t.Fatalf("Take(%q) = %v for a submission stored as %q", k, ok, key)
			}
			if k != key {
				if got, ok := st.Take(key, testClient, testNow); !ok || string(got.Body) != "name=a" {
					t.Fatalf("Take(%q) = %+v, %v after trying %q", key, got, ok, k)
				}
			}
			if _, ok := st.Take(key, testClient, testNow); ok {
				t.Fatalf("submission %q released twice", key)
			}
		})
	})
}

func FuzzVerifyWait(f *testing.F) {
	s := newTestSigner(f, "0123456789abcdef-test-secret")
	w, _ := s.IssueWait(testClient, 5*time.Second, time.Minute, 18, 1, testNow)
	f.Add(w.Token)
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		fuzzguard.WithinInput(t, fuzzguard.DefaultLimit, []byte(token), func() {
			at := testNow.Add(10 * time.Second)
			got, err := s.VerifyWait(token, testClient, time.Minute, at)
			if err != nil {
				return
			}
			raw, decErr := base64.RawURLEncoding.DecodeString(token)
			if decErr != nil || base64.RawURLEncoding.EncodeToString(raw) != token || at.Before(got.NotBefore) || !got.Expires.After(at) {
				t.Fatalf("accepted a malformed or early wait challenge %q as %+v", token, got)
			}
		})
	})
}
