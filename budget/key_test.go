package budget

import (
	"encoding/json"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/rempart/rempart/internal/race"
)

func TestParseKeyKind(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want KeyKind
	}{
		{"ip", KeyIP},
		{"prefix", KeyPrefix},
		{"asn", KeyASN},
		{"class", KeyClass},
	} {
		got, err := ParseKeyKind(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseKeyKind(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		if got.String() != tt.in {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), tt.in)
		}
	}
	for _, in := range []string{"", "IP", "as", "network", "KeyKind(0)"} {
		if got, err := ParseKeyKind(in); err == nil {
			t.Errorf("ParseKeyKind(%q) = %v, want an error", in, got)
		} else if !strings.Contains(err.Error(), "want ip, prefix, asn or class") {
			t.Errorf("ParseKeyKind(%q): error %q lists no valid kinds", in, err)
		}
	}
}

func TestKeyKindJSON(t *testing.T) {
	type rule struct {
		Key KeyKind `json:"key"`
	}
	data, err := json.Marshal(rule{Key: KeyASN})
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != `{"key":"asn"}` {
		t.Errorf("marshalled %s, want {\"key\":\"asn\"}", data)
	}
	var got rule
	if err := json.Unmarshal(data, &got); err != nil || got.Key != KeyASN {
		t.Errorf("unmarshal %s = %+v, %v; want KeyASN", data, got, err)
	}
	if err := json.Unmarshal([]byte(`{"key":"planet"}`), &got); err == nil {
		t.Error("unmarshal of an unknown kind succeeded")
	}
	if _, err := json.Marshal(rule{}); err == nil {
		t.Error("marshal of the zero KeyKind succeeded; an unset kind must not pass for a valid one")
	}
}

func TestKey(t *testing.T) {
	client := Client{
		IP:     netip.MustParseAddr("203.0.113.7"),
		Prefix: netip.MustParsePrefix("203.0.112.0/22"),
		ASN:    64500,
		Class:  "hosting",
	}
	v6 := Client{IP: netip.MustParseAddr("2001:db8:1:2:3:4:5:6")}
	tests := []struct {
		name  string
		kind  KeyKind
		scope string
		c     Client
		want  string
	}{
		{"ip", KeyIP, "sign", client, "ip:sign:203.0.113.7"},
		{"prefix", KeyPrefix, "sign", client, "prefix:sign:203.0.112.0/22"},
		{"asn", KeyASN, "sign", client, "asn:sign:64500"},
		{"class", KeyClass, "sign", client, "class:sign:hosting"},
		{"IPv6", KeyIP, "sign", v6, "ip:sign:2001:db8:1:2:3:4:5:6"},
		{"IPv4-mapped IPv6 counts as IPv4", KeyIP, "sign", Client{IP: netip.MustParseAddr("::ffff:203.0.113.7")}, "ip:sign:203.0.113.7"},
		{"zone dropped", KeyIP, "sign", Client{IP: netip.MustParseAddr("fe80::1%eth0")}, "ip:sign:fe80::1"},
		{"prefix masked", KeyPrefix, "sign", Client{Prefix: netip.MustParsePrefix("203.0.113.7/24")}, "prefix:sign:203.0.113.0/24"},
		{"IPv4-mapped prefix counts as IPv4", KeyPrefix, "sign", Client{Prefix: netip.MustParsePrefix("::ffff:203.0.113.0/120")}, "prefix:sign:203.0.113.0/24"},
		{"no prefix: IPv4 /24", KeyPrefix, "sign", Client{IP: netip.MustParseAddr("203.0.113.7")}, "prefix:sign:203.0.113.0/24"},
		{"no prefix: IPv6 /64", KeyPrefix, "sign", v6, "prefix:sign:2001:db8:1:2::/64"},
		{"no prefix: mapped IPv4 /24", KeyPrefix, "sign", Client{IP: netip.MustParseAddr("::ffff:203.0.113.7")}, "prefix:sign:203.0.113.0/24"},
		{"unknown IP shares one budget", KeyIP, "sign", Client{}, "ip:sign:"},
		{"unknown prefix shares one budget", KeyPrefix, "sign", Client{}, "prefix:sign:"},
		{"unknown ASN shares one budget", KeyASN, "sign", Client{}, "asn:sign:0"},
		{"empty scope", KeyASN, "", client, "asn::64500"},
		{"colon in scope escaped", KeyASN, "a:b", client, "asn:a%3Ab:64500"},
		{"percent in scope escaped", KeyASN, "50%", client, "asn:50%25:64500"},
		{"class kept as is", KeyClass, "sign", Client{Class: "a:b c"}, "class:sign:a:b c"},
		{"invalid kind", KeyKind(0), "sign", client, "KeyKind(0):sign:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.kind.Key(tt.scope, tt.c); got != tt.want {
				t.Errorf("%v.Key(%q, %+v) = %q, want %q", tt.kind, tt.scope, tt.c, got, tt.want)
			}
			if got := string(tt.kind.AppendKey([]byte("x"), tt.scope, tt.c)); got != "x"+tt.want {
				t.Errorf("AppendKey after %q = %q, want %q", "x", got, "x"+tt.want)
			}
		})
	}
}

// TestKeyUnambiguous builds keys from scopes and values chosen to collide if
// the encoding were naive ("scope:value" with ':' in both), and checks that
// distinct (kind, scope, client) never share a key.
func TestKeyUnambiguous(t *testing.T) {
	scopes := []string{"", "a", "a:b", "a:", ":b", "a%3Ab", "a%", "ip", "asn:a"}
	clients := []Client{
		{},
		{Class: "b"},
		{Class: "b:c"},
		{Class: ":b"},
		{Class: "a:b"},
		{ASN: 1},
		{ASN: 13335},
		{IP: netip.MustParseAddr("2001:db8::1")},
		{IP: netip.MustParseAddr("::1")},
		{IP: netip.MustParseAddr("1.2.3.4")},
		{Prefix: netip.MustParsePrefix("2001:db8::/32")},
	}
	seen := map[string]string{}
	for _, kind := range []KeyKind{KeyIP, KeyPrefix, KeyASN, KeyClass} {
		for _, scope := range scopes {
			for _, c := range clients {
				// Only the field the kind reads identifies the client.
				var id string
				switch kind {
				case KeyIP:
					id = c.IP.String()
				case KeyPrefix:
					id = clientPrefix(c).String()
				case KeyASN:
					id = strconv.FormatUint(uint64(c.ASN), 10)
				case KeyClass:
					id = c.Class
				}
				who := kind.String() + "|" + scope + "|" + id
				key := kind.Key(scope, c)
				if other, ok := seen[key]; ok && other != who {
					t.Errorf("key %q shared by %s and %s", key, other, who)
				}
				seen[key] = who
			}
		}
	}
}

// keySink keeps benchmarked keys alive, as a store would: a key whose
// string the compiler sees unused may be built on the stack and hide the
// allocation every real caller pays.
var keySink string

func TestKeyAllocatesOnlyTheString(t *testing.T) {
	if race.Enabled {
		t.Skip("allocations are not counted under the race detector")
	}
	c := Client{
		IP:     netip.MustParseAddr("2001:db8:1:2:3:4:5:6"),
		Prefix: netip.MustParsePrefix("2001:db8::/32"),
		ASN:    64500,
		Class:  "hosting",
	}
	for _, kind := range []KeyKind{KeyIP, KeyPrefix, KeyASN, KeyClass} {
		allocs := testing.AllocsPerRun(100, func() { keySink = kind.Key("signatures", c) })
		if allocs > 1 {
			t.Errorf("%v.Key allocates %v times, want 1 (the string itself)", kind, allocs)
		}
	}
}

func BenchmarkKey(b *testing.B) {
	c := Client{
		IP:     netip.MustParseAddr("2001:db8:1:2:3:4:5:6"),
		Prefix: netip.MustParsePrefix("2001:db8::/32"),
		ASN:    64500,
		Class:  "hosting",
	}
	for _, kind := range []KeyKind{KeyIP, KeyPrefix, KeyASN, KeyClass} {
		b.Run(kind.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				keySink = kind.Key("signatures", c)
			}
		})
	}
	b.Run("ipv4-fallback-prefix", func(b *testing.B) {
		c4 := Client{IP: netip.MustParseAddr("203.0.113.7")}
		b.ReportAllocs()
		for b.Loop() {
			keySink = KeyPrefix.Key("signatures", c4)
		}
	})
}

func TestIPKey(t *testing.T) {
	c := func(ip string) Client { return Client{IP: netip.MustParseAddr(ip)} }
	tests := []struct {
		client Client
		bits   int
		want   string
	}{
		{c("2001:db8:1:2:3:4:5:6"), 64, "ip:s:2001:db8:1:2::/64"},
		{c("2001:db8:1:2:3:4:5:6%eth0"), 64, "ip:s:2001:db8:1:2::/64"},
		{c("2001:db8:1:2:3:4:5:6"), 48, "ip:s:2001:db8:1::/48"},
		{c("2001:db8:1:2:3:4:5:6"), 127, "ip:s:2001:db8:1:2:3:4:5:6/127"},
		{c("2001:db8:1:2:3:4:5:6"), 128, "ip:s:2001:db8:1:2:3:4:5:6"},
		{c("2001:db8:1:2:3:4:5:6"), -1, "ip:s:2001:db8:1:2:3:4:5:6"},
		{c("192.0.2.7"), 64, "ip:s:192.0.2.7"},
		{c("::ffff:192.0.2.7"), 64, "ip:s:192.0.2.7"},
		{Client{}, 64, "ip:s:"},
	}
	for _, tt := range tests {
		if got := IPKey("s", tt.client, tt.bits); got != tt.want {
			t.Errorf("IPKey(%v, %d) = %q, want %q", tt.client.IP, tt.bits, got, tt.want)
		}
	}
	if got, want := IPKey("a:b", c("2001:db8::1"), 64), "ip:a%3Ab:2001:db8::/64"; got != want {
		t.Errorf("escaped scope: %q, want %q", got, want)
	}
}
