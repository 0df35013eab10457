package policies

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rempart/rempart/internal/fuzzguard"
)

// FuzzCanonicalize feeds arbitrary methods and paths to Canonicalize: it
// must never panic, must refuse with ErrUncanonical or give a canonical
// form that is its own canonical form, with no //, no . or .. segment, no
// upper case, no %, ; or \, and no trailing slash; and a path whose
// canonical form is /sign must really hold the letters of sign, in order
// (so that no decoding invents a signature). Policies decide the result
// as a signature request.
func FuzzCanonicalize(f *testing.F) {
	for _, tt := range aliases {
		if len(tt.path) < 256 {
			f.Add("POST", tt.path)
		}
	}
	f.Add("post", "/petitions/Climat/SIGN/;x/../sign.json")
	f.Add("GET", "/%2525%32%46")
	f.Add("M-SEARCH", `\..\%2e%2E\%5c;x\SIGN`)
	decided := []*Policy{Default(), mustParse(f, signaturePolicy)}
	f.Fuzz(func(t *testing.T, method, p string) {
		fuzzguard.Within(t, fuzzguard.DefaultLimit, func() {
			c, err := Canonicalize(method, p)
			if err != nil {
				if !errors.Is(err, ErrUncanonical) {
					t.Fatalf("Canonicalize(%q, %q): %v does not wrap ErrUncanonical", method, p, err)
				}
				if c != (Canonical{}) {
					t.Fatalf("Canonicalize(%q, %q) = %+v along with an error", method, p, c)
				}
				return
			}
			again, err := Canonicalize(c.Method, c.Path)
			if err != nil || again != c {
				t.Fatalf("Canonicalize(%q, %q) = %+v, whose canonical form is %+v, %v", method, p, c, again, err)
			}
			if c.Method != strings.ToUpper(c.Method) || c.Method == "" {
				t.Fatalf("method %q", c.Method)
			}
			q := c.Path
			if q == "" || q[0] != '/' || (q != "/" && strings.HasSuffix(q, "/")) {
				t.Fatalf("Canonicalize(%q) = %q: not absolute, or with a trailing slash", p, q)
			}
			for _, bad := range []string{"//", "/./", "/../", "%", ";", `\`, "?", "#", "\x00"} {
				if strings.Contains(q, bad) {
					t.Fatalf("Canonicalize(%q) = %q holds %q", p, q, bad)
				}
			}
			if strings.HasSuffix(q, "/.") || strings.HasSuffix(q, "/..") {
				t.Fatalf("Canonicalize(%q) = %q ends in a dot segment", p, q)
			}
			if strings.ToLower(q) != q || strings.ContainsAny(q, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") || !utf8.ValidString(q) {
				t.Fatalf("Canonicalize(%q) = %q: not lower-case UTF-8", p, q)
			}
			if len(q) > len(p)*3 {
				t.Fatalf("Canonicalize(%q) = %q grew", p, q)
			}
			if q == "/sign" && !holdsLetters(p, "sign") {
				t.Fatalf("Canonicalize(%q) = /sign, but it does not hold the letters of sign", p)
			}
			for _, policy := range decided {
				checkDecision(t, policy, &Request{Method: c.Method, Path: c.Path, Signature: policy.IsSignature(c)})
			}
		})
	})
}

// holdsLetters reports whether p, percent-decoded as often as it takes,
// holds letters that fold (foldRune) to each of those of word, in order.
func holdsLetters(p, word string) bool {
	for range maxDecodeRounds {
		decoded, ok := percentDecode(p)
		if !ok {
			break
		}
		p = decoded
	}
	for _, r := range p {
		if word == "" {
			break
		}
		if foldRune(r) == rune(word[0]) {
			word = word[1:]
		}
	}
	return word == ""
}
