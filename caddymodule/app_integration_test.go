package caddymodule_test

import (
	"fmt"
	"net/http"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/rempart/rempart/asn/asntest"
)

// startASNSite runs a real Caddy (on the package's shared admin port and
// site port) whose rempart app reads a database of a few real networks,
// and whose routes answer with what the asn matcher and placeholders
// saw. serverOptions goes in the global servers block.
func startASNSite(t *testing.T, serverOptions string) *caddytest.Tester {
	t.Helper()
	db := filepath.Join(t.TempDir(), "asn.mmdb")
	asntest.WriteMMDB(t, db, []asntest.Network{
		{Prefix: netip.MustParsePrefix("52.94.0.0/16"), ASN: 16509, Org: "Amazon.com, Inc."},
		{Prefix: netip.MustParsePrefix("1.1.1.0/24"), ASN: 13335, Org: "Cloudflare, Inc."},
		{Prefix: netip.MustParsePrefix("127.0.0.0/8"), ASN: 64500, Org: "Loopback"},
	})
	tester := caddytest.NewTester(t)
	tester.InitServer(fmt.Sprintf(`
	{
		admin localhost:2999
		http_port 9180
		https_port 9543
		grace_period 1ns
		auto_https off
		servers {
			%s
		}
		rempart {
			asn_db %s
			class cdn AS13335
		}
	}
	http://localhost:9180 {
		handle /cel {
			@amazon expression `+"`asn('AS16509', 'org:(?i)^amazon')`"+`
			respond @amazon "cel amazon" 200
			respond "cel other" 200
		}
		@hosting asn class:hosting
		respond @hosting "hosting {http.rempart.asn} {http.rempart.asn_org}" 200
		@cdn asn class:cdn
		respond @cdn "cdn {http.rempart.asn_class}" 200
		respond "other AS{http.rempart.asn} {http.rempart.asn_org}" 200
	}`, serverOptions, db), "caddyfile")
	return tester
}

func getFrom(t *testing.T, tester *caddytest.Tester, path, forwardedFor, want string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://localhost:9180"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", forwardedFor)
	}
	tester.AssertResponse(req, http.StatusOK, want)
}

func TestASNBehindTrustedProxy(t *testing.T) {
	tester := startASNSite(t, `
			trusted_proxies static 127.0.0.1/32
			trusted_proxies_strict
			client_ip_headers X-Forwarded-For`)
	tests := []struct {
		name, path, forwardedFor, want string
	}{
		{"hosting network", "/", "52.94.1.1", "hosting 16509 Amazon.com, Inc."},
		{"admin class", "/", "1.1.1.1", "cdn cdn"},
		{"unknown network", "/", "192.0.2.1", "other AS "},
		{"no header: the proxy itself", "/", "", "other AS64500 Loopback"},
		{"CEL match", "/cel", "52.94.1.1", "cel amazon"},
		{"CEL miss", "/cel", "1.1.1.1", "cel other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getFrom(t, tester, tt.path, tt.forwardedFor, tt.want)
		})
	}
}

func TestASNIgnoresUntrustedForwarding(t *testing.T) {
	tester := startASNSite(t, "")
	// Without trusted_proxies the header is anyone's to write: the client
	// is the connection's address.
	getFrom(t, tester, "/", "52.94.1.1", "other AS64500 Loopback")
	getFrom(t, tester, "/cel", "52.94.1.1", "cel other")
}
