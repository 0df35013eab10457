package policies

import (
	"bytes"
	"errors"
	"net/http"
	"net/netip"
	"slices"
	"testing"

	"github.com/rempart/rempart/internal/fuzzguard"
)

// FuzzParse feeds arbitrary bytes to Parse: it must never panic or hang,
// and must either return a policy that decides, or a ValidationError whose
// problems point into the file.
func FuzzParse(f *testing.F) {
	// Small seeds only: the fuzzer minimizes every input that finds new
	// code, and minimizing a large policy takes longer than a fuzzing run.
	f.Add([]byte(readFile(f, "testdata/broken.yaml")))
	f.Add(DefaultSource())
	for _, src := range []string{
		firstMatchPolicy, limitsPolicy, testedPolicy, takePolicy,
		ruleWith("deny", "cel: request.headers.exists(k, k.startsWith(\"X-\"))"),
		ruleWith("deny", "header:\n  X-A: true\n  X-B: \"^a+$\""),
		"rules:\n  - &a {name: a, action: allow}\n  - *a\n",
		"rules: [{name: a, action: deny, status: 418}]\n",
	} {
		f.Add([]byte(src))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzguard.WithinInput(t, fuzzguard.DefaultLimit, data, func() {
			p, err := Parse(data, "fuzz.yaml")
			if err != nil {
				if p != nil {
					t.Fatal("a policy along with an error")
				}
				var ve *ValidationError
				if !errors.As(err, &ve) || len(ve.Problems) == 0 {
					t.Fatalf("error %v (%T), want a ValidationError with problems", err, err)
				}
				lines := lineBreaks(data) + 1
				for _, problem := range ve.Problems {
					if problem.Line < 0 || problem.Line > lines || problem.Message == "" || problem.File != "fuzz.yaml" {
						t.Fatalf("problem %+v outside a file of %d lines", problem, lines)
					}
				}
				return
			}
			for _, r := range RunTests(p) {
				if !r.Passed() {
					t.Fatalf("a policy was accepted with a failing test: %+v", r)
				}
			}
			checkDecision(t, p, &Request{Method: "POST", Path: "/sign", IP: netip.MustParseAddr("203.0.113.7"), ASN: 16509, Class: "hosting"})
			checkDecision(t, p, &Request{})
		})
	})
}

// lineBreaks counts what YAML may take for a line break: \n, \r, and the
// Unicode NEL, LS and PS, so that the count bounds the file's lines.
func lineBreaks(data []byte) int {
	n := 0
	for _, br := range []string{"\n", "\r", "\u0085", "\u2028", "\u2029"} {
		n += bytes.Count(data, []byte(br))
	}
	return n
}

// FuzzDecide sends arbitrary requests through policies that use every
// kind of condition: deciding must never panic, and must give a decision
// that the caller can act on.
func FuzzDecide(f *testing.F) {
	policies := []*Policy{Default(), loadFiftyRules(f), mustParse(f, testedPolicy), mustParse(f, limitsPolicy)}
	f.Add("POST", "/sign", "petition.example.org:443", []byte{203, 0, 113, 7}, uint32(16509), "AMAZON-02", "hosting", "curl/8.5.0", "Accept-Language", "fr")
	f.Add("GET", "/robots.txt/../sign", "[2001:db8::1]:8443", netip.MustParseAddr("2001:db8::1").AsSlice(), uint32(0), "", "", "", "Referer", "")
	f.Add("", "", "", []byte{}, uint32(64496), "(?i)", "vpn", "MSIE 6.0", "X-Monitoring-Token", "0123456789abcdef0123456789abcdef")
	f.Fuzz(func(t *testing.T, method, path, host string, ip []byte, asn uint32, org, class, userAgent, headerName, headerValue string) {
		fuzzguard.Within(t, fuzzguard.DefaultLimit, func() {
			addr, _ := netip.AddrFromSlice(ip)
			req := &Request{
				Method: method, Path: path, Host: host, IP: addr, ASN: asn, Org: org, Class: class, UserAgent: userAgent,
				Header: http.Header{headerName: {headerValue}, "User-Agent": {userAgent}},
			}
			for _, p := range policies {
				checkDecision(t, p, req)
			}
		})
	})
}

// checkDecision decides req with p and checks that the decision is one
// the caller can act on, the same each time, and explained.
func checkDecision(t *testing.T, p *Policy, req *Request) {
	t.Helper()
	d := p.Decide(req)
	switch d.Action {
	case ActionAllow:
	case ActionDeny:
		if d.Status < 400 || d.Status > 599 {
			t.Fatalf("deny with status %d", d.Status)
		}
	case ActionChallenge:
		if d.Difficulty < MinDifficulty || d.Difficulty > MaxDifficulty || d.Credits < MinCredits || d.Credits > MaxCredits {
			t.Fatalf("challenge of %d bits and %d credits", d.Difficulty, d.Credits)
		}
	default:
		t.Fatalf("decision with action %q", d.Action)
	}
	if d.Rule != DefaultRuleName && p.rule(d.Rule) == nil {
		t.Fatalf("decided by rule %q, which the policy lacks", d.Rule)
	}
	budgets := p.Budgets()
	for _, name := range d.Budgets {
		if !slices.ContainsFunc(budgets, func(b Budget) bool { return b.Name == name }) {
			t.Fatalf("budget %q is not one of the policy's", name)
		}
	}
	if again := p.Decide(req); !sameDecision(d, again) {
		t.Fatalf("two decisions for one request: %+v and %+v", d, again)
	}
	if p.Explain(req) == "" {
		t.Fatal("empty explanation")
	}
}
