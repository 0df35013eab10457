package policies

import (
	"slices"
	"strings"
	"testing"
)

func TestQueryRoutes(t *testing.T) {
	for _, tt := range []struct {
		path, query string
		want        []string
	}{
		{"/", "", nil},
		{"/", "utm=x", nil},
		{"/", "/sign", []string{"/sign"}},                // CodeIgniter, Kohana
		{"/index.php", "/sign&x=1", []string{"/sign"}},   // the script's own query
		{"/index.php", "%2Fsign?x=1", []string{"/sign"}}, // escaped, cut at ?
		{"/page", "/sign", nil},                          // only at / or a script
		{"/", "q=sign", []string{"/sign"}},               // Drupal 7
		{"/search", "q=sign+now", []string{"/sign%20now"}},
		{"/", "r=petition/sign&x=1", []string{"/petition/sign"}},                              // Yii
		{"/index.php", "route=account/sign", []string{"/account/sign"}},                       // OpenCart
		{"/any/page", "rest_route=/petition/v1/sign", []string{"/wp-json//petition/v1/sign"}}, // WordPress
		{"/", "rest_route=%2Fpetition%2Fv1%2Fsign", []string{"/wp-json/%2Fpetition%2Fv1%2Fsign"}},
		{"/", "q=a&q=sign", []string{"/a", "/sign"}}, // PHP reads the last
		{"/", "q=a&q=b&q=a&q=sign", []string{"/a", "/sign"}},
		{"/", "q=sign&q=sign", []string{"/sign"}},
		{"/", "%71=sign", []string{"/sign"}}, // an escaped key
		{"/", "q=", nil},
		{"/", "/sign&q=x&r=y", []string{"/sign", "/x", "/y"}},
	} {
		var got []string
		QueryRoutes(tt.path, tt.query, func(p string) bool { got = append(got, p); return true })
		if !slices.Equal(got, tt.want) {
			t.Errorf("QueryRoutes(%q, %q) = %q, want %q", tt.path, tt.query, got, tt.want)
		}
	}
	n := 0
	QueryRoutes("/", "/a&q=b&r=c", func(string) bool { n++; return false })
	if n != 1 {
		t.Errorf("QueryRoutes went on after yield said stop: %d calls", n)
	}
}

// The routes of any query are few, each a path, and the work is one scan:
// a query of a million route keys yields at most two paths per key.
func FuzzQueryRoutes(f *testing.F) {
	f.Add("/", "/sign&q=a&q=b&rest_route=%2Fx")
	f.Add("/index.php", "%2f&&==&q")
	f.Add("/x", strings.Repeat("q=a&", 100))
	f.Fuzz(func(t *testing.T, path, query string) {
		n := 0
		QueryRoutes(path, query, func(p string) bool {
			n++
			if !strings.HasPrefix(p, "/") {
				t.Fatalf("route %q is not a path", p)
			}
			return true
		})
		if n > 1+2*len(routeKeys) {
			t.Fatalf("%d routes", n)
		}
	})
}
