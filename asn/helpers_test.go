package asn

import (
	"net/netip"
	"strconv"

	"go4.org/netipx"
)

func prefixRange(p netip.Prefix) (from, to string) {
	r := netipx.RangeOfPrefix(p)
	return r.From().String(), r.To().String()
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }
