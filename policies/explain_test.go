package policies

import (
	"net/netip"
	"testing"
)

func TestExplain(t *testing.T) {
	p := mustParse(t, limitsPolicy+`  - name: deny-attacker
    match: {asn: 64496}
    action: deny
    message: Fraudulent signatures came from this network.
  - name: readers
    match: {method: GET}
    action: challenge
    difficulty: 16
    credits: 3
`)
	tests := []struct {
		name string
		req  Request
		want string
	}{
		{"hosting signer", Request{Method: "POST", Path: "/sign", Host: "petition.example.org", IP: netip.MustParseAddr("203.0.113.7"), ASN: 16509, Org: "AMAZON-02", Class: "hosting"},
			`request:  POST /sign (host petition.example.org)
network:  203.0.113.7, AS16509 "AMAZON-02", class hosting
limit:    per-ip (line 2), signatures per ip at 20/h, which matches every request
limit:    challenges-per-prefix (line 10), challenges per prefix at 300/m, which matches every request
limit:    hosting-signatures (line 15), signatures per asn at 10/h, because class is hosting
limit:    hosting-per-class (line 27), signatures per class at 100/h, because class is hosting
decided:  rule hosting-harder (line 33), because class is hosting
action:   challenge at 20 bits (default 18 +2), the pass buys 1 signature
`},
		{"attacker", Request{Method: "POST", Path: "/sign", ASN: 64496},
			`request:  POST /sign
network:  no address, AS64496
limit:    per-ip (line 2), signatures per ip at 20/h, which matches every request
limit:    challenges-per-prefix (line 10), challenges per prefix at 300/m, which matches every request
decided:  rule deny-attacker (line 37), because asn is AS64496
action:   deny with status 403 and "Fraudulent signatures came from this network."
`},
		{"reader", Request{Method: "GET", Path: "/", IP: netip.MustParseAddr("2001:db8::7")},
			`request:  GET /
network:  2001:db8::7, network unknown
limit:    per-ip (line 2), signatures per ip at 20/h, which matches every request
limit:    challenges-per-prefix (line 10), challenges per prefix at 300/m, which matches every request
decided:  rule readers (line 41), because method is GET
action:   challenge at 16 bits (set by the rule; the default is 18), the pass buys 3 signatures
`},
		{"nobody", Request{Method: "POST", Path: "/sign"},
			`request:  POST /sign
network:  no address, network unknown
limit:    per-ip (line 2), signatures per ip at 20/h, which matches every request
limit:    challenges-per-prefix (line 10), challenges per prefix at 300/m, which matches every request
decided:  by the defaults, as no rule decides this request
action:   challenge at 18 bits (the default), the pass buys 1 signature
`},
		{"health", Request{Method: "GET", Path: "/healthz"},
			`request:  GET /healthz
network:  no address, network unknown
limit:    per-ip (line 2), signatures per ip at 20/h, which matches every request
decided:  rule health (line 7), because path matches /healthz
action:   allow, without any challenge or pass
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Explain(&tt.req); got != tt.want {
				t.Errorf("Explain:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}
