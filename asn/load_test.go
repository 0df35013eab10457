package asn

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// lookupCase is an address and the AS expected for it; ASN 0 means
// "not found".
type lookupCase struct {
	addr string
	asn  uint32
	org  string
}

func checkLookups(t *testing.T, tbl *Table, cases []lookupCase) {
	t.Helper()
	for _, c := range cases {
		got, ok := tbl.Lookup(mustAddr(c.addr))
		if c.asn == 0 {
			if ok {
				t.Errorf("Lookup(%s) = %+v, want not found", c.addr, got)
			}
			continue
		}
		if !ok || got.ASN != c.asn || got.Org != c.org {
			t.Errorf("Lookup(%s) = %+v, %v; want AS%d %q", c.addr, got, ok, c.asn, c.org)
		}
	}
}

func TestParseText(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		format  Format
		len     int
		lookups []lookupCase
	}{
		{
			name: "csv ip-location-db",
			data: "1.0.0.0,1.0.0.255,13335,CLOUDFLARENET\n" +
				"1.0.4.0,1.0.7.255,38803,\"Wirelink, Pty Ltd\"\n" +
				"2001:db8::,2001:db8:ffff:ffff:ffff:ffff:ffff:ffff,64496,Documentation Six\n",
			format: FormatCSV,
			len:    3,
			lookups: []lookupCase{
				{"1.0.0.1", 13335, "CLOUDFLARENET"},
				{"1.0.5.9", 38803, "Wirelink, Pty Ltd"},
				{"1.0.8.1", 0, ""},
				{"2001:db8:1::5", 64496, "Documentation Six"},
				{"::ffff:1.0.0.1", 13335, "CLOUDFLARENET"},
			},
		},
		{
			// Overlaps: the /25 inside the /24 wins for its addresses,
			// and the later line for the very same /24 replaces it.
			name: "csv overlaps",
			data: "192.0.2.0,192.0.2.255,64500,First\n" +
				"192.0.2.0,192.0.2.127,64501,Inner\n" +
				"192.0.2.0,192.0.2.255,64502,Later\n",
			format: FormatCSV,
			len:    2,
			lookups: []lookupCase{
				{"192.0.2.5", 64501, "Inner"},
				{"192.0.2.200", 64502, "Later"},
			},
		},
		{
			name:   "csv unaligned range becomes several prefixes",
			data:   "10.0.0.1,10.0.0.6,64500,Odd\n",
			format: FormatCSV,
			len:    4, // .1/32 .2/31 .4/31 .6/32
			lookups: []lookupCase{
				{"10.0.0.0", 0, ""}, {"10.0.0.1", 64500, "Odd"}, {"10.0.0.6", 64500, "Odd"}, {"10.0.0.7", 0, ""},
			},
		},
		{
			name: "csv with header, BOM, CRLF, comments, blank lines and AS prefix",
			data: "\xEF\xBB\xBFip_range_start,ip_range_end,autonomous_system_number,autonomous_system_organization\r\n" +
				"# a comment\r\n\r\n" +
				"192.0.2.0,192.0.2.255,AS64500, Spaced Org \r\n",
			format:  FormatCSV,
			len:     1,
			lookups: []lookupCase{{"192.0.2.9", 64500, "Spaced Org"}},
		},
		{
			name:    "csv numeric addresses",
			data:    "16777216,16777471,13335,CLOUDFLARENET\n42540766411282592856903984951653826560,42540766411282592856903984951653892095,64496,Six\n",
			format:  FormatCSV,
			len:     2,
			lookups: []lookupCase{{"1.0.0.9", 13335, "CLOUDFLARENET"}, {"2001:db8::abcd", 64496, "Six"}, {"2001:db8::1:0", 0, ""}},
		},
		{
			name:    "csv IPv4-mapped addresses are stored as IPv4",
			data:    "::ffff:192.0.2.0,::ffff:192.0.2.255,64500,Mapped\n",
			format:  FormatCSV,
			len:     1,
			lookups: []lookupCase{{"192.0.2.1", 64500, "Mapped"}},
		},
		{
			name:    "csv AS 0 skipped",
			data:    "192.0.2.0,192.0.2.255,0,Not routed\n198.51.100.0,198.51.100.255,64500,Routed\n",
			format:  FormatCSV,
			len:     1,
			lookups: []lookupCase{{"192.0.2.1", 0, ""}, {"198.51.100.1", 64500, "Routed"}},
		},
		{
			name: "tsv iptoasn",
			data: "1.0.0.0\t1.0.0.255\t13335\tUS\tCLOUDFLARENET\n" +
				"1.0.1.0\t1.0.3.255\t0\tNone\tNot routed\n" +
				"1.0.4.0\t1.0.7.255\t38803\tAU\tWPL-AS-AP Wirelink Communications Pty Ltd\n" +
				"2001:db8::\t2001:db8:ffff:ffff:ffff:ffff:ffff:ffff\t64496\tZZ\tDoc, with comma\n",
			format: FormatTSV,
			len:    3,
			lookups: []lookupCase{
				{"1.0.0.1", 13335, "CLOUDFLARENET"},
				{"1.0.2.1", 0, ""},
				{"1.0.6.1", 38803, "WPL-AS-AP Wirelink Communications Pty Ltd"},
				{"2001:db8::1", 64496, "Doc, with comma"},
			},
		},
		{
			name:    "tsv u32 addresses and CRLF",
			data:    "16777216\t16777471\t13335\tUS\tCLOUDFLARENET\r\n",
			format:  FormatTSV,
			len:     1,
			lookups: []lookupCase{{"1.0.0.200", 13335, "CLOUDFLARENET"}},
		},
		{
			name:    "tsv description with a tab",
			data:    "192.0.2.0\t192.0.2.255\t64500\tZZ\tName\twith tab\n",
			format:  FormatTSV,
			len:     1,
			lookups: []lookupCase{{"192.0.2.1", 64500, "Name\twith tab"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl, err := Parse([]byte(tt.data), "db")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if tbl.Format() != tt.format {
				t.Errorf("Format() = %v, want %v", tbl.Format(), tt.format)
			}
			if tbl.Len() != tt.len {
				t.Errorf("Len() = %d, want %d", tbl.Len(), tt.len)
			}
			checkLookups(t, tbl, tt.lookups)
		})
	}
}

func TestParseErrors(t *testing.T) {
	long := "1.0.0.0,1.0.0.255,1," + strings.Repeat("x", maxLineLength) + "\n"
	tests := []struct {
		name    string
		data    string
		wantErr string
		is      error
	}{
		{"empty", "", "db: empty file", errEmpty},
		{"blank lines", "\n  \n\r\n", "db: empty file", errEmpty},
		{"only not routed", "1.0.1.0\t1.0.3.255\t0\tNone\tNot routed\n", "db: empty file", errEmpty},
		{"unknown", "hello world\n", "db: unknown format", errUnknownFormat},
		{"binary garbage", "\x00\x01\x02\x03garbage", "corrupt .mmdb", errBinary},
		{"csv bad start", "192.0.2.0,192.0.2.255,1,a\n1.0.0.x,1.0.0.255,1,Org\n", `db:2: bad start address "1.0.0.x"`, nil},
		{"csv bad end", "1.0.0.0,1.0.0,1,Org\n", `db:1: bad end address "1.0.0"`, nil},
		{"csv zone", "fe80::1%eth0,fe80::2,1,Org\n", `db:1: bad start address "fe80::1%eth0"`, nil},
		{"csv end before start", "1.0.0.9,1.0.0.0,1,Org\n", "db:1: end 1.0.0.0 is before start 1.0.0.9", nil},
		{"csv mixed families", "1.0.0.0,2001:db8::,1,Org\n", "db:1: start 1.0.0.0 and end 2001:db8:: are not the same address family", nil},
		{"csv bad asn", "1.0.0.0,1.0.0.255,AS-1,Org\n", `db:1: bad AS number "AS-1"`, nil},
		{"csv asn too large", "1.0.0.0,1.0.0.255,4294967296,Org\n", `db:1: bad AS number "4294967296"`, nil},
		{"csv field count", "1.0.0.0,1.0.0.255,1\n", "db:1: want 4 fields (start,end,asn,org), got 3", nil},
		{"csv unbalanced quote", "1.0.0.0,1.0.0.255,1,\"Org\n1.0.1.0,1.0.1.255,2,Other\n", "db:1: quoted field runs past the end of the line", nil},
		{"csv long line", "1.0.0.0,1.0.0.255,1,a\n" + long, "db:2: line longer than 4096 bytes", nil},
		{"csv number beyond 128 bits", "1,999999999999999999999999999999999999999,1,a\n", `db:1: bad end address`, nil},
		{"tsv field count", "1.0.0.0\t1.0.0.255\t13335\n", "db:1: want 5 tab-separated fields", nil},
		{"tsv bad asn", "1.0.0.0\t1.0.0.255\tASX\tUS\tX\n", `db:1: bad AS number "ASX"`, nil},
		{"tsv end before start", "\n1.0.0.9\t1.0.0.0\t1\tUS\tX\n", "db:2: end 1.0.0.0 is before start 1.0.0.9", nil},
		{"gzip corrupt", "\x1f\x8b\x08\x00garbage", "db: gzip:", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl, err := Parse([]byte(tt.data), "db")
			if err == nil {
				t.Fatalf("Parse succeeded with %d prefixes, want error %q", tbl.Len(), tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", err, tt.is)
			}
		})
	}
}

// MaxMind ships GeoLite2-ASN as a .tar.gz holding the .mmdb.
func TestParseTarGz(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	content := append([]byte("not really a database"), mmdbMarker...)
	tw.WriteHeader(&tar.Header{Name: "GeoLite2-ASN_20260101/GeoLite2-ASN.mmdb", Mode: 0o644, Size: int64(len(content))})
	tw.Write(content)
	tw.Close()
	zw.Close()
	_, err := Parse(buf.Bytes(), "GeoLite2-ASN.tar.gz")
	if !errors.Is(err, errTar) || !strings.HasPrefix(err.Error(), "GeoLite2-ASN.tar.gz: a tar archive") {
		t.Errorf("error = %v, want %v", err, errTar)
	}
}

func TestParseGzip(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte("1.0.0.0\t1.0.0.255\t13335\tUS\tCLOUDFLARENET\n"))
	zw.Close()
	tbl, err := Parse(buf.Bytes(), "ip2asn-v4.tsv.gz")
	if err != nil {
		t.Fatal(err)
	}
	if tbl.Format() != FormatTSV {
		t.Errorf("Format() = %v, want tsv", tbl.Format())
	}
	checkLookups(t, tbl, []lookupCase{{"1.0.0.1", 13335, "CLOUDFLARENET"}})
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "asn.csv")
	if err := os.WriteFile(path, []byte("1.0.0.0,1.0.0.255,13335,Cloudflare\n1.0.0.0,1.0.0.x,1,a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+":2: bad end address") {
		t.Errorf("Load error = %v, want it to start with %q", err, path+":2: bad end address")
	}
	if _, err := Load(filepath.Join(dir, "missing.csv")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) error = %v, want ErrNotExist", err)
	}
}

func TestFormatString(t *testing.T) {
	for f, want := range map[Format]string{FormatMMDB: "mmdb", FormatCSV: "csv", FormatTSV: "tsv", FormatUnknown: "unknown", Format(42): "unknown"} {
		if got := f.String(); got != want {
			t.Errorf("Format(%d).String() = %q, want %q", f, got, want)
		}
	}
}

func BenchmarkLoadCSV(b *testing.B) {
	tbl, _ := benchTable(b)
	var buf bytes.Buffer
	n := 0
	for pfx, idx := range tbl.prefixes.All() {
		info := tbl.infos[idx]
		from, to := prefixRange(pfx)
		buf.WriteString(from + "," + to + "," + itoa(info.ASN) + ",\"" + info.Org + "\"\n")
		if n++; n == 100_000 {
			break
		}
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data, "bench.csv"); err != nil {
			b.Fatal(err)
		}
	}
}
