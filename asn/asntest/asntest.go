// Package asntest writes small IP-to-ASN databases in the formats
// package asn loads, for tests anywhere in the module: unit tests,
// and attack simulations that start a real Caddy with a database
// whose networks the test controls.
package asntest

import (
	"encoding/csv"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"go4.org/netipx"
)

// Network is one prefix of a test database and the AS that announces it.
type Network struct {
	Prefix netip.Prefix
	ASN    uint32
	Org    string
}

// WriteMMDB writes nets to path as a GeoLite2-ASN style MaxMind DB:
// records hold autonomous_system_number (uint32) and
// autonomous_system_organization, as in GeoLite2-ASN and DB-IP ASN
// Lite. Reserved and documentation prefixes (10.0.0.0/8, 192.0.2.0/24,
// 2001:db8::/32, ...) are allowed, so tests can use them. Where
// networks overlap, the later one replaces the earlier within its range.
func WriteMMDB(tb testing.TB, path string, nets []Network) {
	tb.Helper()
	if err := Write(path, nets); err != nil {
		tb.Fatal(err)
	}
}

// Write is WriteMMDB for programs that are not tests, such as the flood
// replay: it returns the error instead of failing a test.
func Write(path string, nets []Network) error {
	return writeMMDB(path, "GeoLite2-ASN", nets, func(n Network) mmdbtype.Map {
		return mmdbtype.Map{
			"autonomous_system_number":       mmdbtype.Uint32(n.ASN),
			"autonomous_system_organization": mmdbtype.String(n.Org),
		}
	})
}

// WriteIPinfoMMDB writes nets to path with the field names of IPinfo
// Lite: asn as a string such as "AS174", and as_name.
func WriteIPinfoMMDB(tb testing.TB, path string, nets []Network) {
	tb.Helper()
	err := writeMMDB(path, "IPinfo Lite", nets, func(n Network) mmdbtype.Map {
		return mmdbtype.Map{
			"asn":       mmdbtype.String(fmt.Sprintf("AS%d", n.ASN)),
			"as_name":   mmdbtype.String(n.Org),
			"as_domain": mmdbtype.String(strings.ToLower(strings.ReplaceAll(n.Org, " ", "")) + ".example"),
		}
	})
	if err != nil {
		tb.Fatal(err)
	}
}

func writeMMDB(path, dbType string, nets []Network, record func(Network) mmdbtype.Map) error {
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType: dbType,
		// Without this the writer refuses IPv6 networks such as
		// 2001::/32 that alias the IPv4 space.
		DisableIPv4Aliasing:     true,
		IncludeReservedNetworks: true,
		IPVersion:               6,
		RecordSize:              28,
	})
	if err != nil {
		return fmt.Errorf("asntest: new mmdb tree: %w", err)
	}
	for _, n := range nets {
		if err := tree.Insert(netipx.PrefixIPNet(n.Prefix.Masked()), record(n)); err != nil {
			return fmt.Errorf("asntest: insert %s: %w", n.Prefix, err)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("asntest: %w", err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("asntest: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("asntest: close %s: %w", path, err)
	}
	return nil
}

// WriteCSV writes nets to path in the ip-location-db layout
// (start,end,asn,org, no header), one line per network in order.
func WriteCSV(tb testing.TB, path string, nets []Network) {
	tb.Helper()
	var sb strings.Builder
	w := csv.NewWriter(&sb)
	for _, n := range nets {
		r := netipx.RangeOfPrefix(n.Prefix.Masked())
		if err := w.Write([]string{r.From().String(), r.To().String(), fmt.Sprint(n.ASN), n.Org}); err != nil {
			tb.Fatalf("asntest: %v", err)
		}
	}
	w.Flush()
	writeFile(tb, path, sb.String())
}

// WriteTSV writes nets to path in the iptoasn layout (range_start,
// range_end, AS_number, country_code, AS_description), with "ZZ" as
// the country.
func WriteTSV(tb testing.TB, path string, nets []Network) {
	tb.Helper()
	var sb strings.Builder
	for _, n := range nets {
		r := netipx.RangeOfPrefix(n.Prefix.Masked())
		fmt.Fprintf(&sb, "%s\t%s\t%d\tZZ\t%s\n", r.From(), r.To(), n.ASN, n.Org)
	}
	writeFile(tb, path, sb.String())
}

func writeFile(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		tb.Fatalf("asntest: %v", err)
	}
}
