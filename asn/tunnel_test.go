package asn

import (
	"net/netip"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/oschwald/maxminddb-golang/v2"
)

// teredo returns the Teredo address of a client at client (behind a NAT
// that mapped it to port 40000) using the Teredo server 65.54.227.120.
func teredo(client string) string {
	c := mustAddr(client).As4()
	b := [16]byte{0x20, 0x01, 0, 0, 65, 54, 227, 120, 0x80, 0x00, ^byte(40000 >> 8), ^byte(40000 & 0xff)}
	for i := range c {
		b[12+i] = ^c[i]
	}
	return netip.AddrFrom16(b).String()
}

func TestClientAddr(t *testing.T) {
	tests := []struct {
		name, addr string
		want       string
		tunnel     Tunnel
	}{
		{"IPv4", "3.0.113.7", "3.0.113.7", NoTunnel},
		{"private IPv4", "10.0.0.1", "10.0.0.1", NoTunnel},
		{"IPv4-mapped", "::ffff:3.0.113.7", "3.0.113.7", NoTunnel},
		{"ordinary IPv6", "2a00:1450:4007::1", "2a00:1450:4007::1", NoTunnel},
		{"documentation IPv6", "2001:db8::1", "2001:db8::1", NoTunnel},
		{"IPv4-compatible (deprecated) is not taken", "::3.0.113.7", "::3.0.113.7", NoTunnel},
		{"zoned IPv6 keeps its zone", "fe80::1%eth0", "fe80::1%eth0", NoTunnel},

		{"6to4", "2002:300:7107::1", "3.0.113.7", SixToFour},
		{"6to4, another /64 of the /48", "2002:300:7107:beef::1", "3.0.113.7", SixToFour},
		{"6to4, the /48's last address", "2002:300:7107:ffff:ffff:ffff:ffff:ffff", "3.0.113.7", SixToFour},
		{"6to4 of 1.2.3.4", "2002:102:304::", "1.2.3.4", SixToFour},
		{"6to4 with a zone", "2002:300:7107::1%eth0", "3.0.113.7", SixToFour},
		{"6to4 in an IPv4-mapped disguise is not 6to4", "::ffff:32.2.3.0", "32.2.3.0", NoTunnel},

		{"Teredo", teredo("3.0.113.7"), "3.0.113.7", Teredo},
		{"Teredo of another client", teredo("81.2.69.160"), "81.2.69.160", Teredo},
		{"Teredo, all ones", "2001:0:ffff:ffff:ffff:ffff:fcff:8ef8", "3.0.113.7", Teredo},
		{"2001:1::/32 is not Teredo", "2001:1::fcff:8ef8", "2001:1::fcff:8ef8", NoTunnel},
		{"2001:100::/24 is not Teredo", "2001:100::fcff:8ef8", "2001:100::fcff:8ef8", NoTunnel},

		// Embedded addresses that are not public unicast IPv4 keep the
		// IPv6 address.
		{"6to4 of 0.0.0.0 (2002::/16 itself)", "2002::1", "2002::1", NoTunnel},
		{"6to4 of 0.255.255.255", "2002:ff:ffff::1", "2002:ff:ffff::1", NoTunnel},
		{"6to4 of a private address", "2002:a00:1::1", "2002:a00:1::1", NoTunnel},
		{"6to4 of 172.31.255.255", "2002:ac1f:ffff::1", "2002:ac1f:ffff::1", NoTunnel},
		{"6to4 of 172.32.0.0 is public", "2002:ac20::1", "172.32.0.0", SixToFour},
		{"6to4 of 192.168.1.1", "2002:c0a8:101::1", "2002:c0a8:101::1", NoTunnel},
		{"6to4 of loopback", "2002:7f00:1::1", "2002:7f00:1::1", NoTunnel},
		{"6to4 of link-local", "2002:a9fe:a9fe::1", "2002:a9fe:a9fe::1", NoTunnel},
		{"6to4 of carrier-grade NAT", "2002:6440:1::1", "2002:6440:1::1", NoTunnel},
		{"6to4 of 100.128.0.1 is public", "2002:6480:1::1", "100.128.0.1", SixToFour},
		{"6to4 of 192.0.0.9", "2002:c000:9::1", "2002:c000:9::1", NoTunnel},
		{"6to4 of TEST-NET-1", "2002:c000:201::1", "2002:c000:201::1", NoTunnel},
		{"6to4 of TEST-NET-2", "2002:c633:6407::1", "2002:c633:6407::1", NoTunnel},
		{"6to4 of TEST-NET-3", "2002:cb00:7107::1", "2002:cb00:7107::1", NoTunnel},
		{"6to4 of the 6to4 relay anycast", "2002:c058:6301::1", "2002:c058:6301::1", NoTunnel},
		{"6to4 of benchmarking", "2002:c613:1::1", "2002:c613:1::1", NoTunnel},
		{"6to4 of multicast", "2002:e000:1::1", "2002:e000:1::1", NoTunnel},
		{"6to4 of 240/4", "2002:f000:1::1", "2002:f000:1::1", NoTunnel},
		{"6to4 of broadcast", "2002:ffff:ffff::1", "2002:ffff:ffff::1", NoTunnel},
		{"6to4 of 223.255.255.255 is public", "2002:dfff:ffff::1", "223.255.255.255", SixToFour},
		{"Teredo of a private address", teredo("192.168.1.1"), teredo("192.168.1.1"), NoTunnel},
		{"Teredo of 0.0.0.0 (all ones)", "2001:0:4136:e378:8000:63bf:ffff:ffff", "2001:0:4136:e378:8000:63bf:ffff:ffff", NoTunnel},
		{"Teredo of 255.255.255.255 (all zeros)", "2001::", "2001::", NoTunnel},
		{"Teredo of loopback", teredo("127.0.0.1"), teredo("127.0.0.1"), NoTunnel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, tunnel := ClientAddr(mustAddr(tt.addr))
			if got != mustAddr(tt.want) || tunnel != tt.tunnel {
				t.Errorf("ClientAddr(%s) = %s, %v; want %s, %v", tt.addr, got, tunnel, tt.want, tt.tunnel)
			}
		})
	}
	if got, tunnel := ClientAddr(netip.Addr{}); got.IsValid() || tunnel != NoTunnel {
		t.Errorf("ClientAddr(invalid) = %s, %v", got, tunnel)
	}
	if n := testing.AllocsPerRun(100, func() { ClientAddr(mustAddr("2002:300:7107::1")) }); n != 0 {
		t.Errorf("ClientAddr allocates %v times", n)
	}
}

// A hosting server's 6to4 and Teredo addresses are looked up as its IPv4
// address, whatever the database's format: a MaxMind DB (whose aliases
// are not loaded, and would name the Teredo server's network) and a CSV.
func TestLookupTunnelAddresses(t *testing.T) {
	mmdb := writeTree(t, mmdbwriter.Options{DatabaseType: "GeoLite2-ASN", IPVersion: 6}, map[string]mmdbtype.Map{
		"3.0.113.0/24":   {"autonomous_system_number": mmdbtype.Uint64(16509), "autonomous_system_organization": mmdbtype.String("AMAZON-02")},
		"65.54.227.0/24": {"autonomous_system_number": mmdbtype.Uint64(8075), "autonomous_system_organization": mmdbtype.String("MICROSOFT")},
		"2a00:1450::/32": {"autonomous_system_number": mmdbtype.Uint64(15169), "autonomous_system_organization": mmdbtype.String("GOOGLE")},
	})
	csv := []byte("3.0.113.0,3.0.113.255,16509,AMAZON-02\n65.54.227.0,65.54.227.255,8075,MICROSOFT\n2a00:1450::,2a00:1450:ffff:ffff:ffff:ffff:ffff:ffff,15169,GOOGLE\n")
	amazon := Info{ASN: 16509, Org: "AMAZON-02"}
	cases := []struct {
		addr string
		want Info
	}{
		{"3.0.113.7", amazon},
		{"::ffff:3.0.113.7", amazon},
		{"2002:300:7107::1", amazon},
		{"2002:300:7107:beef::1", amazon},
		{"2002:300:71ff::1", amazon}, // 3.0.113.255
		{teredo("3.0.113.7"), amazon},
		{"2a00:1450::1", Info{ASN: 15169, Org: "GOOGLE"}},
		{"2002:300:7200::1", Info{}}, // 3.0.114.0: no network
		{"2002:a00:1::1", Info{}},    // 6to4 of 10.0.1.0: an IPv6 address of no network
	}
	for _, src := range []struct {
		name string
		data []byte
	}{{"aliased.mmdb", mmdb}, {"db.csv", csv}} {
		tbl, err := Parse(src.data, src.name)
		if err != nil {
			t.Fatal(err)
		}
		tried, right := 0, 0
		for _, c := range cases {
			info, ok := tbl.Lookup(mustAddr(c.addr))
			tried++
			if info == c.want && ok == (c.want != Info{}) {
				right++
			} else {
				t.Errorf("%s: Lookup(%s) = %+v, %v; want %+v", src.name, c.addr, info, ok, c.want)
			}
		}
		t.Logf("%s: addresses tried %d / looked up as expected %d / expected %d", src.name, tried, right, tried)
	}

	// The database's own Teredo alias leads to the Teredo server's
	// network, not the client's: why the aliases are not loaded.
	reader, err := maxminddb.OpenBytes(mmdb)
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		ASN uint32 `maxminddb:"autonomous_system_number"`
	}
	if err := reader.Lookup(mustAddr(teredo("3.0.113.7"))).Decode(&rec); err != nil {
		t.Fatal(err)
	}
	if rec.ASN != 8075 {
		t.Errorf("the MaxMind DB's Teredo alias gives AS%d, expected the Teredo server's AS8075", rec.ASN)
	}
}

// FuzzClientAddr checks ClientAddr against a plain reading of the two
// RFCs and the special-purpose registry, with netip prefixes.
func FuzzClientAddr(f *testing.F) {
	for _, s := range []string{"2002:300:7107::1", teredo("3.0.113.7"), "2002:a00:1::1", "::ffff:3.0.113.7", "3.0.113.7", "2001:db8::1", "2001::"} {
		b := mustAddr(s).As16()
		f.Add(b[:], mustAddr(s).Is4())
	}
	sixToFour, teredoNet := mustPrefix("2002::/16"), mustPrefix("2001::/32")
	var special []netip.Prefix
	for _, s := range []string{"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
		"192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
		"203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4"} {
		special = append(special, mustPrefix(s))
	}
	public := func(a netip.Addr) bool {
		for _, p := range special {
			if p.Contains(a) {
				return false
			}
		}
		return true
	}
	f.Fuzz(func(t *testing.T, data []byte, is4 bool) {
		var b [16]byte
		copy(b[:], data)
		addr := netip.AddrFrom16(b)
		if is4 {
			addr = addr.Unmap()
		}
		got, tunnel := ClientAddr(addr)
		want, wantTunnel := addr.Unmap(), NoTunnel
		s := addr.Unmap().AsSlice()
		var embedded netip.Addr
		switch {
		case len(s) == 16 && sixToFour.Contains(addr):
			embedded, wantTunnel = netip.AddrFrom4([4]byte(s[2:6])), SixToFour
		case len(s) == 16 && teredoNet.Contains(addr):
			embedded, wantTunnel = netip.AddrFrom4([4]byte{^s[12], ^s[13], ^s[14], ^s[15]}), Teredo
		}
		if wantTunnel != NoTunnel {
			if public(embedded) {
				want = embedded
			} else {
				wantTunnel = NoTunnel
			}
		}
		if got != want || tunnel != wantTunnel {
			t.Fatalf("ClientAddr(%s) = %s, %v; want %s, %v", addr, got, tunnel, want, wantTunnel)
		}
		// The address a client is known by is its own: mapping twice
		// changes nothing.
		if again, t2 := ClientAddr(got); again != got || (t2 != NoTunnel) {
			t.Fatalf("ClientAddr(ClientAddr(%s)) = %s, %v", addr, again, t2)
		}
	})
}
