package main

import (
	"net/netip"

	"github.com/rempart/rempart/asn/asntest"
)

// network is one prefix of the replay's IP-to-ASN database and the AS that
// announces it; asntest.Write writes the database.
type network = asntest.Network

// hostingNetworks are where the 218 rented servers sit: four ASNs of the
// built-in hosting class, each with one of its real public ranges.
var hostingNetworks = []network{
	{Prefix: netip.MustParsePrefix("52.94.0.0/16"), ASN: 16509, Org: "Amazon.com, Inc."},
	{Prefix: netip.MustParsePrefix("167.99.0.0/16"), ASN: 14061, Org: "DigitalOcean, LLC"},
	{Prefix: netip.MustParsePrefix("88.198.0.0/16"), ASN: 24940, Org: "Hetzner Online GmbH"},
	{Prefix: netip.MustParsePrefix("51.38.0.0/16"), ASN: 16276, Org: "OVH SAS"},
}

// residentialNetworks are the signers' access providers: twenty ASNs of
// European and American broadband and mobile operators, none of them in the
// hosting class.
var residentialNetworks = []network{
	{Prefix: netip.MustParsePrefix("90.0.0.0/16"), ASN: 3215, Org: "Orange S.A."},
	{Prefix: netip.MustParsePrefix("82.64.0.0/16"), ASN: 12322, Org: "Free SAS"},
	{Prefix: netip.MustParsePrefix("89.80.0.0/16"), ASN: 5410, Org: "Bouygues Telecom SA"},
	{Prefix: netip.MustParsePrefix("77.128.0.0/16"), ASN: 15557, Org: "Societe Francaise du Radiotelephone - SFR SA"},
	{Prefix: netip.MustParsePrefix("79.192.0.0/16"), ASN: 3320, Org: "Deutsche Telekom AG"},
	{Prefix: netip.MustParsePrefix("73.0.0.0/16"), ASN: 7922, Org: "Comcast Cable Communications, LLC"},
	{Prefix: netip.MustParsePrefix("86.128.0.0/16"), ASN: 2856, Org: "British Telecommunications PLC"},
	{Prefix: netip.MustParsePrefix("84.24.0.0/16"), ASN: 6830, Org: "Liberty Global B.V."},
	{Prefix: netip.MustParsePrefix("83.32.0.0/16"), ASN: 3352, Org: "Telefonica de Espana S.A.U."},
	{Prefix: netip.MustParsePrefix("77.160.0.0/16"), ASN: 1136, Org: "KPN B.V."},
	{Prefix: netip.MustParsePrefix("86.0.0.0/16"), ASN: 5089, Org: "Virgin Media Limited"},
	{Prefix: netip.MustParsePrefix("83.50.0.0/16"), ASN: 12479, Org: "Orange Espagne SA"},
	{Prefix: netip.MustParsePrefix("79.0.0.0/16"), ASN: 3269, Org: "Telecom Italia S.p.A."},
	{Prefix: netip.MustParsePrefix("88.64.0.0/16"), ASN: 6805, Org: "Telefonica Germany GmbH & Co.OHG"},
	{Prefix: netip.MustParsePrefix("99.0.0.0/16"), ASN: 7018, Org: "AT&T Services, Inc."},
	{Prefix: netip.MustParsePrefix("71.160.0.0/16"), ASN: 701, Org: "Verizon Business"},
	{Prefix: netip.MustParsePrefix("68.0.0.0/16"), ASN: 22773, Org: "Cox Communications Inc."},
	{Prefix: netip.MustParsePrefix("24.160.0.0/16"), ASN: 20115, Org: "Charter Communications"},
	{Prefix: netip.MustParsePrefix("81.240.0.0/16"), ASN: 5432, Org: "Proximus NV"},
	{Prefix: netip.MustParsePrefix("85.0.0.0/16"), ASN: 3303, Org: "Swisscom (Schweiz) AG"},
}

// maxClientsPerNetwork is how many clients addressIn can place in one /16
// network, each in its own /24.
const maxClientsPerNetwork = 256

// addressIn returns the n-th client address in the /16 network p, one per
// /24 so that no two clients share a network prefix (and so a challenge or
// a pass binding, or a per-prefix budget).
func addressIn(p netip.Prefix, n int) netip.Addr {
	a := p.Addr().As4()
	return netip.AddrFrom4([4]byte{a[0], a[1], byte(n % maxClientsPerNetwork), byte(n%250 + 1)})
}
