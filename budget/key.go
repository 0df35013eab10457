package budget

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// KeyKind says what a budget counts by: one client address, a network
// prefix, an autonomous system, or a class of clients.
type KeyKind uint8

// The kinds of key. The zero KeyKind is none of them, so that a kind left
// unset in a config is caught by ParseKeyKind or UnmarshalText rather than
// silently counting by IP.
const (
	KeyIP KeyKind = iota + 1
	KeyPrefix
	KeyASN
	KeyClass
)

var keyKindNames = [...]string{
	KeyIP:     "ip",
	KeyPrefix: "prefix",
	KeyASN:    "asn",
	KeyClass:  "class",
}

// Prefix lengths used for KeyPrefix when a Client has an address but no
// prefix: a typical customer allocation, IPv4 /24 and one IPv6 subnet.
const (
	fallbackPrefixBits4 = 24
	fallbackPrefixBits6 = 64
)

// ParseKeyKind parses ip, prefix, asn or class.
func ParseKeyKind(s string) (KeyKind, error) {
	for k, name := range keyKindNames {
		if name != "" && name == s {
			return KeyKind(k), nil
		}
	}
	return 0, fmt.Errorf("key kind %q: want ip, prefix, asn or class", s)
}

// String returns the kind's name as ParseKeyKind reads it.
func (k KeyKind) String() string {
	if k.valid() {
		return keyKindNames[k]
	}
	return "KeyKind(" + strconv.Itoa(int(k)) + ")"
}

func (k KeyKind) valid() bool {
	return k >= KeyIP && k <= KeyClass
}

// MarshalText writes the kind's name, so that JSON configs read "asn".
func (k KeyKind) MarshalText() ([]byte, error) {
	if !k.valid() {
		return nil, fmt.Errorf("invalid key kind %d", k)
	}
	return []byte(keyKindNames[k]), nil
}

// UnmarshalText reads a kind's name.
func (k *KeyKind) UnmarshalText(text []byte) error {
	kind, err := ParseKeyKind(string(text))
	if err != nil {
		return err
	}
	*k = kind
	return nil
}

// Client is what a budget may be keyed by. A zero field is not an error:
// every client lacking it shares one budget (AS 0 is the reserved "unknown"
// number), which errs on the side of counting.
type Client struct {
	IP netip.Addr
	// Prefix is the client's network, typically the one its ASN record
	// covers. When it is not valid, KeyPrefix uses the IP's /24 (IPv4) or
	// /64 (IPv6).
	Prefix netip.Prefix
	ASN    uint32
	Class  string
}

// Key returns the limiter key for c in the budget named scope, such as
// "asn:signatures:13335" or "prefix:signatures:203.0.113.0/24". Keys of
// different kinds or scopes never collide: the scope is escaped so that its
// end is the first colon after the kind.
func (k KeyKind) Key(scope string, c Client) string {
	var buf [96]byte
	return string(k.AppendKey(buf[:0], scope, c))
}

// AppendKey appends the key Key returns to dst.
func (k KeyKind) AppendKey(dst []byte, scope string, c Client) []byte {
	dst = append(dst, k.String()...)
	dst = append(dst, ':')
	dst = appendEscapedScope(dst, scope)
	dst = append(dst, ':')
	switch k {
	case KeyIP:
		dst = c.IP.Unmap().WithZone("").AppendTo(dst)
	case KeyPrefix:
		dst = clientPrefix(c).AppendTo(dst)
	case KeyASN:
		dst = strconv.AppendUint(dst, uint64(c.ASN), 10)
	case KeyClass:
		dst = append(dst, c.Class...)
	}
	return dst
}

// IPKey returns the KeyIP key for c in scope, counting an IPv6 address by
// its first ipv6Bits bits: with 64, every address of c's /64 shares one
// key, written as the prefix, such as "ip:signatures:2001:db8:1:2::/64".
// An IPv4 address (or an IPv4-mapped one), or ipv6Bits outside 0 to 127,
// gives KeyIP.Key(scope, c): one key per address.
func IPKey(scope string, c Client, ipv6Bits int) string {
	var buf [96]byte
	return string(AppendIPKey(buf[:0], scope, c, ipv6Bits))
}

// AppendIPKey appends the key IPKey returns to dst.
func AppendIPKey(dst []byte, scope string, c Client, ipv6Bits int) []byte {
	ip := c.IP.Unmap().WithZone("")
	if !ip.Is6() || ipv6Bits < 0 || ipv6Bits >= 128 {
		return KeyIP.AppendKey(dst, scope, c)
	}
	p, _ := ip.Prefix(ipv6Bits)
	dst = append(dst, keyKindNames[KeyIP]...)
	dst = append(dst, ':')
	dst = appendEscapedScope(dst, scope)
	dst = append(dst, ':')
	return p.AppendTo(dst)
}

// clientPrefix returns c's network in one canonical spelling: masked, and
// IPv4 rather than IPv4-mapped IPv6, so that both spellings share a budget.
func clientPrefix(c Client) netip.Prefix {
	p := c.Prefix
	if !p.IsValid() {
		ip := c.IP.Unmap().WithZone("")
		bits := fallbackPrefixBits6
		if ip.Is4() {
			bits = fallbackPrefixBits4
		}
		p, _ = ip.Prefix(bits) // an invalid IP gives the invalid prefix, written as nothing
		return p
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked()
}

// appendEscapedScope appends scope with ':' and '%' percent-encoded, so that
// a scope never contains the separator that follows it.
func appendEscapedScope(dst []byte, scope string) []byte {
	if !strings.ContainsAny(scope, ":%") {
		return append(dst, scope...)
	}
	for i := 0; i < len(scope); i++ {
		switch scope[i] {
		case ':':
			dst = append(dst, "%3A"...)
		case '%':
			dst = append(dst, "%25"...)
		default:
			dst = append(dst, scope[i])
		}
	}
	return dst
}
