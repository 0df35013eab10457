package challenge

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"
)

func FuzzVerifyProof(f *testing.F) {
	s := newTestSigner(f, "0123456789abcdef-test-secret")
	c, nonce := solved(f, s, testClient, 4)
	f.Add(c.Token, nonce)
	f.Add(c.Token[:20], "00")
	f.Add(strings.Repeat("A", TokenLen), strings.Repeat("f", NonceLen))
	f.Fuzz(func(t *testing.T, token, nonce string) {
		got, err := s.VerifyProof(token, nonce, testClient, 1, testNow)
		if err == nil && (got.Token != token || LeadingZeroBits(got.Seed, mustNonce(t, nonce)) < got.Difficulty) {
			t.Fatalf("accepted an invalid proof %q %q", token, nonce)
		}
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
	p, _ := s.IssuePass(testClient, 1, testNow, time.Hour)
	f.Add(p.Token)
	f.Add("")
	f.Add(p.Token + "=")
	f.Fuzz(func(t *testing.T, token string) {
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
}

func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{"", "fr-FR,fr;q=0.9,en;q=0.8", "en;q=0.5;q=1", strings.Repeat("en,", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		lang, msgs := Negotiate(header)
		if msgs == nil || catalog[lang] != msgs {
			t.Fatalf("Negotiate(%q) = %q without its messages", header, lang)
		}
	})
}

func FuzzSafeReturn(f *testing.F) {
	for _, s := range []string{"/", "//x", "/\\x", "https://x", "/a?b=c", "/.rempart/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
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
}

func FuzzStashTake(f *testing.F) {
	st, _ := NewStash(4, 1<<10)
	key, _ := st.Put(Submission{Body: []byte("name=a"), Expires: testNow.Add(time.Minute)}, testClient)
	f.Add(key)
	f.Add("")
	f.Fuzz(func(t *testing.T, k string) {
		if _, ok := st.Take(k, testClient, testNow); ok && k != key {
			t.Fatalf("key %q released a submission stored as %q", k, key)
		}
	})
}

func FuzzVerifyWait(f *testing.F) {
	s := newTestSigner(f, "0123456789abcdef-test-secret")
	w, _ := s.IssueWait(testClient, 5*time.Second, time.Minute, testNow)
	f.Add(w.Token)
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
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
}
