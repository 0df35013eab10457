package policies

import (
	"net/url"
	"strings"
)

// routeKeys are the parameters that some frameworks route by, in place of
// the path, and the path prefix of what they name. WordPress reads
// rest_route (?rest_route=/petition/v1/sign is /wp-json/petition/v1/sign)
// on any page, from the query or a posted form. Drupal 7's q (?q=sign),
// Yii's r (?r=petition/sign) and OpenCart's route are read only on the
// front page or a PHP script: on other paths they are too often a search
// or a return address ("/login?r=/sign") to take for a route.
var routeKeys = [...]struct {
	key, prefix string
	anyPath     bool
}{
	{"q", "/", false}, {"r", "/", false}, {"route", "/", false}, {"rest_route", "/wp-json/", true},
}

// QueryRoutes calls yield with each path, escaped as in rawQuery, that a
// framework may route the request to from its query string (or, with
// form set, from a posted application/x-www-form-urlencoded body) rather
// than from its path, until yield returns false:
//
//   - the query itself, up to its first & or ?, when it starts with / and
//     the canonical path is / or a PHP script: CodeIgniter and Kohana route
//     /index.php?/sign and /?/sign to /sign (never a form's);
//   - the value of a route parameter (see routeKeys), its first and its
//     last occurrence (PHP reads the last of a repeated key, others the
//     first), whose name is compared as PHP reads it: "rest.route",
//     "rest route" and "rest[route" are rest_route.
//
// The work is bounded: one scan of the query, at most nine paths.
func QueryRoutes(canonicalPath, rawQuery string, form bool, yield func(escapedPath string) bool) {
	if rawQuery == "" {
		return
	}
	script := canonicalPath == "/" || strings.HasSuffix(canonicalPath, ".php")
	if script && !form {
		if q, ok := strings.CutPrefix(rawQuery, "/"); ok || hasPrefixFold(rawQuery, "%2f") {
			if !ok {
				q = rawQuery[len("%2f"):]
			}
			if i := strings.IndexAny(q, "&?"); i >= 0 {
				q = q[:i]
			}
			if !yield("/" + q) {
				return
			}
		}
	}
	var first, last [len(routeKeys)]string
	var seen [len(routeKeys)]int
	for rest := rawQuery; rest != ""; {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		k, v, _ := strings.Cut(pair, "=")
		if v == "" {
			continue
		}
		k = phpName(k)
		for i, rk := range routeKeys {
			if k == rk.key && (script || rk.anyPath) {
				if seen[i] == 0 {
					first[i] = v
				}
				last[i] = v
				seen[i]++
			}
		}
	}
	for i, rk := range routeKeys {
		if seen[i] == 0 {
			continue
		}
		for j, v := range [...]string{first[i], last[i]} {
			if j == 1 && (seen[i] == 1 || v == first[i]) {
				break
			}
			// A query escapes a space as +, a path does not; the empty
			// segment of /wp-json//x goes with canonicalization.
			if !yield(rk.prefix + strings.ReplaceAll(v, "+", "%20")) {
				return
			}
		}
	}
}

// QueryParam calls yield with the first and the last value (once when
// they are the same) of the parameter name in rawQuery, its name read as
// PHP reads it (see phpName), its value unescaped, until yield returns
// false: what a framework reads, whether it takes the first of a repeated
// parameter or, as PHP does, the last.
func QueryParam(rawQuery, name string, yield func(value string) bool) {
	var first, last string
	seen := 0
	for rest := rawQuery; rest != ""; {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		k, v, _ := strings.Cut(pair, "=")
		if phpName(k) != name {
			continue
		}
		if seen == 0 {
			first = v
		}
		last = v
		seen++
	}
	for i, v := range [...]string{first, last} {
		if seen == 0 || i == 1 && (seen == 1 || v == first) {
			return
		}
		if uv, err := url.QueryUnescape(v); err == nil {
			v = uv
		}
		if !yield(v) {
			return
		}
	}
}

// phpName returns the name of a query or form parameter as PHP reads it
// into $_GET and $_POST: unescaped, leading spaces dropped, and '.', ' '
// and '[' made '_' (PHP does so for '[' only when no ']' closes it; a
// name with one is an array, which no framework routes by, and matching
// it anyway costs only a false match).
func phpName(k string) string {
	if strings.ContainsAny(k, "%+") {
		if uk, err := url.QueryUnescape(k); err == nil {
			k = uk
		}
	}
	k = strings.TrimLeft(k, " ")
	if strings.ContainsAny(k, ". [") {
		k = strings.Map(func(r rune) rune {
			if r == '.' || r == ' ' || r == '[' {
				return '_'
			}
			return r
		}, k)
	}
	return k
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
