package policies

import (
	"net/http"
	"net/netip"
	"regexp"
	"regexp/syntax"
	"testing"
)

// mustParse compiles src or fails the test.
func mustParse(t testing.TB, src string) *Policy {
	t.Helper()
	p, err := Parse([]byte(src), "policy.yaml")
	if err != nil {
		t.Fatalf("%v\nin:\n%s", err, src)
	}
	return p
}

// signer is a request from a browser at home signing a petition.
func signer() Request {
	return Request{
		Method: "POST", Path: "/sign", Host: "petition.example.org",
		IP: netip.MustParseAddr("198.51.100.7"), ASN: 3215, Org: "Orange", Class: "",
		UserAgent: "Mozilla/5.0 (Android 15; Mobile; rv:140.0) Gecko/140.0 Firefox/140.0",
		Header: http.Header{
			"Accept-Language": {"fr-FR,fr;q=0.9"},
			"Referer":         {"https://petition.example.org/"},
			"Cookie":          {"a=1", "b=2"},
		},
	}
}

func TestConditions(t *testing.T) {
	with := func(change func(*Request)) Request {
		r := signer()
		change(&r)
		return r
	}
	tests := []struct {
		name string
		cond string
		req  Request
		want bool
	}{
		{"method", "method: POST", signer(), true},
		{"method in a list", "method: [GET, POST]", signer(), true},
		{"method written in lower case", "method: post", signer(), true},
		{"other method", "method: GET", signer(), false},

		{"exact path", "path: /sign", signer(), true},
		{"other path", "path: /signature", signer(), false},
		{"glob", "path: /petitions/*/sign", with(func(r *Request) { r.Path = "/petitions/climat/sign" }), true},
		{"glob does not cross /", "path: /petitions/*", with(func(r *Request) { r.Path = "/petitions/climat/sign" }), false},
		{"path list", `path: [/a, "/s?gn"]`, signer(), true},
		{"path matched cleaned", "path: /sign", with(func(r *Request) { r.Path = "/robots.txt/../sign" }), true},
		{"path with double slash matched cleaned", "path: /sign", with(func(r *Request) { r.Path = "//sign" }), true},
		{"trailing slash kept", "path: /sign", with(func(r *Request) { r.Path = "/sign/" }), false},
		{"escaped glob character", `path: /a\*`, with(func(r *Request) { r.Path = "/a*" }), true},

		{"path regex", `path_regex: "^/(sign|petitions/[^/]+/sign)$"`, signer(), true},
		{"path regex miss", `path_regex: "^/api/"`, signer(), false},

		{"host", "host: petition.example.org", signer(), true},
		{"host ignores case and port", "host: Petition.Example.org", with(func(r *Request) { r.Host = "PETITION.example.ORG:8443" }), true},
		{"host ignores a trailing dot", "host: petition.example.org.", with(func(r *Request) { r.Host = "petition.example.org." }), true},
		{"host of an IPv6 literal with port", `host: "[2001:db8::1]"`, with(func(r *Request) { r.Host = "[2001:db8::1]:443" }), true},
		{"other host", "host: [a.example.org, b.example.org]", signer(), false},

		{"asn as a number", "asn: 3215", signer(), true},
		{"asn written AS", "asn: [AS16509, as3215]", signer(), true},
		{"other asn", "asn: AS16509", signer(), false},
		{"unknown asn never matches", "asn: 3215", with(func(r *Request) { r.ASN = 0 }), false},

		{"class", "class: hosting", with(func(r *Request) { r.Class = "hosting" }), true},
		{"class list", "class: [vpn, hosting]", with(func(r *Request) { r.Class = "hosting" }), true},
		{"no class", "class: hosting", signer(), false},

		{"org regex", `org: "(?i)^orange"`, signer(), true},
		{"org regex is case-sensitive by default", `org: "^ORANGE"`, signer(), false},

		{"cidr", "cidr: [203.0.113.0/24, 198.51.100.0/24]", signer(), true},
		{"cidr single address", "cidr: 198.51.100.7", signer(), true},
		{"cidr not masked", "cidr: 198.51.100.99/24", signer(), true},
		{"cidr miss", "cidr: 198.51.101.0/24", signer(), false},
		{"cidr IPv6", "cidr: 2001:db8::/32", with(func(r *Request) { r.IP = netip.MustParseAddr("2001:db8:1::7") }), true},
		{"cidr IPv4-mapped client", "cidr: 198.51.100.0/24", with(func(r *Request) { r.IP = netip.MustParseAddr("::ffff:198.51.100.7") }), true},
		{"cidr IPv4-mapped prefix", "cidr: ::ffff:198.51.100.0/120", signer(), true},
		{"cidr without client address", "cidr: 0.0.0.0/0", with(func(r *Request) { r.IP = netip.Addr{} }), false},

		{"user agent", `user_agent: "(?i)firefox"`, signer(), true},
		{"user agent miss", `user_agent: "curl/"`, signer(), false},

		{"header regex", "header:\n  Accept-Language: \"^fr\"", signer(), true},
		{"header name in any case", "header:\n  accept-language: \"^fr\"", signer(), true},
		{"header regex on any value", "header:\n  Cookie: \"^b=\"", signer(), true},
		{"header regex miss", "header:\n  Accept-Language: \"^de\"", signer(), false},
		{"header regex on an absent header", "header:\n  X-Token: \".*\"", signer(), false},
		{"header present", "header:\n  Referer: true", signer(), true},
		{"header present but absent", "header:\n  X-Token: true", signer(), false},
		{"header absent", "header:\n  X-Token: false", signer(), true},
		{"header absent but present", "header:\n  Referer: false", signer(), false},
		{"header absent without headers", "header:\n  Referer: false", with(func(r *Request) { r.Header = nil }), true},
		{"every header condition", "header:\n  Referer: true\n  X-Token: true", signer(), false},

		{"cel", `cel: request.method == "POST" && request.path == "/sign"`, signer(), true},
		{"cel on the network", `cel: request.asn == 3215 && request.org == "Orange" && request.class == "" && request.ip == "198.51.100.7"`, signer(), true},
		{"cel sees the host lower-case without port", `cel: request.host == "petition.example.org"`, with(func(r *Request) { r.Host = "Petition.example.org:443" }), true},
		{"cel sees the cleaned path", `cel: request.path == "/sign"`, with(func(r *Request) { r.Path = "/a/../sign" }), true},
		{"cel headers", `cel: request.headers["Accept-Language"].startsWith("fr") && "Referer" in request.headers`, signer(), true},
		{"cel joins repeated headers", `cel: request.headers["Cookie"] == "a=1, b=2"`, signer(), true},
		{"cel user agent", `cel: request.user_agent.lowerAscii().contains("firefox")`, signer(), true},
		{"cel false", `cel: request.asn > 60000`, signer(), false},
		{"cel error does not match", `cel: request.headers["X-Token"] == "x"`, signer(), false},
		{"cel without address", `cel: request.ip == ""`, with(func(r *Request) { r.IP = netip.Addr{} }), true},

		{"all conditions", "method: POST\npath: /sign\nasn: 3215\nheader:\n  Referer: true\ncel: request.org == \"Orange\"", signer(), true},
		{"one condition fails", "method: POST\npath: /sign\nasn: 16509", signer(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, ruleWith("deny", tt.cond))
			d := p.Decide(&tt.req)
			if got := d.Rule == "r"; got != tt.want {
				t.Errorf("match:\n%s\nmatched %v, want %v (decision %+v)", tt.cond, got, tt.want, d)
			}
		})
	}
}

func TestCELCostLimit(t *testing.T) {
	// Quadratic work over a long header: beyond the cost limit, the
	// evaluation stops and the rule does not match.
	p := mustParse(t, ruleWith("deny", `cel: request.headers["X-Long"].split(",").all(a, request.headers["X-Long"].split(",").all(b, a == b))`))
	long := make([]byte, 0, 8192)
	for range 4096 {
		long = append(long, 'a', ',')
	}
	req := signer()
	req.Header.Set("X-Long", string(long))
	if d := p.Decide(&req); d.Rule == "r" {
		t.Errorf("an evaluation over the cost limit matched")
	}
	req.Header.Set("X-Long", "a,a")
	if d := p.Decide(&req); d.Rule != "r" {
		t.Errorf("a cheap evaluation of the same rule did not match: %+v", d)
	}
}

func TestConditionsDescribed(t *testing.T) {
	p := mustParse(t, ruleWith("deny", `cel: |
  request.asn > 0 &&
    request.path != "/"
header:
  x-token: true
user_agent: curl
cidr: [192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32, 10.0.0.0/8]
org: "(?i)ovh"
class: hosting
asn: [16509, AS14061]
host: Petition.Example.org
path_regex: ^/api/
path: [/sign, /petitions/*/sign]
method: [get, POST]`))
	want := []string{
		"method is GET or POST",
		"path matches /sign or /petitions/*/sign",
		"path matches regex ^/api/",
		"host is petition.example.org",
		"asn is AS16509 or AS14061",
		"class is hosting",
		"org matches regex (?i)ovh",
		"ip is in 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32 or 1 more",
		"user_agent matches regex curl",
		"header X-Token is present",
		`cel request.asn > 0 && request.path != "/"`,
	}
	got := p.Rules()[0].Conditions
	if len(got) != len(want) {
		t.Fatalf("conditions described as\n%q\nwant\n%q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("condition %d described as %q, want %q", i, got[i], want[i])
		}
	}
}

func TestCleanPath(t *testing.T) {
	for in, want := range map[string]string{
		"/":                  "/",
		"/sign":              "/sign",
		"/a/b/":              "/a/b/",
		"//sign":             "/sign",
		"/a/./b":             "/a/b",
		"/a/../b/":           "/b/",
		"/..":                "/",
		"/a/..":              "/",
		"/.well-known/../x/": "/x/",
		"":                   "",
		"*":                  "*",
	} {
		if got := cleanPath(in); got != want {
			t.Errorf("cleanPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStripPort(t *testing.T) {
	for in, want := range map[string]string{
		"example.org":        "example.org",
		"example.org:8443":   "example.org",
		"example.org.:443":   "example.org",
		"[2001:db8::1]:8443": "[2001:db8::1]",
		"[2001:db8::1]":      "[2001:db8::1]",
		"2001:db8::1":        "2001:db8::1",
		"":                   "",
	} {
		if got := stripPort(in); got != want {
			t.Errorf("stripPort(%q) = %q, want %q", in, got, want)
		}
	}
}

// A regular expression is refused as matching every value only when it
// does: an empty match at the start or the end of any value.
func TestMatchesEverything(t *testing.T) {
	for _, c := range []struct {
		re   string
		want bool
	}{
		{"(?i)", true}, {"^", true}, {"$", true}, {`\A`, true}, {"(?s).*", true}, {".*", true}, {"x*", true},
		{"(x|)", true}, {"^(?i)(?:bot)?", true}, {"(?:a*){2,}", true}, {"(?m)^", true},
		{"^$", false}, {"(?m)^$", false}, {"(?i)bot", false}, {"^/api/", false}, {`\b`, false}, {".", false},
		{"x+", false}, {"^(a|b)", false}, {"(?:a*)+b", false}, {`(?i)^mozilla/5\.0`, false},
	} {
		parsed, err := syntax.Parse(c.re, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		if got := matchesEverything(parsed); got != c.want {
			t.Errorf("%q: matches everything %v, want %v", c.re, got, c.want)
		}
		if re := regexp.MustCompile(c.re); c.want && (!re.MatchString("") || !re.MatchString("Mozilla/5.0\n/sign")) {
			t.Errorf("%q: said to match every value, misses one", c.re)
		}
	}
}
