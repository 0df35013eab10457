package asn

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseASNList(t *testing.T) {
	in := "# providers\n\nAS16509 # Amazon\n  as14061\t# DigitalOcean\n24940\n\r\nAS4294967295\n"
	got, err := ParseASNList(strings.NewReader(in), "list.txt")
	if err != nil {
		t.Fatal(err)
	}
	want := []uint32{16509, 14061, 24940, 4294967295}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}

	for _, tt := range []struct{ in, wantErr string }{
		{"AS1\nAS12x\n", `list.txt:2: bad AS number "AS12x"`},
		{"AS1 AS2\n", `list.txt:1: want one AS number per line, got "AS1 AS2"`},
		{"\n\nAS0\n", "list.txt:3: AS0 is reserved"},
		{"AS4294967296\n", `list.txt:1: bad AS number "AS4294967296"`},
		{"-5\n", `list.txt:1: bad AS number "-5"`},
		{"AS1\n" + strings.Repeat("1", maxLineLength+1) + "\n", "list.txt:2: line longer than 4096 bytes"},
	} {
		if _, err := ParseASNList(strings.NewReader(tt.in), "list.txt"); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ParseASNList(%.20q) error = %v, want %q", tt.in, err, tt.wantErr)
		}
	}
}

func TestLoadASNList(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vpn.txt")
	if err := os.WriteFile(path, []byte("AS9009\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := LoadASNList(path)
	if err != nil || !slices.Equal(got, []uint32{9009}) {
		t.Errorf("LoadASNList = %v, %v; want [9009]", got, err)
	}
	if _, err := LoadASNList(path + ".missing"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadASNList(missing) error = %v, want ErrNotExist", err)
	}
}

func TestHostingASNs(t *testing.T) {
	asns := HostingASNs()
	if len(asns) < 50 {
		t.Fatalf("built-in hosting list has %d entries, want the major providers", len(asns))
	}
	seen := make(map[uint32]bool)
	for _, a := range asns {
		if seen[a] {
			t.Errorf("AS%d listed twice", a)
		}
		seen[a] = true
	}
	// One well-known AS per provider the list promises.
	for name, asn := range map[string]uint32{
		"AWS": 16509, "Google Cloud": 396982, "Azure": 8075, "OVH": 16276, "Hetzner": 24940,
		"DigitalOcean": 14061, "Scaleway": 12876, "Linode": 63949, "Vultr": 20473, "Contabo": 51167,
		"Oracle": 31898, "Alibaba": 45102, "Tencent": 132203, "IONOS": 8560, "Leaseweb": 60781, "M247": 9009,
	} {
		if !seen[asn] {
			t.Errorf("%s (AS%d) missing from the hosting list", name, asn)
		}
	}
	// Relays that carry real users must not be classed as hosting.
	for _, asn := range []uint32{13335, 54113, 36183, 29447} {
		if seen[asn] {
			t.Errorf("AS%d must not be in the hosting list", asn)
		}
	}
	// Every entry names its sources.
	for i, line := range strings.Split(hostingList, "\n") {
		if strings.HasPrefix(line, "AS") && !strings.Contains(line, "[") {
			t.Errorf("lists/hosting.txt:%d: entry without a source: %q", i+1, line)
		}
	}
	asns[0] = 0
	if HostingASNs()[0] == 0 {
		t.Error("HostingASNs returns a shared slice")
	}
}

func TestClasses(t *testing.T) {
	var c Classes
	c.Add("hosting", []uint32{16509, 24940})
	c.Add("vpn", []uint32{9009, 24940}) // 24940 stays "hosting": added first
	c.Add("mine", []uint32{64500})
	c.Add("hosting", []uint32{64500}) // now first in "hosting", which comes before "mine"
	for asn, want := range map[uint32]string{16509: "hosting", 24940: "hosting", 9009: "vpn", 64500: "hosting", 3215: ""} {
		if got := c.Of(asn); got != want {
			t.Errorf("Of(%d) = %q, want %q", asn, got, want)
		}
	}
	if got := c.Names(); !slices.Equal(got, []string{"hosting", "vpn", "mine"}) {
		t.Errorf("Names() = %v", got)
	}
	var nilClasses *Classes
	if nilClasses.Of(16509) != "" || nilClasses.Names() != nil {
		t.Error("nil Classes must be empty")
	}
	var empty Classes
	if empty.Of(16509) != "" {
		t.Error("empty Classes found a class")
	}
	allocs := testing.AllocsPerRun(100, func() { c.Of(16509); c.Of(3215) })
	if allocs != 0 {
		t.Errorf("Of allocates %v times per run, want 0", allocs)
	}
}
