package asn

import (
	"errors"
	"fmt"
	"math"
	"net/netip"

	"github.com/oschwald/maxminddb-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2/mmdbdata"
)

// mmdbRecord holds the fields of the free ASN databases. GeoLite2-ASN
// and DB-IP ASN Lite use the first pair, IPinfo Lite the second;
// decoding both at once means one pass whatever the source.
type mmdbRecord struct {
	Number asNumber `maxminddb:"autonomous_system_number"`
	Org    string   `maxminddb:"autonomous_system_organization"`
	ASN    asNumber `maxminddb:"asn"`
	ASName string   `maxminddb:"as_name"`
}

func (r *mmdbRecord) info() Info {
	if r.Number != 0 {
		return Info{ASN: uint32(r.Number), Org: r.Org}
	}
	return Info{ASN: uint32(r.ASN), Org: r.ASName}
}

// asNumber decodes an AS number stored either as an unsigned integer
// (GeoLite2, DB-IP) or as a string such as "AS174" (IPinfo).
type asNumber uint32

// UnmarshalMaxMindDBCursor implements mmdbdata.CursorUnmarshaler.
func (n *asNumber) UnmarshalMaxMindDBCursor(c mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	kind, err := c.Kind()
	if err != nil {
		return mmdbdata.Cursor{}, err
	}
	switch kind {
	case mmdbdata.KindString:
		// "AS4294967295" is 12 bytes: anything much longer is not an
		// AS number, and the bound keeps a hostile record cheap.
		s, next, err := c.ReadStringMaxSize(32)
		if err != nil {
			return mmdbdata.Cursor{}, err
		}
		if s == "" { // IPinfo leaves unannounced ranges empty
			*n = 0
			return next, nil
		}
		v, err := ParseNumber(s)
		if err != nil {
			return mmdbdata.Cursor{}, mmdbdata.NewInvalidDatabaseError("bad AS number %q", s)
		}
		*n = asNumber(v)
		return next, nil
	case mmdbdata.KindUint16, mmdbdata.KindUint32, mmdbdata.KindUint64:
		v, next, err := c.ReadUint()
		if err != nil {
			return mmdbdata.Cursor{}, err
		}
		if v > math.MaxUint32 {
			return mmdbdata.Cursor{}, mmdbdata.NewInvalidDatabaseError("AS number %d exceeds 32 bits", v)
		}
		*n = asNumber(v)
		return next, nil
	default:
		return mmdbdata.Cursor{}, mmdbdata.NewInvalidDatabaseError(
			"AS number stored as %s, want an unsigned integer or a string such as \"AS174\"", kind)
	}
}

// errNotATree reports a search tree whose nodes are shared, which the
// format never produces; walking one could take exponential time.
var errNotATree = errors.New("search tree has more networks than nodes")

// parseMMDB fills b from a MaxMind DB held in data.
func parseMMDB(data []byte, name string, b *builder) error {
	r, err := maxminddb.OpenBytes(data)
	if err != nil {
		return fmt.Errorf("%s: not a valid MaxMind DB (truncated or corrupt?): %w", name, err)
	}
	defer r.Close()

	// Walking every leaf, empty and aliased ones included, makes each
	// step of the iteration yield, so counting the yields bounds the
	// work. A real tree of n nodes has n+1 leaves, and its IPv4 subtree
	// is reachable from at most four places (::/96 and the three
	// aliases), hence 4(n+1); a hostile file that shares nodes to
	// reach 2^128 leaves stops there instead of running forever.
	maxLeaves := 4 * (uint64(r.Metadata.NodeCount) + 1)
	var leaves uint64

	// Many networks share one record: decode each record once.
	byOffset := make(map[uintptr]Info)
	for res := range r.Networks(maxminddb.IncludeNetworksWithoutData(), maxminddb.IncludeAliasedNetworks()) {
		if err := res.Err(); err != nil {
			return fmt.Errorf("%s: corrupt MaxMind DB: %w", name, err)
		}
		if leaves++; leaves > maxLeaves {
			return fmt.Errorf("%s: corrupt MaxMind DB: %w", name, errNotATree)
		}
		if !res.Found() {
			continue
		}
		pfx := res.Prefix()
		if isIPv4Alias(pfx) {
			continue
		}
		info, seen := byOffset[res.Offset()]
		if !seen {
			var rec mmdbRecord
			if err := res.Decode(&rec); err != nil {
				return fmt.Errorf("%s: record for %s: %w", name, pfx, err)
			}
			info = rec.info()
			byOffset[res.Offset()] = info
		}
		if info.ASN == 0 {
			continue
		}
		b.insert(pfx, info)
	}
	if b.len() == 0 {
		return fmt.Errorf("%s: no network carries an AS number: is this an ASN database? (its type is %q)",
			name, r.Metadata.DatabaseType)
	}
	return nil
}

// ipv4Aliases are the IPv6 networks through which MaxMind DB writers
// make the IPv4 subtree reachable a second time. Their content repeats
// the IPv4 networks, which Lookup reaches directly, so storing them
// would only triple the table.
var ipv4Aliases = [...]netip.Prefix{
	netip.MustParsePrefix("::ffff:0:0/96"),
	netip.MustParsePrefix("2001::/32"),
	netip.MustParsePrefix("2002::/16"),
}

func isIPv4Alias(pfx netip.Prefix) bool {
	if pfx.Addr().Is4() {
		return false
	}
	for _, alias := range ipv4Aliases {
		if alias.Bits() <= pfx.Bits() && alias.Contains(pfx.Addr()) {
			return true
		}
	}
	return false
}
