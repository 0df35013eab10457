package policies

import (
	"slices"
	"strings"
	"testing"
)

func TestQueryRoutes(t *testing.T) {
	for _, tt := range []struct {
		path, query string
		form        bool
		want        []string
	}{
		{"/", "", false, nil},
		{"/", "utm=x", false, nil},
		{"/", "/sign", false, []string{"/sign"}},                // CodeIgniter, Kohana
		{"/index.php", "/sign&x=1", false, []string{"/sign"}},   // the script's own query
		{"/index.php", "%2Fsign?x=1", false, []string{"/sign"}}, // escaped, cut at ?
		{"/page", "/sign", false, nil},                          // only at / or a script
		{"/", "/sign", true, nil},                               // never a form's
		{"/", "q=sign", false, []string{"/sign"}},               // Drupal 7
		{"/", "q=sign+now", false, []string{"/sign%20now"}},
		{"/search", "q=sign", false, nil},                                                               // a search, not a route
		{"/login", "r=%2Fsign", false, nil},                                                             // a return address
		{"/", "r=petition/sign&x=1", false, []string{"/petition/sign"}},                                 // Yii
		{"/index.php", "route=account/sign", false, []string{"/account/sign"}},                          // OpenCart
		{"/any/page", "rest_route=/petition/v1/sign", false, []string{"/wp-json//petition/v1/sign"}},    // WordPress, any page
		{"/", "rest_route=%2Fpetition%2Fv1%2Fsign", true, []string{"/wp-json/%2Fpetition%2Fv1%2Fsign"}}, // and its $_POST
		{"/x", "rest.route=/s", false, []string{"/wp-json//s"}},                                         // as PHP reads the name
		{"/x", "rest+route=/s", false, []string{"/wp-json//s"}},
		{"/x", "rest%20route=/s", false, []string{"/wp-json//s"}},
		{"/x", "rest[route=/s", false, []string{"/wp-json//s"}},
		{"/x", "rest%2Eroute=/s", false, []string{"/wp-json//s"}},
		{"/x", "+rest_route=/s", false, []string{"/wp-json//s"}},
		{"/", "q=a&q=sign", false, []string{"/a", "/sign"}}, // PHP reads the last
		{"/", "q=a&q=b&q=a&q=sign", false, []string{"/a", "/sign"}},
		{"/", "q=sign&q=sign", false, []string{"/sign"}},
		{"/", "%71=sign", false, []string{"/sign"}}, // an escaped key
		{"/", "q=", false, nil},
		{"/", "/sign&q=x&r=y", false, []string{"/sign", "/x", "/y"}},
	} {
		var got []string
		QueryRoutes(tt.path, tt.query, tt.form, func(p string) bool { got = append(got, p); return true })
		if !slices.Equal(got, tt.want) {
			t.Errorf("QueryRoutes(%q, %q, form %v) = %q, want %q", tt.path, tt.query, tt.form, got, tt.want)
		}
	}
	n := 0
	QueryRoutes("/", "/a&q=b&r=c", false, func(string) bool { n++; return false })
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
		QueryRoutes(path, query, len(query)%2 == 1, func(p string) bool {
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

func TestQueryParam(t *testing.T) {
	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"", nil},
		{"_method=POST", []string{"POST"}},
		{"x=1&_method=put&_method=POST", []string{"put", "POST"}}, // PHP reads the last
		{"_method=POST&_method=POST", []string{"POST"}},
		{"_method=P%4FST", []string{"POST"}},
		{"%5Fmethod=POST", []string{"POST"}},
		{".method=POST", []string{"POST"}}, // PHP reads .method as _method
		{"_method", []string{""}},
	} {
		var got []string
		QueryParam(tt.query, "_method", func(v string) bool { got = append(got, v); return true })
		if !slices.Equal(got, tt.want) {
			t.Errorf("QueryParam(%q) = %q, want %q", tt.query, got, tt.want)
		}
	}
}
