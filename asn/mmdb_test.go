package asn

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/rempart/rempart/asn/asntest"
)

var testNetworks = []asntest.Network{
	{Prefix: mustPrefix("192.0.2.0/24"), ASN: 64500, Org: "Example Hosting"},
	{Prefix: mustPrefix("192.0.2.128/25"), ASN: 64501, Org: "Example Sub"},
	{Prefix: mustPrefix("198.51.100.0/24"), ASN: 64500, Org: "Example Hosting"},
	{Prefix: mustPrefix("10.0.0.0/8"), ASN: 64502, Org: "Private, Inc."},
	{Prefix: mustPrefix("2001:db8::/32"), ASN: 64503, Org: "Doc Six"},
	{Prefix: mustPrefix("2001:db8:1::/48"), ASN: 64504, Org: "Doc Six Sub"},
}

var testLookups = []lookupCase{
	{"192.0.2.1", 64500, "Example Hosting"},
	{"192.0.2.200", 64501, "Example Sub"},
	{"::ffff:192.0.2.200", 64501, "Example Sub"},
	{"198.51.100.9", 64500, "Example Hosting"},
	{"10.1.2.3", 64502, "Private, Inc."},
	{"2001:db8::1", 64503, "Doc Six"},
	{"2001:db8:1::1", 64504, "Doc Six Sub"},
	{"203.0.113.1", 0, ""},
	{"2001:db9::1", 0, ""},
}

func TestLoadFormats(t *testing.T) {
	writers := []struct {
		name   string
		write  func(testing.TB, string, []asntest.Network)
		format Format
	}{
		{"geolite2.mmdb", asntest.WriteMMDB, FormatMMDB},
		{"ipinfo.mmdb", asntest.WriteIPinfoMMDB, FormatMMDB},
		{"asn.csv", asntest.WriteCSV, FormatCSV},
		{"ip2asn.tsv", asntest.WriteTSV, FormatTSV},
	}
	for _, w := range writers {
		t.Run(w.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), w.name)
			w.write(t, path, testNetworks)
			tbl, err := Load(path)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if tbl.Format() != w.format {
				t.Errorf("Format() = %v, want %v", tbl.Format(), w.format)
			}
			checkLookups(t, tbl, testLookups)
		})
	}
}

// writeTree builds a MaxMind DB with arbitrary records, for shapes the
// asntest helpers do not produce.
func writeTree(t *testing.T, opts mmdbwriter.Options, records map[string]mmdbtype.Map) []byte {
	t.Helper()
	tree, err := mmdbwriter.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	for cidr, rec := range records {
		_, ipnet, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		if err := tree.Insert(ipnet, rec); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "tree.mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestMMDBShapes(t *testing.T) {
	asnRecord := func(n uint64, org string) mmdbtype.Map {
		return mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint64(n), "autonomous_system_organization": mmdbtype.String(org)}
	}
	t.Run("IPv4 aliasing is not stored three more times", func(t *testing.T) {
		// Real GeoLite2 and DB-IP files alias the IPv4 tree under
		// ::ffff:0:0/96, 2001::/32 and 2002::/16.
		data := writeTree(t, mmdbwriter.Options{DatabaseType: "GeoLite2-ASN", IPVersion: 6}, map[string]mmdbtype.Map{
			"1.0.0.0/24":     asnRecord(13335, "CLOUDFLARENET"),
			"2a00:1450::/32": asnRecord(15169, "GOOGLE"),
		})
		tbl, err := Parse(data, "aliased.mmdb")
		if err != nil {
			t.Fatal(err)
		}
		if tbl.Len() != 2 {
			t.Errorf("Len() = %d, want 2", tbl.Len())
		}
		checkLookups(t, tbl, []lookupCase{{"1.0.0.1", 13335, "CLOUDFLARENET"}, {"2a00:1450::1", 15169, "GOOGLE"}})
	})
	t.Run("IPv4-only database and uint64 AS numbers", func(t *testing.T) {
		data := writeTree(t, mmdbwriter.Options{DatabaseType: "DBIP-ASN-Lite", IPVersion: 4, RecordSize: 24}, map[string]mmdbtype.Map{
			"1.0.0.0/24": asnRecord(13335, "CLOUDFLARENET"),
		})
		tbl, err := Parse(data, "v4.mmdb")
		if err != nil {
			t.Fatal(err)
		}
		checkLookups(t, tbl, []lookupCase{{"1.0.0.1", 13335, "CLOUDFLARENET"}, {"1.0.1.1", 0, ""}})
	})
	t.Run("IPinfo networks without an AS are skipped", func(t *testing.T) {
		data := writeTree(t, mmdbwriter.Options{DatabaseType: "ipinfo", IPVersion: 6}, map[string]mmdbtype.Map{
			"1.0.0.0/24": {"asn": mmdbtype.String("AS13335"), "as_name": mmdbtype.String("Cloudflare, Inc."), "country": mmdbtype.String("AU")},
			"1.0.1.0/24": {"asn": mmdbtype.String(""), "country": mmdbtype.String("CN")},
		})
		tbl, err := Parse(data, "ipinfo.mmdb")
		if err != nil {
			t.Fatal(err)
		}
		checkLookups(t, tbl, []lookupCase{{"1.0.0.1", 13335, "Cloudflare, Inc."}, {"1.0.1.1", 0, ""}})
	})
}

func TestMMDBErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "good.mmdb")
	asntest.WriteMMDB(t, path, testNetworks)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	corruptTree := append([]byte(nil), good...)
	for i := range 64 { // the first nodes of the search tree
		corruptTree[i] = 0xff
	}
	tests := []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"truncated to half", good[:len(good)/2], "corrupt"},
		{"metadata cut short", good[:len(good)-8], "not a valid MaxMind DB"},
		{"search tree overwritten", corruptTree, "corrupt MaxMind DB"},
		{"marker only", []byte("\xAB\xCD\xEFMaxMind.com"), "not a valid MaxMind DB"},
		{"city database", writeTree(t, mmdbwriter.Options{DatabaseType: "GeoLite2-City"}, map[string]mmdbtype.Map{
			"1.0.0.0/24": {"country": mmdbtype.Map{"iso_code": mmdbtype.String("AU")}},
		}), `no network carries an AS number: is this an ASN database? (its type is "GeoLite2-City")`},
		{"asn of the wrong type", writeTree(t, mmdbwriter.Options{DatabaseType: "odd"}, map[string]mmdbtype.Map{
			"1.0.0.0/24": {"asn": mmdbtype.Float64(1.5)},
		}), "record for 1.0.0.0/24: at offset 0, path /asn: AS number stored as Float64"},
		{"asn string not a number", writeTree(t, mmdbwriter.Options{DatabaseType: "odd"}, map[string]mmdbtype.Map{
			"1.0.0.0/24": {"asn": mmdbtype.String("AS-x")},
		}), `bad AS number "AS-x"`},
		{"asn beyond 32 bits", writeTree(t, mmdbwriter.Options{DatabaseType: "odd"}, map[string]mmdbtype.Map{
			"1.0.0.0/24": {"autonomous_system_number": mmdbtype.Uint64(1 << 40)},
		}), "exceeds 32 bits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl, err := Parse(tt.data, "db.mmdb")
			if err == nil {
				t.Fatalf("Parse succeeded with %d prefixes, want error containing %q", tbl.Len(), tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "db.mmdb: ") || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q: want prefix %q and to contain %q", err, "db.mmdb: ", tt.wantErr)
			}
		})
	}
}

// A search tree whose nodes share children has exponentially many
// paths; walking them all would hang, so Parse must give up.
func TestMMDBSharedNodes(t *testing.T) {
	data := writeTree(t, mmdbwriter.Options{DatabaseType: "GeoLite2-ASN", IPVersion: 4, RecordSize: 24}, map[string]mmdbtype.Map{
		"1.2.3.0/24": {"autonomous_system_number": mmdbtype.Uint32(64500)},
	})
	r, err := maxminddb.OpenBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	nodeCount := uint32(r.Metadata.NodeCount)
	r.Close()
	// Each node on the path to 1.2.3.0/24 has one child and one empty
	// record; point both records at the child, so that all 2^24
	// addresses reach the same leaf through distinct paths.
	for n := range nodeCount {
		left, right := data[n*6:n*6+3], data[n*6+3:n*6+6]
		if record24(left) < nodeCount {
			copy(right, left)
		} else if record24(right) < nodeCount {
			copy(left, right)
		}
	}
	_, err = Parse(data, "dag.mmdb")
	if !errors.Is(err, errNotATree) {
		t.Fatalf("error = %v, want %v", err, errNotATree)
	}
}

// record24 reads a 24-bit search tree record.
func record24(b []byte) uint32 { return uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]) }

func TestIsIPv4Alias(t *testing.T) {
	for pfx, want := range map[string]bool{
		"::ffff:1.0.0.0/120": true,
		"2001::/32":          true,
		"2001:0:1::/48":      true,
		"2002:100::/24":      true,
		"2001:db8::/32":      false,
		"2000::/3":           false, // contains the aliases but is not inside one
		"1.0.0.0/24":         false,
	} {
		if got := isIPv4Alias(netip.MustParsePrefix(pfx)); got != want {
			t.Errorf("isIPv4Alias(%s) = %v, want %v", pfx, got, want)
		}
	}
}

func BenchmarkLoadMMDB(b *testing.B) {
	tbl, _ := benchTable(b)
	nets := make([]asntest.Network, 0, 100_000)
	for pfx, idx := range tbl.prefixes.All4() {
		info := tbl.infos[idx]
		nets = append(nets, asntest.Network{Prefix: pfx, ASN: info.ASN, Org: info.Org})
		if len(nets) == cap(nets) {
			break
		}
	}
	path := filepath.Join(b.TempDir(), "bench.mmdb")
	asntest.WriteMMDB(b, path, nets)
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data, "bench.mmdb"); err != nil {
			b.Fatal(err)
		}
	}
}

// Organisation names are chosen by whoever registers an AS, and staff
// read them in a terminal (`rempart asn lookup`, `rempart explain`), in
// logs and on the dashboard: a newline in one would forge a line of
// output, an escape sequence would drive the terminal, a bidirectional
// override would reorder what is shown. Every format loads them with
// each such character, and any invalid UTF-8, replaced by U+FFFD.
func TestHostileOrgNames(t *testing.T) {
	writers := []struct {
		name   string
		write  func(testing.TB, string, []asntest.Network)
		cannot string // what the format cannot carry in a name
	}{
		{"geolite2.mmdb", asntest.WriteMMDB, ""},
		{"ipinfo.mmdb", asntest.WriteIPinfoMMDB, ""},
		{"asn.csv", asntest.WriteCSV, "\r\n"},
		{"ip2asn.tsv", asntest.WriteTSV, "\r\n\t"},
	}
	names := []struct{ org, want string }{
		{"Evil\nlookup:   52.94.1.1  AS16509  Amazon", "Evil\ufffdlookup:   52.94.1.1  AS16509  Amazon"},
		{"Evil\r\ndecided:  rule allow-all", "Evil\ufffd\ufffddecided:  rule allow-all"},
		{"Evil\tHosting", "Evil\tHosting"}, // real descriptions hold tabs
		{"Evil\x1b]0;owned\x07\x1b[2J", "Evil\ufffd]0;owned\ufffd\ufffd[2J"},
		{"Evil\u009b31m\x7f", "Evil\ufffd31m\ufffd"},
		{"Evil \u202egnp.exe\u2066", "Evil \ufffdgnp.exe\ufffd"},
		{"Evil \xff\xfe Hosting", "Evil \ufffd\ufffd Hosting"},
		{"Société Générale – 東京", "Société Générale – 東京"},
	}
	for _, w := range writers {
		t.Run(w.name, func(t *testing.T) {
			// Text files are told from binary ones by their first 512
			// bytes: the names come after clean lines.
			var nets []asntest.Network
			for i := range 32 {
				nets = append(nets, asntest.Network{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), 32), ASN: 64400, Org: "Clean Hosting"})
			}
			var lookups []lookupCase
			for i, n := range names {
				if strings.ContainsAny(n.org, w.cannot) {
					continue
				}
				if strings.HasSuffix(w.name, ".mmdb") && !utf8.ValidString(n.org) {
					continue // MaxMind DB strings are UTF-8: the writer would refuse it
				}
				addr := netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})
				nets = append(nets, asntest.Network{Prefix: netip.PrefixFrom(addr, 32), ASN: 64500 + uint32(i), Org: n.org})
				lookups = append(lookups, lookupCase{addr.String(), 64500 + uint32(i), n.want})
			}
			path := filepath.Join(t.TempDir(), w.name)
			w.write(t, path, nets)
			tbl, err := Load(path)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			var hostile, kept int
			for i, c := range lookups {
				if c.org == nets[32+i].Org {
					continue // a clean name
				}
				hostile++
				if got, _ := tbl.Lookup(mustAddr(c.addr)); got.Org != c.org {
					kept++
				}
			}
			checkLookups(t, tbl, lookups)
			if kept > 0 {
				t.Errorf("%d of %d hostile names kept characters that forge output or drive a terminal, want 0", kept, hostile)
			}
		})
	}
}
