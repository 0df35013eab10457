package asn

import (
	"bytes"
	"encoding/binary"
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
	Org    orgField `maxminddb:"autonomous_system_organization"`
	ASN    asNumber `maxminddb:"asn"`
	ASName orgField `maxminddb:"as_name"`
}

func (r *mmdbRecord) info() Info {
	if r.Number != 0 {
		return Info{ASN: uint32(r.Number), Org: r.Org.s}
	}
	return Info{ASN: uint32(r.ASN), Org: r.ASName.s}
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

// Bounds on a MaxMind DB, beyond those of the reader library. Each one
// is far above what a real database needs and keeps the work and the
// memory of a load proportional to the file's length, however the file
// was forged; see the package documentation.
const (
	// maxRecordDepth bounds how deeply maps and arrays nest inside one
	// record. ASN records are flat; city records nest three levels.
	maxRecordDepth = 32
	// maxOrgLength bounds an organisation name; real ones are under
	// 200 bytes.
	maxOrgLength = 1 << 10
)

var (
	// errNotATree reports a search tree whose nodes are shared, which
	// the format never produces; walking one could take exponential
	// time.
	errNotATree = errors.New("search tree has more networks than nodes: nodes are shared, which no writer does")
	// errRecordsOverlap reports records that, decoded one after the
	// other, read more bytes than the data section holds: they overlap,
	// which no writer does, and decoding each of them in full would
	// take time quadratic in the file's length.
	errRecordsOverlap = errors.New("records overlap: decoding them would read more than twice the data section")
	// errStringsOverlap is errRecordsOverlap for the organisation
	// names that records point to.
	errStringsOverlap = errors.New("organisation names overlap: decoding them would read more than the data section")
	errRecordTooDeep  = fmt.Errorf("record nests maps and arrays deeper than %d levels", maxRecordDepth)
)

// mmdbLoad is the state of one parseMMDB: the data section and what
// has been read from it.
type mmdbLoad struct {
	section []byte
	// recordBytes and orgBytes count the bytes of the distinct records
	// and organisation names decoded so far; both are bounded by the
	// length of section, which they cannot exceed in a file where each
	// value is stored once.
	recordBytes, maxRecordBytes int
	orgBytes                    int
	orgs                        map[uint]string // by offset in section
}

// orgField decodes an organisation name, bounded in length and decoded
// once per distinct offset in the data section.
type orgField struct {
	load *mmdbLoad
	s    string
}

// UnmarshalMaxMindDBCursor implements mmdbdata.CursorUnmarshaler.
func (o *orgField) UnmarshalMaxMindDBCursor(c mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	off, err := c.Offset()
	if err != nil {
		return mmdbdata.Cursor{}, err
	}
	if s, ok := o.load.orgs[off]; ok {
		o.s = s
		return c.Skip()
	}
	s, next, err := c.ReadStringMaxSize(maxOrgLength)
	if err != nil {
		return mmdbdata.Cursor{}, err
	}
	if o.load.orgBytes += len(s); o.load.orgBytes > len(o.load.section) {
		return mmdbdata.Cursor{}, errStringsOverlap
	}
	s = CleanText(s)
	o.load.orgs[off] = s
	o.s = s
	return next, nil
}

// parseMMDB fills b from a MaxMind DB held in data.
func parseMMDB(data []byte, name string, b *builder) error {
	r, err := maxminddb.OpenBytes(data)
	if err != nil {
		return fmt.Errorf("%s: not a valid MaxMind DB (truncated or corrupt?): %w", name, err)
	}
	defer r.Close()
	section, err := dataSection(data, r.Metadata)
	if err != nil {
		return fmt.Errorf("%s: corrupt MaxMind DB: %w", name, err)
	}
	load := &mmdbLoad{
		section:        section,
		maxRecordBytes: 2 * len(section),
		orgs:           make(map[uint]string),
	}

	// Walking every leaf, empty and aliased ones included, makes each
	// step of the iteration yield, so counting the yields bounds the
	// work. A real tree of n nodes has n+1 leaves, and its IPv4 subtree
	// is reachable from at most four places (::/96 and the three
	// aliases), hence 4(n+1); a hostile file that shares nodes to
	// reach 2^128 leaves stops there instead of running forever.
	maxLeaves := 4 * (uint64(r.Metadata.NodeCount) + 1)
	var leaves uint64

	// Many networks share one record: decode each record once.
	byOffset := make(map[uint]Info)
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
		off, err := load.resolve(uint(res.Offset()))
		if err != nil {
			return fmt.Errorf("%s: record for %s: %w", name, pfx, err)
		}
		info, seen := byOffset[off]
		if !seen {
			if err := load.measure(off); err != nil {
				return fmt.Errorf("%s: record for %s: %w", name, pfx, err)
			}
			rec := mmdbRecord{Org: orgField{load: load}, ASName: orgField{load: load}}
			if err := res.Decode(&rec); err != nil {
				return fmt.Errorf("%s: record for %s: %w", name, pfx, err)
			}
			info = rec.info()
			byOffset[off] = info
		}
		if info.ASN == 0 {
			continue
		}
		if err := b.insert(pfx, info); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if b.len() == 0 {
		return fmt.Errorf("%s: no network carries an AS number: is this an ASN database? (its type is %q)",
			name, r.Metadata.DatabaseType)
	}
	return nil
}

// dataSection checks the metadata against the file's length and
// returns the data section: what lies between the search tree and its
// 16-byte separator, and the metadata marker.
func dataSection(data []byte, md maxminddb.Metadata) ([]byte, error) {
	switch md.RecordSize {
	case 24, 28, 32:
	default:
		return nil, fmt.Errorf("record size %d bits: want 24, 28 or 32", md.RecordSize)
	}
	if md.IPVersion != 4 && md.IPVersion != 6 {
		return nil, fmt.Errorf("IP version %d: want 4 or 6", md.IPVersion)
	}
	marker := bytes.LastIndex(data, mmdbMarker)
	treeSize := uint64(md.NodeCount) * uint64(md.RecordSize) / 4
	if md.NodeCount == 0 || marker < 0 || treeSize+16 > uint64(marker) {
		return nil, fmt.Errorf("metadata claims %d nodes of %d-bit records, more than the %d bytes before the metadata hold",
			md.NodeCount, md.RecordSize, max(marker, 0))
	}
	return data[treeSize+16 : marker], nil
}

// resolve returns the offset of the record at off, following it if it
// is a pointer; a pointer to a pointer is an error, as in the reader.
func (l *mmdbLoad) resolve(off uint) (uint, error) {
	if off >= uint(len(l.section)) || l.section[off]>>5 != 1 {
		return off, nil
	}
	target, _, err := readPointer(l.section, int(off))
	if err != nil {
		return 0, err
	}
	if target < len(l.section) && l.section[target]>>5 == 1 {
		return 0, fmt.Errorf("pointer at offset %d leads to another pointer", off)
	}
	return uint(target), nil
}

// measure skips the record at off without following pointers, charges
// its length to the budget of record bytes and checks that its maps
// and arrays nest at most maxRecordDepth deep. The reader library
// skips unknown fields the same way, so once measured, a record
// decodes in time proportional to its length plus the short values it
// points to.
func (l *mmdbLoad) measure(off uint) error {
	budget := l.maxRecordBytes - l.recordBytes
	end, err := skipValue(l.section, int(off), budget)
	if err != nil {
		return err
	}
	l.recordBytes += end - int(off)
	return nil
}

var errRecordEnd = errors.New("record runs past the end of the data section")

// skipValue returns the offset just after the value at off in an MMDB
// data section, reading at most budget bytes (else errRecordsOverlap)
// and nesting at most maxRecordDepth maps and arrays.
func skipValue(b []byte, off, budget int) (int, error) {
	start := off
	// pending holds, for each open map or array, how many values it
	// still holds; the first entry is the record itself.
	pending := make([]int, 1, 8)
	pending[0] = 1
	for len(pending) > 0 {
		if pending[len(pending)-1] == 0 {
			pending = pending[:len(pending)-1]
			continue
		}
		pending[len(pending)-1]--
		if off-start > budget {
			return 0, errRecordsOverlap
		}
		if off >= len(b) {
			return 0, errRecordEnd
		}
		ctrl := b[off]
		off++
		typ := int(ctrl >> 5)
		if typ == 1 { // pointer: 2 to 5 bytes, not followed
			off += int(ctrl>>3&3) + 1
			continue
		}
		if typ == 0 { // extended type
			if off >= len(b) {
				return 0, errRecordEnd
			}
			typ = 7 + int(b[off])
			off++
		}
		size := int(ctrl & 0x1f)
		if size >= 29 {
			n := size - 28 // 1, 2 or 3 more bytes
			if off+n > len(b) {
				return 0, errRecordEnd
			}
			v := 0
			for _, c := range b[off : off+n] {
				v = v<<8 | int(c)
			}
			off += n
			size = [...]int{29, 285, 65821}[n-1] + v
		}
		switch typ {
		case 7, 11: // map, array
			if len(pending) > maxRecordDepth {
				return 0, errRecordTooDeep
			}
			if typ == 7 {
				size *= 2 // a key and a value per entry
			}
			// A value takes at least a byte: a count beyond the bytes
			// left is a lie, refused before it is trusted.
			if size > len(b)-off {
				return 0, errRecordEnd
			}
			pending = append(pending, size)
		case 14: // boolean: the value is in the size
		case 2, 3, 4, 5, 6, 8, 9, 10, 15:
			off += size
		default:
			return 0, fmt.Errorf("invalid data type %d at offset %d", typ, off)
		}
	}
	if off > len(b) {
		return 0, errRecordEnd
	}
	if off-start > budget {
		return 0, errRecordsOverlap
	}
	return off, nil
}

// readPointer decodes the pointer at off in an MMDB data section and
// returns its target and the offset after it.
func readPointer(b []byte, off int) (target, next int, err error) {
	ctrl := b[off]
	n := int(ctrl>>3&3) + 1
	if off+1+n > len(b) {
		return 0, 0, errRecordEnd
	}
	p := b[off+1 : off+1+n]
	low := int(ctrl & 7)
	switch n {
	case 1:
		target = low<<8 | int(p[0])
	case 2:
		target = (low<<16 | int(p[0])<<8 | int(p[1])) + 2048
	case 3:
		target = (low<<24 | int(p[0])<<16 | int(p[1])<<8 | int(p[2])) + 526336
	default:
		target = int(binary.BigEndian.Uint32(p))
	}
	return target, off + 1 + n, nil
}

// ipv4Aliases are the IPv6 networks through which MaxMind DB writers
// make the IPv4 subtree reachable a second time. Their content repeats
// the IPv4 networks, which Lookup reaches directly, so storing them
// would only triple the table: Lookup maps a 6to4 or Teredo address to
// the IPv4 address it carries itself (ClientAddr), for every format,
// and rightly for Teredo, whose alias in these files leads to the
// Teredo server's address (bits 32 to 63), not the client's.
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
