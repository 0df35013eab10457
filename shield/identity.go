package shield

import (
	"net/netip"
	"strconv"

	"github.com/rempart/rempart/asn"
	"github.com/rempart/rempart/budget"
	"github.com/rempart/rempart/challenge"
)

// Identity is who a request comes from: the client address as the server
// resolved it (trusted proxies honoured) and the network that announces it.
// Build it with IdentityOf, then look the network up by its IP.
type Identity struct {
	// IP is the address the client is known by, which its network, its
	// budgets, its passes and the policy's rules go by: the client
	// address, or the public IPv4 address a 6to4 or Teredo client
	// address carries (see asn.ClientAddr), so that a server counts as
	// itself over IPv4 and over either tunnel.
	IP netip.Addr
	// Tunneled is the 6to4 or Teredo address the client sent from when
	// IP is the IPv4 address it carries, the zero Addr otherwise.
	Tunneled netip.Addr
	// ASN is the autonomous system that announces IP, 0 if not Known.
	ASN uint32
	// Org is the organisation the database names for ASN.
	Org string
	// Class is the first class that contains ASN, or "".
	Class string
	// Known reports whether the database has a network for IP.
	Known bool
}

// IdentityOf returns the identity of a client sending from addr, before
// its network is looked up: IP is the address the client is known by
// (see Identity.IP), to look its network up with; addr itself when it is
// not a 6to4 or Teredo address carrying a public IPv4 address. It does
// not allocate.
func IdentityOf(addr netip.Addr) Identity {
	ip, tunnel := asn.ClientAddr(addr)
	if tunnel == asn.NoTunnel {
		return Identity{IP: addr}
	}
	return Identity{IP: ip, Tunneled: addr}
}

// client is the identity of a request's sender with what the shield
// derives from it once: the binding its tokens are tied to.
type client struct {
	Identity
	binding challenge.Binding
}

// network names the client's network for flood pressure: its ASN when
// known, else its binding prefix.
func (c *client) network() string {
	if c.Known {
		return "asn:" + strconv.FormatUint(uint64(c.ASN), 10)
	}
	return "prefix:" + c.binding.Network.String()
}

// stashOwner names the share of the held-submission stash the client's
// submissions count against: its ASN when known, else a prefix wide enough
// that one rented server cannot claim many shares (an IPv6 /32, an IPv4
// /24).
func (c *client) stashOwner() string {
	if c.Known {
		return "asn:" + strconv.FormatUint(uint64(c.ASN), 10)
	}
	bits := 32
	if c.IP.Is4() {
		bits = 24
	}
	p, _ := c.IP.Prefix(bits)
	return "prefix:" + p.String()
}

func (c *client) budgetClient() budget.Client {
	return budget.Client{IP: c.IP, Prefix: c.binding.Network, ASN: c.ASN, Class: c.Class}
}
