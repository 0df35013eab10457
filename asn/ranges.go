package asn

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"net/netip"
	"strings"

	"go4.org/netipx"
)

// rangeInserter turns the address ranges of CSV and TSV lines into
// prefixes, reusing one buffer across lines.
type rangeInserter struct {
	b        *builder
	prefixes []netip.Prefix
}

// insert adds the range [start, end] for asn, or explains what is wrong
// with it. AS number 0 means "not routed" and is skipped.
func (ri *rangeInserter) insert(startText, endText, asnText, org string) error {
	start, err := parseRangeAddr(startText)
	if err != nil {
		return fmt.Errorf("bad start address %q", startText)
	}
	end, err := parseRangeAddr(endText)
	if err != nil {
		return fmt.Errorf("bad end address %q", endText)
	}
	if start.Is4() != end.Is4() {
		return fmt.Errorf("start %s and end %s are not the same address family", start, end)
	}
	if end.Less(start) {
		return fmt.Errorf("end %s is before start %s", end, start)
	}
	asn, err := ParseNumber(asnText)
	if err != nil {
		return fmt.Errorf("bad AS number %q", asnText)
	}
	if asn == 0 {
		return nil
	}
	info := Info{ASN: asn, Org: CleanText(strings.TrimSpace(org))}
	ri.prefixes = netipx.IPRangeFrom(start, end).AppendPrefixes(ri.prefixes[:0])
	for _, pfx := range ri.prefixes {
		if err := ri.b.insert(pfx, info); err != nil {
			return err
		}
	}
	return nil
}

// parseRangeAddr reads an address written as text ("1.0.0.0",
// "2001:200::") or, as in the numeric variants of ip-location-db and
// iptoasn, as a decimal integer. Integers up to 2^32-1 are IPv4, larger
// ones IPv6. IPv4-mapped IPv6 addresses become IPv4, as Lookup sees
// them.
func parseRangeAddr(s string) (netip.Addr, error) {
	s = strings.TrimSpace(s)
	if strings.ContainsAny(s, ".:") {
		addr, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Addr{}, err
		}
		if addr.Zone() != "" {
			return netip.Addr{}, fmt.Errorf("address %q has a zone", s)
		}
		return addr.Unmap(), nil
	}
	return parseDecimalAddr(s)
}

// parseDecimalAddr reads a non-negative decimal integer of up to 128
// bits as an address.
func parseDecimalAddr(s string) (netip.Addr, error) {
	if s == "" || len(s) > 39 { // 2^128-1 has 39 digits
		return netip.Addr{}, fmt.Errorf("not an address: %q", s)
	}
	var hi, lo uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return netip.Addr{}, fmt.Errorf("not an address: %q", s)
		}
		// (hi, lo) = (hi, lo)*10 + digit, failing on overflow.
		carryLo, newLo := bits.Mul64(lo, 10)
		overflow, newHi := bits.Mul64(hi, 10)
		newLo, carry := bits.Add64(newLo, uint64(c-'0'), 0)
		newHi, carry2 := bits.Add64(newHi, carryLo, carry)
		if overflow != 0 || carry2 != 0 {
			return netip.Addr{}, fmt.Errorf("address %q exceeds 128 bits", s)
		}
		hi, lo = newHi, newLo
	}
	if hi == 0 && lo <= 0xFFFFFFFF {
		var b4 [4]byte
		binary.BigEndian.PutUint32(b4[:], uint32(lo))
		return netip.AddrFrom4(b4), nil
	}
	var b16 [16]byte
	binary.BigEndian.PutUint64(b16[:8], hi)
	binary.BigEndian.PutUint64(b16[8:], lo)
	return netip.AddrFrom16(b16), nil
}
