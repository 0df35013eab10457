package policies

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/rempart/rempart/internal/race"
)

// aliases are request paths (as received, or decoded) and their canonical
// form; "" when Canonicalize must refuse them. The first ones are what
// Express, Flask/Werkzeug, Django, Rails, PHP or Spring/Tomcat route to
// the handler of /sign.
var aliases = []struct {
	path, want string
}{
	{"/sign", "/sign"},
	{"/SIGN", "/sign"},
	{"/Sign", "/sign"},
	{"/sign/", "/sign"},
	{"/sign//", "/sign"},
	{"//sign", "/sign"},
	{"///sign", "/sign"},
	{"/./sign", "/sign"},
	{"/sign/.", "/sign"},
	{"/a/../sign", "/sign"},
	{"/a/b/../../sign", "/sign"},
	{"/../sign", "/sign"},
	{"/../../../sign", "/sign"},
	{"/sign/x/..", "/sign"},
	{"/%2Fsign", "/sign"},
	{"/%2fsign", "/sign"},
	{"/%252Fsign", "/sign"},
	{"/%25252Fsign", "/sign"},
	{"/%73ign", "/sign"},
	{"/%73%69%67%6e", "/sign"},
	{"/%53%49%47%4E", "/sign"},
	{"/%2573ign", "/sign"},
	{"/%2e/sign", "/sign"},
	{"/%2e%2e/sign", "/sign"},
	{"/a/%2e%2e/sign", "/sign"},
	{"/a%2f..%2fsign", "/sign"},
	{"/a/%252e%252e/sign", "/sign"},
	{"/sign;jsessionid=x", "/sign"},
	{"/sign;", "/sign"},
	{"/sign;a=b;c=d", "/sign"},
	{"/;x/sign", "/sign"},
	{"/x/..;/sign", "/sign"},
	{"/sign;x=%2F..%2Fother", "/sign"},
	{"/sign%3bjsessionid=x", "/sign"},
	{`\sign`, "/sign"},
	{`\\sign\`, "/sign"},
	{`/a\..\sign`, "/sign"},
	{"/%5Csign", "/sign"},
	{"/%5c..%5csign", "/sign"},
	{"/sign%20", "/sign"},
	{"/%20sign%20/", "/sign"},
	{"/sign.json", "/sign.json"}, // canonical, and POST /sign by its extension
	{"/Sign.JSON", "/sign.json"},
	{"/ſign", "/sign"}, // long s: Java's equalsIgnoreCase("ſign", "sign")
	{"/%C5%BFign", "/sign"},
	{"/\u212Aey", "/key"},   // Kelvin sign
	{"/s\u0131gn", "/sign"}, // dotless i
	{"/petitions/Climat/SIGN/", "/petitions/climat/sign"},
	{"/petitions//climat/./sign", "/petitions/climat/sign"},
	{"/petitions/a/b/../sign", "/petitions/a/sign"},
	{"/petitions/climat%2Fsign", "/petitions/climat/sign"},

	// Plain paths, kept as they are or only cleaned.
	{"/", "/"},
	{"//", "/"},
	{"/.", "/"},
	{"/..", "/"},
	{"/;x", "/"},
	{"/%2F", "/"},
	{"/signature", "/signature"},
	{"/sign2", "/sign2"},
	{"/static/sign.js", "/static/sign.js"},
	{"/p%C3%A9titions/No%C3%ABl", "/pétitions/noël"},
	{"/PÉTITIONS", "/pétitions"},
	{"/a b/c", "/a b/c"},
	{"/a+b", "/a+b"},
	{"/a%2Bb", "/a+b"},
	{"/[x]", "/[x]"},
	{"/...", "/..."},
	{"/.hidden", "/.hidden"},

	// Refused.
	{"", ""},
	{"sign", ""},
	{"*", ""},
	{"%2Fsign", ""},
	{"/sign%", ""},
	{"/sign%2", ""},
	{"/sign%zz", ""},
	{"/sign%2G", ""},
	{"/sign%25", ""},         // a literal % once decoded
	{"/sign%25zz", ""},       // likewise
	{"/%2525252Fsign", ""},   // still %2F after three rounds
	{"/%252525252Fsign", ""}, // and deeper
	{"/sign%00", ""},         // NUL
	{"/sign%2500", ""},       // NUL after two rounds
	{"/si\x00gn", ""},        // NUL as given
	{"/sign%0A", ""},         // line feed
	{"/sign%0d%0aX-Injected:1", ""},
	{"/sign%09", ""},    // tab
	{"/sign%7F", ""},    // DEL
	{"/sign%C2%85", ""}, // NEL, a C1 control
	{"/sign%FF", ""},    // not UTF-8
	{"/sign\xff", ""},   // likewise, as given
	{"/%C0%AFsign", ""}, // overlong slash
	{"/sign%3Fx=1", ""}, // encoded ?
	{"/sign%23x", ""},   // encoded #
	{"/" + strings.Repeat("a", MaxCanonicalPath), ""},
}

func TestCanonicalizeAliases(t *testing.T) {
	for _, tt := range aliases {
		got, err := Canonicalize("POST", tt.path)
		if tt.want == "" {
			if !errors.Is(err, ErrUncanonical) {
				t.Errorf("Canonicalize(%q) = %q, %v; want an error wrapping ErrUncanonical", tt.path, got.Path, err)
			}
			continue
		}
		if err != nil || got.Path != tt.want || got.Method != "POST" {
			t.Errorf("Canonicalize(%q) = %+v, %v; want %q", tt.path, got, err, tt.want)
			continue
		}
		if again, err := Canonicalize(got.Method, got.Path); err != nil || again != got {
			t.Errorf("Canonicalize(%q) = %+v, %v; not idempotent", got.Path, again, err)
		}
	}
}

func TestCanonicalizeLongestPath(t *testing.T) {
	p := "/" + strings.Repeat("a", MaxCanonicalPath-1)
	if c, err := Canonicalize("GET", p); err != nil || c.Path != p {
		t.Errorf("a path of exactly %d bytes: %v", MaxCanonicalPath, err)
	}
}

func TestCanonicalizeMethods(t *testing.T) {
	for _, tt := range []struct{ method, want string }{
		{"POST", "POST"}, {"post", "POST"}, {"Post", "POST"}, {"pOsT", "POST"},
		{"M-SEARCH", "M-SEARCH"}, {"x~!#$%&'*+.^_`|", "X~!#$%&'*+.^_`|"},
		{"", ""}, {"PO ST", ""}, {"POST\x00", ""}, {"PO\tST", ""}, {"POST/", ""},
		{"PÖST", ""}, {"(POST)", ""}, {"PO\"ST", ""}, {"POST\r\n", ""}, {"@", ""},
	} {
		got, err := Canonicalize(tt.method, "/sign")
		if tt.want == "" {
			if !errors.Is(err, ErrUncanonical) {
				t.Errorf("Canonicalize(%q) = %q, %v; want ErrUncanonical", tt.method, got.Method, err)
			}
			continue
		}
		if err != nil || got.Method != tt.want {
			t.Errorf("Canonicalize(%q) = %q, %v; want %q", tt.method, got.Method, err, tt.want)
		}
	}
}

// TestFoldRuneIdempotent checks, for every code point, that folding twice
// folds once, that the fold is lower case, and that no other character
// than a letter folds to ASCII, and to a letter only from a letter that
// Java or .NET match to it case-insensitively.
func TestFoldRuneIdempotent(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		f := foldRune(r)
		if foldRune(f) != f {
			t.Fatalf("foldRune(%U) = %U, whose fold is %U", r, f, foldRune(f))
		}
		if unicode.ToLower(f) != f {
			t.Fatalf("foldRune(%U) = %U, which is not lower case", r, f)
		}
		if r >= utf8.RuneSelf && f < utf8.RuneSelf {
			if !unicode.IsLetter(r) || !('a' <= f && f <= 'z') || unicode.ToUpper(r) == r && unicode.ToLower(r) != f {
				t.Fatalf("foldRune(%U) = %q", r, f)
			}
		}
	}
}

func TestCanonicalizeAllocatesNothingWhenCanonical(t *testing.T) {
	for _, p := range []string{"/", "/sign", "/petitions/climat-2025/sign", "/static/app.v2.js", "/a~b_c!$&'()*+,=:@"} {
		var c Canonical
		var err error
		allocs := testing.AllocsPerRun(100, func() { c, err = Canonicalize("POST", p) })
		if err != nil || c.Path != p {
			t.Errorf("Canonicalize(%q) = %q, %v", p, c.Path, err)
		}
		if allocs != 0 {
			t.Errorf("Canonicalize(%q) allocates %v times", p, allocs)
		}
	}
}

var canonicalSink Canonical

// BenchmarkCanonicalize canonicalises a path in canonical form already
// (it must allocate nothing: run with -benchmem) and aliases of it.
func BenchmarkCanonicalize(b *testing.B) {
	for _, bench := range []struct{ name, method, path string }{
		{"canonical", "POST", "/petitions/climat-2025/sign"},
		{"upper-case", "post", "/Petitions/Climat-2025/SIGN"},
		{"dot-segments", "POST", "/petitions/x/../climat-2025/./sign/"},
		{"double-encoded", "POST", "/petitions%252Fclimat-2025%252F%2573ign;jsessionid=0123456789"},
	} {
		b.Run(bench.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				canonicalSink, _ = Canonicalize(bench.method, bench.path)
			}
		})
	}
}

// signatureOptions protect POST /sign and POST /petitions/*/sign, as a
// Caddyfile's protect lines would.
var signatureOptions = ParseOptions{Signatures: Endpoints{{Method: "POST", Path: "/sign"}, {Method: "post", Path: "/Petitions/*/Sign/"}}}

func TestAliasesAreSignatures(t *testing.T) {
	fromOptions, err := signatureOptions.Parse([]byte("rules: []\n"), "options")
	if err != nil {
		t.Fatal(err)
	}
	fromFile := mustParse(t, "signatures: [POST /sign, \"POST /petitions/*/sign\"]\n")
	fromLimits, err := LimitsPolicy(nil, "Caddyfile limits", signatureOptions)
	if err != nil {
		t.Fatal(err)
	}
	chain := Chain{fromLimits, mustParse(t, "rules: []\n")}
	isSignature := map[string]func(Canonical) bool{
		"options": fromOptions.IsSignature, "file": fromFile.IsSignature, "chain": chain.IsSignature,
	}
	for _, tt := range aliases {
		if tt.want == "" || !strings.HasSuffix(tt.want, "/sign") {
			continue
		}
		for _, method := range []string{"POST", "post", "Post"} {
			c, err := Canonicalize(method, tt.path)
			if err != nil {
				t.Fatal(err)
			}
			for name, is := range isSignature {
				if !is(c) {
					t.Errorf("%s %s (%s): not a signature of %s", method, tt.path, c, name)
				}
			}
		}
	}
	for _, tt := range []struct {
		method, path string
		want         bool
	}{
		{"POST", "/sign.json", true}, // Rails /sign(.:format), Spring /sign.*
		{"POST", "/SIGN.JSON", true},
		{"POST", "/sign.", true},
		{"POST", "/sign.xml.gz", true},
		{"POST", "/sign;x=1.json", true},
		{"POST", "/petitions/climat/sign.json", true},
		{"POST", "/petitions/climat/sign.json/", true},
		{"GET", "/sign", false},
		{"HEAD", "/sign", false},
		{"OPTIONS", "/sign", false},
		{"PUT", "/sign", true}, // a petition that does not check the method takes it as POST /sign
		{"DELETE", "/sign", true},
		{"PATCH", "/SIGN/", true},
		{"PROPFIND", "/sign", true},
		{"POST", "/signature", false},
		{"POST", "/sign2", false},
		{"POST", "/signs", false},
		{"POST", "/sign/x", false},
		{"POST", "/x/sign", false},
		{"POST", "/static/sign.js", false},
		{"POST", "/.sign", false},
		{"POST", "/s.ign", false},
		{"POST", "/petitions/a/b/sign", false},
		{"POST", "/petitions/sign", false},
		{"POST", "/petitions/climat/sign/x", false},
		{"POST", "/", false},
	} {
		c, err := Canonicalize(tt.method, tt.path)
		if err != nil {
			t.Fatal(err)
		}
		for name, is := range isSignature {
			if got := is(c); got != tt.want {
				t.Errorf("%s %s (%s): signature of %s %v, want %v", tt.method, tt.path, c, name, got, tt.want)
			}
		}
	}
}

func TestEndpointMatchesCanonical(t *testing.T) {
	tests := []struct {
		e    Endpoint
		c    Canonical
		want bool
	}{
		{Endpoint{"*", "/sign"}, Canonical{"DELETE", "/sign"}, true},
		{Endpoint{"POST", "/SIGN/"}, Canonical{"POST", "/sign"}, true},
		{Endpoint{"POST", "/a/../sign"}, Canonical{"POST", "/sign"}, true},
		{Endpoint{"POST", "/sign.php"}, Canonical{"POST", "/sign.php"}, true},
		{Endpoint{"POST", "/sign.php"}, Canonical{"POST", "/sign.php/x/y"}, true}, // PATH_INFO
		{Endpoint{"POST", "/*.php"}, Canonical{"POST", "/sign.php/x"}, true},
		{Endpoint{"POST", "/sign.php"}, Canonical{"POST", "/sign.phpx"}, false},
		{Endpoint{"POST", "/sign.php"}, Canonical{"POST", "/x/sign.php"}, false},
		{Endpoint{"POST", "/sign"}, Canonical{"POST", "/sign/x.json"}, false},
		{Endpoint{"POST", "/sign"}, Canonical{"POST", "/sign.json"}, true},
		{Endpoint{"POST", "sign"}, Canonical{"POST", "sign"}, false}, // invalid: matches nothing
		{Endpoint{"POST", "/s[i]gn"}, Canonical{"POST", "/sign"}, true},
		{Endpoint{"POST", "/Ş*"}, Canonical{"POST", "/şx"}, true},
		{Endpoint{"POST", "/sign"}, Canonical{"PUT", "/sign"}, true},
		{Endpoint{"POST", "/sign"}, Canonical{"X-SIGN", "/sign"}, true},
		{Endpoint{"POST", "/sign"}, Canonical{"GET", "/sign"}, false},
		{Endpoint{"DELETE", "/sign"}, Canonical{"POST", "/sign"}, true},
		{Endpoint{"GET", "/vote"}, Canonical{"HEAD", "/vote"}, true},    // the GET handler answers HEAD
		{Endpoint{"GET", "/vote"}, Canonical{"POST", "/vote"}, true},    // $_GET is read whatever the method
		{Endpoint{"GET", "/vote"}, Canonical{"OPTIONS", "/vote"}, true}, // so is a script run for OPTIONS
		{Endpoint{"GET", "/vote"}, Canonical{"GET", "/vote/x"}, false},
		{Endpoint{"POST", "/sign"}, Canonical{"HEAD", "/sign"}, false},
		{Endpoint{"POST", "/sign"}, Canonical{"POST", "/index.php/sign"}, true}, // a front controller's PATH_INFO
		{Endpoint{"POST", "/sign"}, Canonical{"POST", "/app.php/sign.json"}, true},
		{Endpoint{"POST", "/sign"}, Canonical{"POST", "/index.php/x/sign"}, false},
		{Endpoint{"POST", "/sign"}, Canonical{"POST", "/indexphp/sign"}, false},
		{Endpoint{"POST", "/sign"}, Canonical{"POST", "/a.php/b.php/sign"}, true},
		{Endpoint{"POST", "/petitions/*/sign"}, Canonical{"POST", "/index.php/petitions/climat/sign"}, true},
	}
	for _, tt := range tests {
		if got := tt.e.MatchesCanonical(tt.c); got != tt.want {
			t.Errorf("%s MatchesCanonical(%s) = %v, want %v", tt.e, tt.c, got, tt.want)
		}
	}
	e := Endpoint{Method: "POST", Path: "/petitions/*/sign"}
	c := Canonical{Method: "POST", Path: "/petitions/climat/sign.json"}
	if allocs := testing.AllocsPerRun(100, func() { e.MatchesCanonical(c) }); allocs != 0 {
		t.Errorf("MatchesCanonical allocates %v times", allocs)
	}
}

// A signature sent with another method that writes (or any method, for an
// endpoint that only reads) is decided in the form of the endpoint it
// reaches, so rules written for POST /sign price it; an endpoint that names
// the request's own method wins.
func TestSignatureFormTakesTheEndpointsMethod(t *testing.T) {
	p := mustParse(t, "signatures:\n  - POST /sign\n  - PUT /sign\n  - \"* /any\"\n  - GET /vote\nrules: []\n")
	server, err := ParseOptions{Signatures: Endpoints{{"POST", "/petition"}}}.Parse([]byte("rules: []\n"), "server")
	if err != nil {
		t.Fatal(err)
	}
	chain := Chain{server, p}
	tests := []struct {
		method, path string
		want         string // the form, or "" when not a signature
	}{
		{"POST", "/sign", "POST /sign"},
		{"PUT", "/sign", "PUT /sign"},
		{"DELETE", "/SIGN/", "POST /sign"},
		{"PATCH", "/%73ign", "POST /sign"},
		{"DELETE", "/any", "DELETE /any"},
		{"GET", "/any", "GET /any"},
		{"GET", "/vote", "GET /vote"},
		{"POST", "/vote", "GET /vote"},
		{"HEAD", "/vote", "GET /vote"},
		{"GET", "/sign", ""},
		{"POST", "/index.php/sign", "POST /sign"}, // decided as the route its front controller runs
		{"PUT", "/petition", "POST /petition"},
	}
	for _, tt := range tests {
		c, err := Canonicalize(tt.method, tt.path)
		if err != nil {
			t.Fatal(err)
		}
		form, ok := chain.Signature(c)
		got := ""
		if ok {
			got = form.String()
		}
		if got != tt.want {
			t.Errorf("%s %s: form %q, want %q", tt.method, tt.path, got, tt.want)
		}
		req := Request{Method: tt.method, Path: tt.path}
		if req.MarkSignature(chain) != (tt.want != "") || tt.want != "" && req.Method+" "+req.Path != tt.want {
			t.Errorf("%s %s: MarkSignature gives %s %s signature=%v, want %q", tt.method, tt.path, req.Method, req.Path, req.Signature, tt.want)
		}
	}
}

func TestSignaturesSection(t *testing.T) {
	p := mustParse(t, "signatures:\n  - POST /sign\n  - \"put /Petitions/*/SIGN/\"\n  - \"* /contact\"\nrules: []\n")
	want := Endpoints{{"POST", "/sign"}, {"PUT", "/petitions/*/sign"}, {"*", "/contact"}}
	if got := p.Signatures(); len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("Signatures() = %v, want %v", got, want)
	}
	for _, src := range []string{"signatures:\nrules: []\n", "signatures: []\n", "signatures: POST /sign\n"} {
		mustParse(t, src)
	}
	for _, tt := range []struct{ src, want string }{
		{"rules: []\nsignatures:\n  - POST /sign\n  - /sign\n", `p.yaml:4: signatures: "/sign": want a method and a path separated by a space`},
		{"signatures:\n  - POST /sign x\n", `p.yaml:2: signatures: "POST /sign x": want a method and a path`},
		{"signatures:\n  - POST sign\n", `p.yaml:2: signatures: "POST sign": path "sign": want an absolute path`},
		{"signatures:\n  - PO(ST /sign\n", `p.yaml:2: signatures: "PO(ST /sign": method "PO(ST": want an HTTP method`},
		{"signatures:\n  - POST /[x\n", `p.yaml:2: signatures: "POST /[x": path "/[x": bad glob`},
		{"signatures:\n  - POST /%73ign\n", `p.yaml:2: signatures: "POST /%73ign": path "/%73ign": '%': write the path decoded`},
		{"signatures:\n  - POST /sign;x\n", `p.yaml:2: signatures: "POST /sign;x": path "/sign;x": ';'`},
		{"signatures:\n  - [POST, /sign]\n", `p.yaml:2: signatures: want a single value in the list, got a list`},
		{"signatures: {POST: /sign}\n", `p.yaml:1: signatures: want one value or a non-empty list`},
		{"signature: [POST /sign]\n", `unknown field "signature" in the policy (did you mean "signatures"?)`},
	} {
		_, err := Parse([]byte(tt.src), "p.yaml")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want %q", tt.src, err, tt.want)
		}
	}
	_, err := ParseOptions{Signatures: Endpoints{{"POST", "sign"}}}.Parse([]byte("rules: []\n"), "p.yaml")
	if err == nil || !strings.Contains(err.Error(), "signature endpoint POST sign, from the server's configuration") {
		t.Errorf("a bad signature endpoint in the options: %v", err)
	}
}

// signaturePolicy has rules written for the plain /sign, some in mixed
// case, and limits, so that aliases of a signature must be decided by the
// same rules as the plain request.
const signaturePolicy = `signatures: [POST /sign, "POST /petitions/*/sign"]
rules:
  - name: per-ip
    action: limit
    counts: signatures
    per: ip
    rate: 20/hour
  - name: sign-hosting
    match: {path: [/sign, /petitions/*/sign], class: hosting}
    action: limit
    counts: signatures
    per: asn
    rate: 10/hour
  - name: deny-curl
    match: {method: post, path: /Sign/, user_agent: curl}
    action: deny
  - name: regex-sign
    match: {path_regex: "^/petitions/[a-z]+/sign$", asn: 64500}
    action: challenge
    difficulty: 30
  - name: cel-sign
    match: {cel: 'request.path == "/sign" && request.method == "POST"', asn: 64501}
    action: challenge
    difficulty: 25
  - name: glob-sign
    match: {method: POST, path: "/PETITIONS/*/SIGN"}
    action: challenge
    difficulty_delta: 2
  - name: hosting-harder
    match: {class: hosting}
    action: challenge
    difficulty_delta: 3
`

func TestAliasedSignaturesDecideAsCanonical(t *testing.T) {
	p := mustParse(t, signaturePolicy)
	clients := []Request{
		{IP: netip.MustParseAddr("198.51.100.7")},
		{IP: netip.MustParseAddr("203.0.113.7"), ASN: 16509, Class: "hosting"},
		{IP: netip.MustParseAddr("198.51.100.8"), UserAgent: "curl/8.5.0"},
		{IP: netip.MustParseAddr("198.51.100.9"), ASN: 64500},
		{IP: netip.MustParseAddr("198.51.100.10"), ASN: 64501},
	}
	rules := make(map[string]bool)
	for _, plain := range []string{"/sign", "/petitions/climat/sign"} {
		for _, client := range clients {
			want := client
			want.Method, want.Path, want.Signature = "POST", plain, true
			wantDecision := p.Decide(&want)
			rules[wantDecision.Rule] = true
			for _, alias := range []string{
				plain, strings.ToUpper(plain), plain + "/", "/" + plain, "/." + plain, "/a/.." + plain,
				strings.Replace(plain, "sign", "%73ign", 1), strings.Replace(plain, "sign", "%2573ign", 1),
				plain + ";jsessionid=x", strings.ReplaceAll(plain, "/", `\`), "/" + strings.ReplaceAll(plain[1:], "/", "%2F"),
				"/" + strings.ReplaceAll(plain[1:], "/", "%252F"), strings.Replace(plain, "sign", "ſign", 1),
				plain + ".json", "/index.php" + plain, "/app.php" + plain + ".json",
			} {
				c, err := Canonicalize("post", alias)
				if err != nil {
					t.Fatalf("Canonicalize(%q): %v", alias, err)
				}
				form, ok := p.Signature(c)
				if !ok {
					t.Fatalf("POST %s is not a signature", alias)
				}
				if strings.HasSuffix(alias, ".json") && client.ASN == 64501 {
					continue // CEL sees the canonical path, /sign.json, as it is
				}
				req := client
				req.Method, req.Path, req.Signature = form.Method, form.Path, true
				got := p.Decide(&req)
				if !got.Signature {
					t.Errorf("POST %s: the decision is not marked as a signature's", alias)
				}
				if !sameDecision(got, wantDecision) {
					t.Errorf("POST %s from %v: %+v\nwant, as POST %s: %+v", alias, client.IP, got, plain, wantDecision)
				}
			}
		}
	}
	for _, rule := range []string{"deny-curl", "regex-sign", "cel-sign", "glob-sign", "hosting-harder", DefaultRuleName} {
		if !rules[rule] {
			t.Errorf("no request was decided by %s: the test does not test it", rule)
		}
	}

	// Without Signature, rules match the path as it is, cleaned.
	raw := p.Decide(&Request{Method: "POST", Path: "/SIGN", UserAgent: "curl/8.5.0"})
	if raw.Rule == "deny-curl" || raw.Signature {
		t.Errorf("POST /SIGN not marked as a signature was decided as one: %+v", raw)
	}
}

// TestDecideSignatureAllocatesNoMore checks that deciding a signature
// request, in canonical form, allocates no more than deciding it as it is.
func TestDecideSignatureAllocatesNoMore(t *testing.T) {
	skipUnderRace(t)
	p := loadFiftyRules(t)
	for _, bench := range benchRequests {
		req := bench.req
		c, err := Canonicalize(req.Method, req.Path)
		if err != nil {
			t.Fatal(err)
		}
		req.Method, req.Path, req.Signature = c.Method, c.Path, true
		want := p.Decide(&bench.req)
		if got := p.Decide(&req); got.Rule != want.Rule {
			t.Errorf("%s: decided by %s as a signature, by %s otherwise", bench.name, got.Rule, want.Rule)
		}
		allocs := testing.AllocsPerRun(100, func() { decisionSink = p.Decide(&req) })
		if rawAllocs := testing.AllocsPerRun(100, func() { decisionSink = p.Decide(&bench.req) }); allocs > rawAllocs {
			t.Errorf("%s: Decide of a signature allocates %v times, %v otherwise", bench.name, allocs, rawAllocs)
		}
	}
}

// BenchmarkDecideSignature decides the requests of BenchmarkDecide50Rules
// as signature requests, in canonical form: it must allocate no more.
func BenchmarkDecideSignature(b *testing.B) {
	p := loadFiftyRules(b)
	for _, bench := range benchRequests {
		req := bench.req
		c, err := Canonicalize(req.Method, req.Path)
		if err != nil {
			b.Fatal(err)
		}
		req.Method, req.Path, req.Signature = c.Method, c.Path, true
		b.Run(bench.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				decisionSink = p.Decide(&req)
			}
		})
	}
}

// skipUnderRace skips an allocation test under the race detector, whose
// instrumentation allocates (and drops sync.Pool items at random).
func skipUnderRace(t *testing.T) {
	t.Helper()
	if race.Enabled {
		t.Skip("allocations are not counted under the race detector")
	}
}

// CanonicalMethod is the method of Canonicalize, without a path.
func TestCanonicalMethod(t *testing.T) {
	for _, m := range []string{"POST", "post", "Delete", "M-SEARCH", "(", "", "GET /", "é"} {
		want, werr := Canonicalize(m, "/")
		got, err := CanonicalMethod(m)
		if got != want.Method || (err == nil) != (werr == nil) || (err != nil && !errors.Is(err, ErrUncanonical)) {
			t.Errorf("CanonicalMethod(%q) = %q, %v; Canonicalize gives %q, %v", m, got, err, want.Method, werr)
		}
	}
}
