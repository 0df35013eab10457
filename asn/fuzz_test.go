package asn

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rempart/rempart/asn/asntest"
	"github.com/rempart/rempart/internal/fuzzguard"
)

// checkParsed holds for every input: an error names the input, and a
// table answers lookups without panicking, with clean organisation names
// (see CleanText).
func checkParsed(t *testing.T, tbl *Table, err error, name string) {
	t.Helper()
	if err != nil {
		if !strings.HasPrefix(err.Error(), name+":") {
			t.Fatalf("error %q does not start with %q", err, name+":")
		}
		return
	}
	for _, a := range []string{"0.0.0.0", "1.2.3.4", "255.255.255.255", "::", "2001:db8::1", "::ffff:1.2.3.4"} {
		if info, _ := tbl.Lookup(mustAddr(a)); CleanText(info.Org) != info.Org {
			t.Fatalf("Lookup(%s): organisation %q is not clean", a, info.Org)
		}
	}
}

func FuzzParseCSV(f *testing.F) {
	f.Add([]byte("1.0.0.0,1.0.0.255,13335,CLOUDFLARENET\n"))
	f.Add([]byte("2001:db8::,2001:db8::ffff,64496,\"Doc, Six\"\r\n# c\n"))
	f.Add([]byte("16777216,16777471,AS13335,\"Quoted \"\"inner\"\" org\"\n"))
	f.Add([]byte("1.0.0.9,1.0.0.0,1,x\n1.0.0.0,::1,1,\"y\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzguard.WithinInput(t, fuzzguard.DefaultLimit, data, func() {
			b := newBuilder()
			err := parseCSV(&lineLimitReader{r: bytes.NewReader(data), name: "f.csv", line: 1}, "f.csv", b)
			checkParsed(t, b.table, err, "f.csv")
		})
	})
}

func FuzzParseTSV(f *testing.F) {
	f.Add([]byte("1.0.0.0\t1.0.0.255\t13335\tUS\tCLOUDFLARENET\n"))
	f.Add([]byte("1.0.1.0\t1.0.3.255\t0\tNone\tNot routed\n"))
	f.Add([]byte("16777216\t16777471\t13335\tUS\tCLOUDFLARENET\r\n2001:db8::\t2001:db8::ff\t1\tZZ\tA\tB\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzguard.WithinInput(t, fuzzguard.DefaultLimit, data, func() {
			b := newBuilder()
			err := parseTSV(&lineLimitReader{r: bytes.NewReader(data), name: "f.tsv", line: 1}, "f.tsv", b)
			checkParsed(t, b.table, err, "f.tsv")
		})
	})
}

// FuzzParseMMDB starts from real databases of about a kilobyte, and
// from the forged ones kept in testdata/fuzz/FuzzParseMMDB. The
// fuzzer minimises every new interesting input, which for inputs of
// that size takes its whole default minimisation budget (60 s) with the
// exec counter standing still; for short runs pass -fuzzminimizetime=3s.
func FuzzParseMMDB(f *testing.F) {
	dir := f.TempDir()
	nets := []asntest.Network{
		{Prefix: mustPrefix("1.0.0.0/24"), ASN: 13335, Org: "CLOUDFLARENET"},
		{Prefix: mustPrefix("1.0.0.128/25"), ASN: 64500, Org: "Sub"},
		{Prefix: mustPrefix("2001:db8::/32"), ASN: 64496, Org: "Six"},
	}
	for i, write := range []func(testing.TB, string, []asntest.Network){asntest.WriteMMDB, asntest.WriteIPinfoMMDB} {
		path := filepath.Join(dir, fmt.Sprint(i, ".mmdb"))
		write(f, path, nets)
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add(mmdbMarker)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzguard.WithinInput(t, fuzzguard.DefaultLimit, data, func() {
			tbl, err := Parse(data, "f.mmdb")
			checkParsed(t, tbl, err, "f.mmdb")
			// Load streams the file instead: same verdict, same table.
			tbl2, err2 := ParseReader(bytes.NewReader(data), "f.mmdb")
			checkParsed(t, tbl2, err2, "f.mmdb")
			if (err == nil) != (err2 == nil) || tbl.Len() != tbl2.Len() {
				t.Fatalf("Parse: %d prefixes, %v; ParseReader: %d prefixes, %v", tbl.Len(), err, tbl2.Len(), err2)
			}
		})
	})
}

func FuzzParseASNList(f *testing.F) {
	f.Add([]byte("AS16509 # Amazon\n\n# comment\n14061\n"))
	f.Add([]byte("as1\r\nAS4294967295\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzguard.WithinInput(t, fuzzguard.DefaultLimit, data, func() { checkASNList(t, data) })
	})
}

// checkASNList holds for every input: an error names the input, and
// what was read writes back to the same list.
func checkASNList(t *testing.T, data []byte) {
	asns, err := ParseASNList(bytes.NewReader(data), "f.txt")
	if err != nil {
		if !strings.HasPrefix(err.Error(), "f.txt:") {
			t.Fatalf("error %q does not start with %q", err, "f.txt:")
		}
		return
	}
	// What was read writes back to the same list.
	var sb strings.Builder
	for _, a := range asns {
		if a == 0 {
			t.Fatal("AS0 accepted")
		}
		fmt.Fprintf(&sb, "AS%d\n", a)
	}
	again, err := ParseASNList(strings.NewReader(sb.String()), "again")
	if err != nil || len(again) != len(asns) {
		t.Fatalf("round trip: %v, %d of %d", err, len(again), len(asns))
	}
	for i := range asns {
		if again[i] != asns[i] {
			t.Fatalf("round trip changed AS%d to AS%d", asns[i], again[i])
		}
	}
}
