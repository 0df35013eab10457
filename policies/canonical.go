package policies

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrUncanonical is wrapped by the errors of Canonicalize: the request's
// method or path cannot be put in canonical form safely, so nobody can say
// which handler of the petition it reaches. A shield must refuse such a
// request when its method is unsafe (POST, PUT, ...), never wave it
// through as if it were not a signature.
var ErrUncanonical = errors.New("request cannot be put in canonical form")

// MaxCanonicalPath is the longest path, in bytes as received, that
// Canonicalize accepts (8 KiB).
const MaxCanonicalPath = 8 << 10

// maxDecodeRounds is how many times Canonicalize percent-decodes a path:
// %2F, %252F and %25252F are all a slash; a path still percent-encoded
// after that is refused.
const maxDecodeRounds = 3

// Canonical is the canonical form of a request's method and path: the one
// form that all the aliases a web framework routes to the same handler
// share, such as POST /sign for post /SIGN/, //sign, /%73ign, /a/../sign
// or /sign;jsessionid=x. Build it with Canonicalize.
type Canonical struct {
	// Method is the method in upper case, such as POST.
	Method string
	// Path is absolute, decoded, without ;parameters, empty, "." or ".."
	// segments or trailing slash, and in lower case, such as /sign.
	Path string
}

// String returns the method and path, such as "POST /sign".
func (c Canonical) String() string { return c.Method + " " + c.Path }

// Canonicalize returns the canonical form of a request's method and path.
// escapedPath is the path as received (http.Request.URL.EscapedPath() or
// RawPath); an already-decoded path (URL.Path) is accepted too.
//
// The method is upper-cased; it must be an HTTP token (RFC 9110). The path
// is canonicalised as follows: a backslash is a slash; ;parameters are cut
// from every segment (before and after decoding: Tomcat's /sign;x=1); the
// path is percent-decoded up to three times (%252F is a slash), and a
// decoded slash separates segments; spaces at either end of a segment are
// trimmed (Spring's trimTokens); empty and "." segments are dropped, ".."
// removes the segment before it but never climbs above the root; every
// letter is lower-cased (after upper-casing, so that ſ, ı and the Kelvin
// sign K, which Java and .NET match case-insensitively to s, i and k, are
// those letters); and there is no trailing slash, except for the root "/".
//
// It refuses, with an error wrapping ErrUncanonical, a method that is not
// a token, and a path that cannot be canonicalised safely: longer than
// MaxCanonicalPath, not starting with / or \, with an invalid %
// escape, still containing % after three rounds of decoding, or holding,
// once decoded, invalid UTF-8, a control character (NUL included), ? or #.
//
// The result is its own canonical form (Canonicalize of it returns it
// unchanged), and Canonicalize allocates nothing when its input is
// canonical already.
func Canonicalize(method, escapedPath string) (Canonical, error) {
	m, err := canonicalMethod(method)
	if err != nil {
		return Canonical{}, err
	}
	p, err := canonicalPath(escapedPath)
	if err != nil {
		return Canonical{}, err
	}
	return Canonical{Method: m, Path: p}, nil
}

// CanonicalMethod returns the canonical form of a method alone, as
// Canonicalize gives it: in upper case, refused unless an HTTP token. With
// the Path of a Canonical it builds that request under another method
// without canonicalizing its path again.
func CanonicalMethod(method string) (string, error) {
	return canonicalMethod(method)
}

// uncanonical builds an error wrapping ErrUncanonical, quoting at most the
// first 64 bytes of what was refused.
func uncanonical(what, value, why string) error {
	if len(value) > 64 {
		value = value[:64] + "..."
	}
	return fmt.Errorf("%w: %s %q: %s", ErrUncanonical, what, value, why)
}

// canonicalMethod upper-cases an HTTP method, refusing one that is not a
// token.
func canonicalMethod(m string) (string, error) {
	if m == "" {
		return "", uncanonical("method", m, "empty")
	}
	upper := true
	for i := 0; i < len(m); i++ {
		c := m[i]
		if !isTchar(c) {
			return "", uncanonical("method", m, "not an HTTP token (RFC 9110)")
		}
		if 'a' <= c && c <= 'z' {
			upper = false
		}
	}
	if upper {
		return m, nil
	}
	return strings.ToUpper(m), nil
}

// isTchar reports whether c may appear in an HTTP token (RFC 9110,
// section 5.6.2).
func isTchar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// canonicalByte marks the bytes a path in canonical form may have without
// a closer look: lower-case letters, digits and the characters of RFC 3986
// that have no meaning in a path segment. Other bytes (upper case, space,
// non-ASCII, ...) may still be in a canonical path: canonicalPath checks
// those the slow way.
var canonicalByte = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range []byte("-._~!$&'()*+,=:@") {
		t[c] = true
	}
	return t
}()

// isCanonicalPath reports, without allocating, whether p is plainly
// canonical: absolute, of canonical bytes only, with no empty, "." or ".."
// segment and no trailing slash.
func isCanonicalPath(p string) bool {
	if p == "/" {
		return true
	}
	if len(p) < 2 || p[0] != '/' || p[len(p)-1] == '/' {
		return false
	}
	start := 1 // of the current segment
	for i := 1; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			if !canonicalByte[p[i]] {
				return false
			}
			continue
		}
		if segment := p[start:i]; segment == "" || segment == "." || segment == ".." {
			return false
		}
		start = i + 1
	}
	return true
}

// canonicalPath returns the canonical form of a request path (see
// Canonicalize).
func canonicalPath(p string) (string, error) {
	if len(p) > MaxCanonicalPath {
		return "", uncanonical("path", p, fmt.Sprintf("longer than %d bytes", MaxCanonicalPath))
	}
	if p == "" || (p[0] != '/' && p[0] != '\\') {
		return "", uncanonical("path", p, "not absolute: want a path starting with /")
	}
	if isCanonicalPath(p) {
		return p, nil
	}
	// ;parameters end at the next slash as received: an encoded slash in
	// a parameter (/sign;x=%2F..%2Fother) is part of it, as Tomcat reads it.
	s := cutParams(p)
	for round := 0; strings.IndexByte(s, '%') >= 0; round++ {
		if round == maxDecodeRounds {
			return "", uncanonical("path", p, fmt.Sprintf("still percent-encoded after %d rounds of decoding", maxDecodeRounds))
		}
		var ok bool
		if s, ok = percentDecode(s); !ok {
			return "", uncanonical("path", p, "invalid percent-encoding: want % followed by two hexadecimal digits")
		}
	}
	if !utf8.ValidString(s) {
		return "", uncanonical("path", p, "not UTF-8 once decoded")
	}
	for _, r := range s {
		switch {
		case unicode.IsControl(r):
			return "", uncanonical("path", p, "holds a control character once decoded")
		case r == '?' || r == '#':
			return "", uncanonical("path", p, "holds an encoded ? or #, which a proxy or framework may read as the end of the path")
		}
	}
	return cleanSegments(s, `/\`), nil
}

// cleanSegments returns s, an absolute path whose segments are separated by
// any of seps, as one canonical path: each segment without its ;parameters
// and surrounding spaces, folded to lower case; empty and "." segments
// dropped, ".." resolved (never above the root), no trailing slash.
func cleanSegments(s, seps string) string {
	buf := make([]byte, 0, len(s))
	for len(s) > 0 {
		// s starts with a separator: take the segment after it.
		s = s[1:]
		end := strings.IndexAny(s, seps)
		if end < 0 {
			end = len(s)
		}
		segment := s[:end]
		s = s[end:]
		if i := strings.IndexByte(segment, ';'); i >= 0 {
			segment = segment[:i]
		}
		switch segment = strings.Trim(segment, " "); segment {
		case "", ".":
		case "..":
			if i := bytes.LastIndexByte(buf, '/'); i >= 0 {
				buf = buf[:i]
			}
		default:
			buf = append(buf, '/')
			buf = appendFolded(buf, segment)
		}
	}
	if len(buf) == 0 {
		return "/"
	}
	return string(buf)
}

// cutParams cuts the ;parameters from every segment of p, segments being
// separated by / or \.
func cutParams(p string) string {
	if strings.IndexByte(p, ';') < 0 {
		return p
	}
	var b strings.Builder
	b.Grow(len(p))
	for len(p) > 0 {
		i := strings.IndexByte(p, ';')
		if i < 0 {
			b.WriteString(p)
			break
		}
		b.WriteString(p[:i])
		p = p[i:]
		end := strings.IndexAny(p, `/\`)
		if end < 0 {
			break
		}
		p = p[end:]
	}
	return b.String()
}

// percentDecode decodes every %XX of s, reporting false when a % is not
// followed by two hexadecimal digits.
func percentDecode(s string) (string, bool) {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			b = append(b, c)
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return "", false
		}
		b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
		i += 2
	}
	return string(b), true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// appendFolded appends s to buf with every letter folded to lower case
// (see foldRune).
func appendFolded(buf []byte, s string) []byte {
	for _, r := range s {
		r = foldRune(r)
		if r < utf8.RuneSelf {
			buf = append(buf, byte(r))
		} else {
			buf = utf8.AppendRune(buf, r)
		}
	}
	return buf
}

// foldRune returns r in lower case, as strings.ToLower does, but through
// its upper case, so that the letters that Java's equalsIgnoreCase and
// .NET's OrdinalIgnoreCase match to an ASCII letter become that letter:
// ſ (long s) is s, ı (dotless i) is i, K (Kelvin sign) is k. The result is
// its own fold (TestFoldRuneIdempotent checks every code point).
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		return r
	}
	return unicode.ToLower(unicode.ToUpper(r))
}
