package policies

import (
	"net/url"
	"strings"
)

// routeKeys are the query parameters that some frameworks route by, in
// place of the path, and the path prefix of what they name: Drupal 7's q
// (?q=sign is /sign), Yii's r (?r=petition/sign), OpenCart's route, and
// WordPress's rest_route (?rest_route=/petition/v1/sign is
// /wp-json/petition/v1/sign, on any path WordPress serves).
var routeKeys = [...]struct{ key, prefix string }{
	{"q", "/"}, {"r", "/"}, {"route", "/"}, {"rest_route", "/wp-json/"},
}

// QueryRoutes calls yield with each path, escaped as in rawQuery, that a
// framework may route the request to from its query string rather than
// its path, until yield returns false:
//
//   - the query itself, up to its first & or ?, when it starts with / and
//     the canonical path is / or a PHP script: CodeIgniter and Kohana route
//     /index.php?/sign and /?/sign to /sign;
//   - the value of a route parameter (see routeKeys), its first and its
//     last occurrence (PHP reads the last of a repeated key, others the
//     first).
//
// The work is bounded: one scan of the query, at most nine paths.
func QueryRoutes(canonicalPath, rawQuery string, yield func(escapedPath string) bool) {
	if rawQuery == "" {
		return
	}
	if canonicalPath == "/" || strings.HasSuffix(canonicalPath, ".php") {
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
		if strings.Contains(k, "%") {
			if uk, err := url.QueryUnescape(k); err == nil {
				k = uk
			}
		}
		for i, rk := range routeKeys {
			if k == rk.key && v != "" {
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

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
