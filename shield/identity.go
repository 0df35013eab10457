package shield

import (
	"net/netip"
	"strconv"

	"github.com/rempart/rempart/budget"
	"github.com/rempart/rempart/challenge"
)

// Identity is who a request comes from: the client address as the server
// resolved it (trusted proxies honoured) and the network that announces it.
type Identity struct {
	// IP is the client address.
	IP netip.Addr
	// ASN is the autonomous system that announces IP, 0 if not Known.
	ASN uint32
	// Org is the organisation the database names for ASN.
	Org string
	// Class is the first class that contains ASN, or "".
	Class string
	// Known reports whether the database has a network for IP.
	Known bool
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
