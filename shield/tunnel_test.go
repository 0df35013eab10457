package shield

import (
	"fmt"
	"net/http"
	"net/netip"
	"testing"

	"github.com/rempart/rempart/asn"
	"github.com/rempart/rempart/budget"
	"github.com/rempart/rempart/policies"
)

// testNetworks is an ASN database and its classes, from which identify
// builds a client's Identity as the Caddy adapter does (App.Identify):
// IdentityOf, then the network of its IP.
type testNetworks struct {
	table   *asn.Table
	classes asn.Classes
}

func newTestNetworks(t testing.TB) *testNetworks {
	t.Helper()
	tbl, err := asn.Parse([]byte("3.0.113.0,3.0.113.255,16509,AMAZON-02\n81.2.69.0,81.2.69.255,64496,Home ISP\n"), "asn.csv")
	if err != nil {
		t.Fatal(err)
	}
	n := &testNetworks{table: tbl}
	n.classes.Add("hosting", []uint32{16509})
	return n
}

func (n *testNetworks) identify(addr string) Identity {
	id := IdentityOf(netip.MustParseAddr(addr))
	if info, ok := n.table.Lookup(id.IP); ok {
		id.ASN, id.Org, id.Known = info.ASN, info.Org, true
		id.Class = n.classes.Of(info.ASN)
	}
	return id
}

// client is a browser at addr, identified through the ASN database.
func (h *harness) client(n *testNetworks, addr string) *browser {
	b := h.browser("192.0.2.1", 0, "")
	b.id = n.identify(addr)
	return b
}

// sixToFour returns the address in the /64 number subnet of the 6to4
// /48 of the IPv4 address v4.
func sixToFour(v4 string, subnet int) string {
	a := netip.MustParseAddr(v4).As4()
	return fmt.Sprintf("2002:%02x%02x:%02x%02x:%x::1", a[0], a[1], a[2], a[3], subnet)
}

// teredoOf returns the Teredo address of a client at v4 using the
// Teredo server 65.54.227.(120+server): each server is another /64.
func teredoOf(v4 string, server int) string {
	a := netip.MustParseAddr(v4).As4()
	b := [16]byte{0x20, 0x01, 0, 0, 65, 54, 227, byte(120 + server), 0x80, 0, 0x63, 0xbf, ^a[0], ^a[1], ^a[2], ^a[3]}
	return netip.AddrFrom16(b).String()
}

func TestIdentityOf(t *testing.T) {
	tests := []struct {
		addr, ip, tunneled string
	}{
		{"3.0.113.7", "3.0.113.7", ""},
		{"::ffff:3.0.113.7", "::ffff:3.0.113.7", ""}, // left to the budgets and bindings, which unmap
		{"2a00:1450:4007::1", "2a00:1450:4007::1", ""},
		{"2002:300:7107::1", "3.0.113.7", "2002:300:7107::1"},
		{"2002:300:7107:ffff::1", "3.0.113.7", "2002:300:7107:ffff::1"},
		{teredoOf("3.0.113.7", 0), "3.0.113.7", teredoOf("3.0.113.7", 0)},
		{"2002:a00:1::1", "2002:a00:1::1", ""},   // 10.0.1.0: stays IPv6
		{"2002:7f00:1::1", "2002:7f00:1::1", ""}, // loopback: stays IPv6
		{"2002::1", "2002::1", ""},               // 0.0.0.0: stays IPv6
		{teredoOf("192.168.1.1", 0), teredoOf("192.168.1.1", 0), ""},
	}
	for _, tt := range tests {
		id := IdentityOf(netip.MustParseAddr(tt.addr))
		want := Identity{IP: netip.MustParseAddr(tt.ip)}
		if tt.tunneled != "" {
			want.Tunneled = netip.MustParseAddr(tt.tunneled)
		}
		if id != want {
			t.Errorf("IdentityOf(%s) = %+v, want %+v", tt.addr, id, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { IdentityOf(netip.MustParseAddr("2002:300:7107::1")) }); n != 0 {
		t.Errorf("IdentityOf allocates %v times", n)
	}
}

// A server's 6to4 and Teredo addresses are the server at its IPv4
// address: they share its budgets per ip, per prefix and per asn, its
// class and its difficulty, whichever address it starts from. A 6to4
// address carrying a private IPv4 address stays an IPv6 address with
// budgets of its own.
func TestTunnelAddressesShareTheirIPv4Budgets(t *testing.T) {
	type phase struct {
		what  string
		addrs []string
		tries int // per address
		want  int // accepted
	}
	many := func(n int, f func(int) string) []string {
		var out []string
		for i := range n {
			out = append(out, f(i))
		}
		return out
	}
	const amazon, isp = "3.0.113.7", "81.2.69.160"
	tests := []struct {
		name   string
		limits []policies.Budget
		policy bool // the default policy
		phases []phase
	}{
		{
			name: "hosting budget per asn (10/hour), IPv4 first", policy: true,
			phases: []phase{
				{"IPv4", []string{amazon}, 15, 10},
				{"6to4, 10 /64s", many(10, func(i int) string { return sixToFour(amazon, i) }), 25, 0},
				{"Teredo, 10 /64s", many(10, func(i int) string { return teredoOf(amazon, i) }), 25, 0},
				{"6to4 of another server of the network", []string{sixToFour("3.0.113.200", 0)}, 5, 0},
			},
		},
		{
			name: "hosting budget per asn (10/hour), 6to4 first", policy: true,
			phases: []phase{
				{"6to4, 10 /64s", many(10, func(i int) string { return sixToFour(amazon, i) }), 25, 10},
				{"Teredo, 10 /64s", many(10, func(i int) string { return teredoOf(amazon, i) }), 25, 0},
				{"IPv4", []string{amazon}, 15, 0},
			},
		},
		{
			name: "budget per ip (20/hour) of a home network", policy: true,
			phases: []phase{
				{"IPv4", []string{isp}, 15, 15},
				{"6to4, 10 /64s", many(10, func(i int) string { return sixToFour(isp, i) }), 3, 5},
				{"Teredo, 10 /64s", many(10, func(i int) string { return teredoOf(isp, i) }), 3, 0},
				{"IPv4", []string{isp}, 3, 0},
				{"another address of the /24 over 6to4", []string{sixToFour("81.2.69.161", 0)}, 3, 3},
			},
		},
		{
			name:   "budget per prefix (12/hour), IPv4 /24",
			limits: []policies.Budget{{Counts: policies.CountSignatures, Per: budget.KeyPrefix, Rate: "12/hour"}},
			phases: []phase{
				{"IPv4", []string{isp}, 4, 4},
				{"6to4 of another address of the /24", many(4, func(i int) string { return sixToFour("81.2.69.161", i) }), 1, 4},
				{"Teredo of a third address of the /24", many(10, func(i int) string { return teredoOf("81.2.69.162", i) }), 1, 4},
				{"IPv4 of a fourth", []string{"81.2.69.163"}, 3, 0},
			},
		},
		{
			name: "6to4 of a private address stays IPv6 (per ip 3/hour, per prefix 12/hour)",
			limits: []policies.Budget{
				{Counts: policies.CountSignatures, Per: budget.KeyIP, Rate: "3/hour"},
				{Counts: policies.CountSignatures, Per: budget.KeyPrefix, Rate: "12/hour"},
			},
			phases: []phase{
				{"IPv4 10.0.1.0", []string{"10.0.1.0"}, 5, 3},
				// Its own /48, counted per /64 as any IPv6 network.
				{"6to4 of 10.0.1.0, 10 /64s", many(10, func(i int) string { return sixToFour("10.0.1.0", i) }), 3, 12},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := setup{protect: []string{"POST /sign"}, limits: tt.limits}
			if tt.policy {
				s.policy = string(policies.DefaultSource())
			}
			h := newHarness(t, s)
			nets := newTestNetworks(t)
			failed := false
			for _, p := range tt.phases {
				tried, accepted := 0, 0
				for _, addr := range p.addrs {
					b := h.client(nets, addr)
					for range p.tries {
						tried++
						if b.sign("/sign", signBody) {
							accepted++
						}
					}
				}
				t.Logf("%-40s tried %3d / accepted %3d / expected %3d", p.what, tried, accepted, p.want)
				if accepted != p.want {
					failed = true
				}
			}
			if failed {
				t.Error("accepted signatures differ from those expected")
			}
		})
	}
}

// Over 6to4 and Teredo, a hosting server is asked the hosting network's
// difficulty, as over IPv4.
func TestTunnelAddressesHaveTheirIPv4Difficulty(t *testing.T) {
	h := newHarness(t, setup{protect: []string{"POST /sign"}, policy: string(policies.DefaultSource())})
	nets := newTestNetworks(t)
	want := challengeBits(t, h.client(nets, "3.0.113.7").do(http.MethodPost, "/sign", signBody))
	if home := challengeBits(t, h.client(nets, "81.2.69.160").do(http.MethodPost, "/sign", signBody)); home >= want {
		t.Fatalf("a hosting network asks %d bits, a home network %d: the test needs a difference", want, home)
	}
	for _, addr := range []string{sixToFour("3.0.113.7", 0), teredoOf("3.0.113.7", 0)} {
		if got := challengeBits(t, h.client(nets, addr).do(http.MethodPost, "/sign", signBody)); got != want {
			t.Errorf("%s: challenge of %d bits, want the hosting network's %d", addr, got, want)
		}
	}
	out := h.outcomes[len(h.outcomes)-1]
	if out.Client.ASN != 16509 || out.Network != netip.MustParsePrefix("3.0.113.0/24") {
		t.Errorf("outcome of a Teredo request: AS%d, network %s; want AS16509, 3.0.113.0/24", out.Client.ASN, out.Network)
	}
}

// A pass is bound to the address the client is known by: one earned over
// IPv4 serves over 6to4 and Teredo and the other way round, and is spent
// once whichever way it is used.
func TestPassServesOverTunnelAddresses(t *testing.T) {
	for _, tc := range []struct{ earn, use string }{
		{"81.2.69.160", sixToFour("81.2.69.160", 5)},
		{sixToFour("81.2.69.160", 5), "81.2.69.160"},
		{teredoOf("81.2.69.160", 3), sixToFour("81.2.69.160", 0)},
	} {
		h := newHarness(t, setup{protect: []string{"POST /sign"}})
		nets := newTestNetworks(t)
		earner := h.client(nets, tc.earn)
		earner.pass("/")
		user := h.client(nets, tc.use)
		user.cookies = earner.cookies
		before := h.forwardedCount()
		if w := user.do(http.MethodPost, "/sign", signBody); h.forwardedCount() == before {
			t.Errorf("pass earned at %s, used at %s: %d, want the signature forwarded", tc.earn, tc.use, w.Code)
		}
		// The pass bought one signature: spent, whichever address used it.
		if w := earner.do(http.MethodPost, "/sign", signBody); w.Code != StatusChallenge {
			t.Errorf("pass earned at %s, used at %s, then again at %s: %d, want a challenge", tc.earn, tc.use, tc.earn, w.Code)
		}
	}
	// A pass earned by a 6to4 address carrying a private address is not
	// one of that private address.
	h := newHarness(t, setup{protect: []string{"POST /sign"}})
	nets := newTestNetworks(t)
	earner := h.client(nets, sixToFour("10.0.1.0", 0))
	earner.pass("/")
	user := h.client(nets, "10.0.1.0")
	user.cookies = earner.cookies
	if w := user.do(http.MethodPost, "/sign", signBody); w.Code != StatusChallenge {
		t.Errorf("pass of 2002:a00:100::/48 used at 10.0.1.0: %d, want a challenge", w.Code)
	}
}
