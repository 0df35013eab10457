package asn

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func mustAddr(s string) netip.Addr     { return netip.MustParseAddr(s) }

func testTable() *Table {
	b := newBuilder()
	b.insert(mustPrefix("192.0.2.0/24"), Info{ASN: 64500, Org: "Doc Net"})
	b.insert(mustPrefix("192.0.2.128/25"), Info{ASN: 64501, Org: "Doc Sub"})
	b.insert(mustPrefix("198.51.100.0/24"), Info{ASN: 64500, Org: "Doc Net"})
	b.insert(mustPrefix("2001:db8::/32"), Info{ASN: 64502, Org: "Doc Six"})
	return b.table
}

func TestTableLookup(t *testing.T) {
	tbl := testTable()
	tests := []struct {
		addr   string
		want   Info
		wantOK bool
	}{
		{"192.0.2.1", Info{64500, "Doc Net"}, true},
		{"192.0.2.200", Info{64501, "Doc Sub"}, true}, // most specific wins
		{"198.51.100.7", Info{64500, "Doc Net"}, true},
		{"::ffff:192.0.2.1", Info{64500, "Doc Net"}, true}, // 4in6 is unmapped
		{"::ffff:192.0.2.200", Info{64501, "Doc Sub"}, true},
		{"2001:db8::1", Info{64502, "Doc Six"}, true},
		{"fe80::1%eth0", Info{}, false},
		{"2001:db9::1", Info{}, false},
		{"203.0.113.1", Info{}, false},
		{"::192.0.2.1", Info{}, false}, // IPv4-compatible is not IPv4-mapped
	}
	for _, tt := range tests {
		got, ok := tbl.Lookup(mustAddr(tt.addr))
		if ok != tt.wantOK || got != tt.want {
			t.Errorf("Lookup(%s) = %+v, %v; want %+v, %v", tt.addr, got, ok, tt.want, tt.wantOK)
		}
	}
	if got, ok := tbl.Lookup(netip.Addr{}); ok {
		t.Errorf("Lookup(invalid) = %+v, true; want false", got)
	}
	if got := tbl.Len(); got != 4 {
		t.Errorf("Len() = %d, want 4", got)
	}
	// The two "Doc Net" prefixes share one interned Info.
	if got := len(tbl.infos); got != 3 {
		t.Errorf("distinct infos = %d, want 3", got)
	}
}

func TestNilTable(t *testing.T) {
	var tbl *Table
	if _, ok := tbl.Lookup(mustAddr("192.0.2.1")); ok {
		t.Error("nil table found an address")
	}
	if tbl.Len() != 0 || tbl.Format() != FormatUnknown {
		t.Errorf("nil table: Len %d, Format %v", tbl.Len(), tbl.Format())
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	tbl := testTable()
	addrs := []netip.Addr{mustAddr("192.0.2.200"), mustAddr("::ffff:198.51.100.7"), mustAddr("2001:db8::1"), mustAddr("203.0.113.1")}
	allocs := testing.AllocsPerRun(100, func() {
		for _, a := range addrs {
			tbl.Lookup(a)
		}
	})
	if allocs != 0 {
		t.Errorf("Lookup allocates %v times per run, want 0", allocs)
	}
}

// benchTable builds a table shaped like a full IPv4 routing table
// (about 500k prefixes, /8 to /24, 70k distinct ASes) plus 100k IPv6
// prefixes, and addresses to look up, half of them inside the table.
func benchTable(tb testing.TB) (*Table, []netip.Addr) {
	tb.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	b := newBuilder()
	var addrs []netip.Addr
	for b.table.prefixes.Size4() < 500_000 {
		var a [4]byte
		v := rng.Uint32()
		a[0], a[1], a[2], a[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
		pfx := netip.PrefixFrom(netip.AddrFrom4(a), 8+rng.IntN(17)).Masked()
		asn := 1 + rng.Uint32N(70_000)
		b.insert(pfx, Info{ASN: asn, Org: orgName(asn)})
		if len(addrs) < 4096 {
			addrs = append(addrs, netip.AddrFrom4(a), netip.AddrFrom4([4]byte{byte(v), byte(v >> 8), 7, 9}))
		}
	}
	for b.table.prefixes.Size6() < 100_000 {
		var a [16]byte
		a[0], a[1] = 0x20, byte(rng.IntN(16))
		for i := 2; i < 8; i++ {
			a[i] = byte(rng.Uint32())
		}
		pfx := netip.PrefixFrom(netip.AddrFrom16(a), 24+rng.IntN(25)).Masked()
		asn := 1 + rng.Uint32N(70_000)
		b.insert(pfx, Info{ASN: asn, Org: orgName(asn)})
		if len(addrs) < 8192 {
			a[15] = 1
			addrs = append(addrs, netip.AddrFrom16(a))
		}
	}
	return b.table, addrs
}

func orgName(asn uint32) string {
	return "Org " + string(rune('A'+asn%26)) + string(rune('a'+asn/26%26))
}

func BenchmarkLookup(b *testing.B) {
	tbl, addrs := benchTable(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tbl.Lookup(addrs[i%len(addrs)])
		i++
	}
}
