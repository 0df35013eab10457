package policies

import (
	"net/http"
	"net/netip"
	"testing"
)

// benchRequests are requests to the 50-rule policy of
// testdata/fifty-rules.yaml, from the cheapest to decide to the dearest.
var benchRequests = []struct {
	name string
	req  Request
}{
	{"reader-falls-through-to-rule-50", Request{
		Method: "GET", Path: "/petitions/petition-3", Host: "petitions.example.org",
		IP: netip.MustParseAddr("198.51.100.7"), ASN: 3215, Org: "Orange", UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
		Header: http.Header{"Accept-Language": {"fr-FR,fr;q=0.9"}, "Referer": {"https://petitions.example.org/"}},
	}},
	{"hosting-signer-five-limits", Request{
		Method: "POST", Path: "/petitions/petition-7/sign", Host: "petitions.example.org",
		IP: netip.MustParseAddr("203.0.113.250"), ASN: 16509, Org: "AMAZON-02", Class: "hosting", UserAgent: "Mozilla/5.0",
		Header: http.Header{"Accept-Language": {"fr"}, "Referer": {"https://petitions.example.org/petitions/petition-7"}},
	}},
	{"signer-reaches-cel-rule", Request{
		Method: "POST", Path: "/sign", Host: "petitions.example.org",
		IP: netip.MustParseAddr("198.51.100.8"), ASN: 12322, Org: "Free SAS", UserAgent: "Mozilla/5.0",
		Header: http.Header{"Accept-Language": {"fr"}, "User-Agent": {"Mozilla/5.0"}},
	}},
}

func loadFiftyRules(tb testing.TB) *Policy {
	tb.Helper()
	p, err := Load("testdata/fifty-rules.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	if n := len(p.Rules()); n != 50 {
		tb.Fatalf("testdata/fifty-rules.yaml has %d rules, want 50", n)
	}
	return p
}

var decisionSink Decision

// BenchmarkDecide50Rules decides requests against a realistic policy of 50
// rules: allow and deny rules, ASN and prefix lists, regular expressions
// on the user agent, the organisation and the path, headers, hosts, 31
// limit rules and one CEL rule.
func BenchmarkDecide50Rules(b *testing.B) {
	p := loadFiftyRules(b)
	for _, bench := range benchRequests {
		b.Run(bench.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				decisionSink = p.Decide(&bench.req)
			}
		})
	}
}
