package policies

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Endpoint names requests by method and path, such as POST /sign: a
// signature endpoint. It is matched against the canonical form of a
// request (see Canonicalize), so POST /sign is also post /SIGN/, //sign,
// /%73ign, /sign;jsessionid=x and /sign.json.
type Endpoint struct {
	// Method is an HTTP method, such as POST (in any case; it is compared
	// in upper case), or "*" for any method.
	Method string `json:"method"`
	// Path is an exact path such as "/sign", or a glob in the syntax of
	// Go's path.Match such as "/petitions/*/sign". It is compared in its
	// canonical form: lower case, cleaned, without trailing slash.
	Path string `json:"path"`
}

// Validate reports what is wrong with e, if anything.
func (e Endpoint) Validate() error {
	_, err := e.canonical()
	return err
}

// canonical returns e with its method in upper case and its path pattern
// in canonical form: lower case (as foldRune folds it), without empty or
// "." segments, ".." resolved, and without trailing slash. It allocates
// nothing when e is canonical already.
func (e Endpoint) canonical() (Endpoint, error) {
	if e.Method != "*" {
		m, err := canonicalMethod(e.Method)
		if err != nil {
			return e, fmt.Errorf("method %q: want an HTTP method such as POST, or *", e.Method)
		}
		e.Method = m
	}
	if !strings.HasPrefix(e.Path, "/") {
		return e, fmt.Errorf("path %q: want an absolute path such as /sign", e.Path)
	}
	if _, err := path.Match(e.Path, "/"); err != nil {
		return e, fmt.Errorf("path %q: bad glob: %w", e.Path, err)
	}
	if i := strings.IndexAny(e.Path, "%;#"); i >= 0 {
		return e, fmt.Errorf("path %q: %q: write the path decoded, as the petition's routes name it, without ;parameters", e.Path, e.Path[i])
	}
	if !utf8.ValidString(e.Path) || strings.ContainsFunc(e.Path, unicode.IsControl) {
		return e, fmt.Errorf("path %q: want UTF-8 text without control characters", e.Path)
	}
	e.Path = canonicalGlob(e.Path)
	return e, nil
}

// canonicalGlob returns the canonical copy of an absolute path pattern in
// path.Match syntax: folded to lower case, without empty or "." segments,
// with ".." resolved (never above the root) and without trailing slash,
// so that it matches canonical paths as the pattern matches the paths it
// was written for. It allocates nothing when p is canonical already.
func canonicalGlob(p string) string {
	if isCanonicalGlob(p) {
		return p
	}
	// Only / separates a pattern's segments: \ escapes in path.Match.
	return cleanSegments(p, "/")
}

// isCanonicalGlob reports whether the pattern p is absolute, in lower-case
// ASCII, with no empty, "." or ".." segment and no trailing slash.
func isCanonicalGlob(p string) bool {
	if p == "/" {
		return true
	}
	if len(p) < 2 || p[0] != '/' || p[len(p)-1] == '/' {
		return false
	}
	start := 1
	for i := 1; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			if c := p[i]; c >= utf8.RuneSelf || 'A' <= c && c <= 'Z' {
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

// MatchesCanonical reports whether the request c, in canonical form (see
// Canonicalize), is e. The method matches in upper case ("*" matches any),
// and a method that writes matches every method that writes (all but GET,
// HEAD, OPTIONS and TRACE): a petition that does not check the method takes
// PUT /sign or DELETE /sign as its POST /sign. A method that only reads (a
// GET vote) matches every method: frameworks answer HEAD with the GET
// handler, and a script that does not check the method (PHP's $_GET, a
// Django view) counts POST /vote?choice=x as its GET;
// the path matches e's pattern in canonical form, as path.Match does, or
// one of its aliases does (see canonicalMatch):
//
//   - the path with its last segment's extension cut: /sign.json and
//     /sign.xml.gz are POST /sign, as Rails routes /sign(.:format) and
//     Spring's suffix matching routes /sign.* there;
//   - the path cut after a segment that names a PHP script: /sign.php/x
//     runs sign.php with PATH_INFO /x;
//   - the PATH_INFO after such a segment, which a front controller
//     (Laravel, Symfony, CodeIgniter, Caddy's php_fastcgi) routes:
//     /index.php/sign is /sign.
//
// /signature, /sign2, /sign/x and /static/sign.js are not POST /sign. An
// endpoint that does not validate matches nothing.
func (e Endpoint) MatchesCanonical(c Canonical) bool {
	ce, err := e.canonical()
	if err != nil {
		return false
	}
	return ce.matchesCanonical(c)
}

// matchesCanonical is MatchesCanonical for an endpoint in canonical form.
func (e Endpoint) matchesCanonical(c Canonical) bool {
	return e.matchesMethod(c.Method, true) && e.matchesPath(c.Path)
}

// matchesMethod reports whether e names method: "*", method itself or,
// when loose, any method that writes when method writes, and any method
// at all when e's only reads.
func (e Endpoint) matchesMethod(method string, loose bool) bool {
	return e.Method == "*" || e.Method == method || loose && (!Writes(e.Method) || Writes(method))
}

func (e Endpoint) matchesPath(p string) bool {
	return canonicalMatch(p, func(p string) bool { return globMatches(e.Path, p) })
}

// Writes reports whether a request with this method, in upper case, may
// change something on the server: every method but GET, HEAD, OPTIONS and
// TRACE.
func Writes(method string) bool {
	switch method {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		return false
	}
	return true
}

// canonicalMatch reports whether matches holds for the canonical path p
// or for one of the aliases a web framework gives it:
//
//   - p with the extension of its last segment cut, the last one or
//     everything from the first dot (an extension follows a dot that does
//     not start the segment): /sign.json and /sign.xml.gz are /sign;
//   - p cut after any segment ending in .php: /sign.php/x is /sign.php;
//   - what follows such a segment, with its extension cut as above:
//     /index.php/sign.json is /sign.
func canonicalMatch(p string, matches func(string) bool) bool {
	_, ok := canonicalRoute(p, matches)
	return ok
}

// canonicalRoute is canonicalMatch, and returns the path the request is
// decided as: p, or the PATH_INFO it matched through, which is the route
// the front controller runs (/index.php/sign is decided as /sign, so that
// a rule for the script /index.php does not price it).
func canonicalRoute(p string, matches func(string) bool) (string, bool) {
	if withoutExtension(p, matches) {
		return p, true
	}
	last := strings.LastIndexByte(p, '/') + 1
	for i := 1; i < last; i++ {
		if p[i] != '/' || !strings.HasSuffix(p[:i], ".php") {
			continue
		}
		if matches(p[:i]) {
			return p, true
		}
		if withoutExtension(p[i:], matches) {
			return p[i:], true
		}
	}
	return "", false
}

// withoutExtension reports whether matches holds for p, or for p with the
// extension of its last segment cut: the last one, or everything from the
// first dot (an extension follows a dot that does not start the segment).
func withoutExtension(p string, matches func(string) bool) bool {
	if matches(p) {
		return true
	}
	last := strings.LastIndexByte(p, '/') + 1
	segment := p[last:]
	if dot := strings.LastIndexByte(segment, '.'); dot > 0 {
		if matches(p[:last+dot]) {
			return true
		}
		if first := strings.IndexByte(segment, '.'); first > 0 && first < dot && matches(p[:last+first]) {
			return true
		}
	}
	return false
}

// globMatches reports whether p matches the pattern, comparing a literal
// pattern as a string.
func globMatches(pattern, p string) bool {
	if pattern == p {
		return true
	}
	if !strings.ContainsAny(pattern, `*?[\`) {
		return false
	}
	ok, _ := path.Match(pattern, p)
	return ok
}

func (e Endpoint) String() string { return e.Method + " " + e.Path }

// Endpoints is a list of endpoints; a request is in it when it matches any.
type Endpoints []Endpoint

// MatchesCanonical reports whether any endpoint matches the request c, in
// canonical form.
func (es Endpoints) MatchesCanonical(c Canonical) bool {
	return slices.ContainsFunc(es, func(e Endpoint) bool { return e.MatchesCanonical(c) })
}

// IsSignature reports whether the request c, in canonical form (see
// Canonicalize), is one of the policy's signature endpoints: those of its
// signatures section and those of ParseOptions.Signatures.
func (p *Policy) IsSignature(c Canonical) bool {
	_, ok := p.Signature(c)
	return ok
}

// Signature reports whether the request c, in canonical form, is one of
// the policy's signature endpoints, and returns the form in which the rules
// see it: c with the method of the endpoint it is (its own when the
// endpoint says "*"). PUT /sign is thus decided as POST /sign, which it is
// to a petition that does not check the method, by the same rules at the
// same price. An endpoint that names c's own method comes first.
func (p *Policy) Signature(c Canonical) (Canonical, bool) {
	for _, loose := range [...]bool{false, true} {
		for i := range p.signatures {
			e := &p.signatures[i]
			if !e.matchesMethod(c.Method, loose) {
				continue
			}
			if route, ok := canonicalRoute(c.Path, func(p string) bool { return globMatches(e.Path, p) }); ok {
				if e.Method != "*" {
					c.Method = e.Method
				}
				c.Path = route
				return c, true
			}
		}
	}
	return Canonical{}, false
}

// Signatures returns a copy of the policy's signature endpoints, in
// canonical form: those of ParseOptions.Signatures, then those of the
// file's signatures section.
func (p *Policy) Signatures() Endpoints { return slices.Clone(p.signatures) }

// IsSignature reports whether the request c, in canonical form, is a
// signature endpoint of any policy of the chain: the server's own
// (the Caddyfile's protect list, compiled into its limits policy through
// ParseOptions.Signatures), or a policy file's.
func (ch Chain) IsSignature(c Canonical) bool {
	_, ok := ch.Signature(c)
	return ok
}

// Signature is Policy.Signature over the chain: the first policy that
// names c's own method decides its form, else the first that names c.
func (ch Chain) Signature(c Canonical) (Canonical, bool) {
	var loose Canonical
	found := false
	for _, p := range ch {
		form, ok := p.Signature(c)
		if ok && form.Method == c.Method {
			return form, true
		}
		if ok && !found {
			loose, found = form, true
		}
	}
	return loose, found
}
