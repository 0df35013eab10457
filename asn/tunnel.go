package asn

import (
	"encoding/binary"
	"net/netip"
)

// Tunnel names the IPv6 transition mechanism through which an IPv4 host
// sent from an IPv6 address, as [ClientAddr] recognises it.
type Tunnel uint8

const (
	// NoTunnel is an address that carries no IPv4 address, or one that
	// is not a public unicast address.
	NoTunnel Tunnel = iota
	// SixToFour is a 6to4 address (RFC 3056), 2002:aabb:ccdd::/48: the
	// IPv4 address a.b.c.d is in bits 16 to 47.
	SixToFour
	// Teredo is a Teredo address (RFC 4380), in 2001:0::/32: the
	// client's IPv4 address is in the last 32 bits, every bit inverted.
	Teredo
)

func (t Tunnel) String() string {
	switch t {
	case SixToFour:
		return "6to4"
	case Teredo:
		return "Teredo"
	}
	return "none"
}

// ClientAddr returns the address by which a client sending from addr is
// known: addr itself, IPv4-mapped addresses (::ffff:a.b.c.d) unmapped,
// except that a 6to4 or Teredo address is the IPv4 address it carries,
// with the mechanism that carried it.
//
// A server at a.b.c.d owns 6to4's 2002:aabb:ccdd::/48, 65,536 /64s, and
// can send through Teredo; counted as IPv6 it would have a budget per
// /64 and no network, apart from the one its IPv4 address is counted
// in. Its traffic reaches it only at that IPv4 address (encapsulated
// in IPv4 by a relay), so a TCP client at such an address answers at
// the IPv4 address it carries.
//
// An embedded address that is not a public unicast IPv4 address (0/8,
// private, shared 100.64/10, loopback, link-local, IETF 192.0.0/24,
// documentation, the 6to4 relay anycast 192.88.99/24, benchmarking,
// multicast, reserved 240/4 and broadcast) is not taken: no one is
// reachable there through a relay, and taking it would let an IPv6
// client pass for a private or loopback address that a policy may
// trust. Such an address is returned as it is, an IPv6 address like any
// other (NoTunnel).
//
// ClientAddr does not allocate. The zone of an IPv6 address is kept,
// dropped from an IPv4 address taken from one.
func ClientAddr(addr netip.Addr) (netip.Addr, Tunnel) {
	addr = addr.Unmap()
	if !addr.Is6() {
		return addr, NoTunnel
	}
	b := addr.As16()
	var v4 uint32
	var t Tunnel
	switch {
	case b[0] == 0x20 && b[1] == 0x02:
		v4, t = binary.BigEndian.Uint32(b[2:6]), SixToFour
	case b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0:
		v4, t = ^binary.BigEndian.Uint32(b[12:16]), Teredo
	default:
		return addr, NoTunnel
	}
	if !publicIPv4(v4) {
		return addr, NoTunnel
	}
	var a4 [4]byte
	binary.BigEndian.PutUint32(a4[:], v4)
	return netip.AddrFrom4(a4), t
}

// notPublicIPv4 are the IPv4 networks that are not public unicast
// addresses (IANA's special-purpose registry, RFC 6890 and its updates:
// those not globally reachable), as address and mask.
var notPublicIPv4 = [...]struct{ addr, mask uint32 }{
	{0x00000000, 0xff000000}, // 0.0.0.0/8 "this network"
	{0x0a000000, 0xff000000}, // 10.0.0.0/8 private
	{0x64400000, 0xffc00000}, // 100.64.0.0/10 shared (carrier-grade NAT)
	{0x7f000000, 0xff000000}, // 127.0.0.0/8 loopback
	{0xa9fe0000, 0xffff0000}, // 169.254.0.0/16 link-local
	{0xac100000, 0xfff00000}, // 172.16.0.0/12 private
	{0xc0000000, 0xffffff00}, // 192.0.0.0/24 IETF protocol assignments
	{0xc0000200, 0xffffff00}, // 192.0.2.0/24 documentation
	{0xc0586300, 0xffffff00}, // 192.88.99.0/24 6to4 relay anycast
	{0xc0a80000, 0xffff0000}, // 192.168.0.0/16 private
	{0xc6120000, 0xfffe0000}, // 198.18.0.0/15 benchmarking
	{0xc6336400, 0xffffff00}, // 198.51.100.0/24 documentation
	{0xcb007100, 0xffffff00}, // 203.0.113.0/24 documentation
	{0xe0000000, 0xf0000000}, // 224.0.0.0/4 multicast
	{0xf0000000, 0xf0000000}, // 240.0.0.0/4 reserved, and broadcast
}

// publicIPv4 reports whether v4 is a public unicast IPv4 address.
func publicIPv4(v4 uint32) bool {
	for _, n := range notPublicIPv4 {
		if v4&n.mask == n.addr {
			return false
		}
	}
	return true
}
