package asn

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gaissmai/bart"
)

// Info describes the autonomous system that announces an address.
type Info struct {
	// ASN is the autonomous system number; 0 never appears in a table,
	// because every supported format uses it for "not routed".
	ASN uint32
	// Org is the organisation name as the database spells it, with
	// control characters but tab, bidirectional controls and invalid
	// UTF-8 replaced by U+FFFD (see CleanText); it may be empty.
	Org string
}

// CleanText replaces, in text an outsider wrote, each character that must
// not reach staff's screens with U+FFFD: an organisation name is chosen by
// whoever registers an AS (a request's path by whoever sends it), and
// shown in terminals, logs and the dashboard, where a newline would forge
// a line of output, an escape sequence drive the terminal, and a
// bidirectional control reorder what is shown. Invalid UTF-8 is replaced
// too; a tab, which real descriptions hold, is kept. A clean text is
// returned as is.
func CleanText(s string) string {
	clean := true
	for i := 0; i < len(s) && clean; i++ {
		clean = s[i] >= 0x20 && s[i] < 0x7f || s[i] == '\t'
	}
	if clean {
		return s
	}
	var b strings.Builder
	changed := false
	for i, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) && r != '\t' || unicode.Is(unicode.Bidi_Control, r) {
			if !changed {
				b.Grow(len(s) + 2)
				b.WriteString(s[:i])
				changed = true
			}
			b.WriteRune(utf8.RuneError)
			continue
		}
		if changed {
			b.WriteRune(r)
		}
	}
	if !changed {
		return s
	}
	return b.String()
}

// Table maps IP prefixes (IPv4 and IPv6 in one trie) to autonomous
// systems. A Table is immutable once built and safe for concurrent
// use; reloads build a new Table rather than changing one in place.
type Table struct {
	// prefixes stores, for each prefix, an index into infos rather
	// than the Info itself: a million prefixes share a few tens of
	// thousands of distinct (ASN, org) pairs, so a uint32 per prefix
	// keeps the trie small and the org strings stored once.
	prefixes bart.Table[uint32]
	infos    []Info
	format   Format
}

// Lookup returns the autonomous system announcing addr, using the most
// specific prefix that contains it. IPv4-mapped IPv6 addresses
// (::ffff:a.b.c.d) are looked up as the IPv4 address they carry, which
// is how a dual-stack listener reports IPv4 clients, and so are 6to4
// and Teredo addresses that carry a public IPv4 address (see
// [ClientAddr]). Lookup does not allocate. A nil Table finds nothing.
func (t *Table) Lookup(addr netip.Addr) (Info, bool) {
	if t == nil {
		return Info{}, false
	}
	addr, _ = ClientAddr(addr)
	idx, ok := t.prefixes.Lookup(addr)
	if !ok {
		return Info{}, false
	}
	return t.infos[idx], true
}

// Len returns the number of prefixes in the table.
func (t *Table) Len() int {
	if t == nil {
		return 0
	}
	return t.prefixes.Size()
}

// Format returns the layout the table was loaded from.
func (t *Table) Format() Format {
	if t == nil {
		return FormatUnknown
	}
	return t.format
}

// maxPrefixes bounds the prefixes of one table. The largest free
// databases hold 1 to 2 million; a file that yields more (a CSV of
// millions of tiny ranges, or wide IPv6 ranges of up to 254 prefixes
// each, or a MaxMind DB whose tree was forged to fan out) is refused
// before the table takes gigabytes.
const maxPrefixes = 1 << 23

// prefixLimit is maxPrefixes, lowered by tests.
var prefixLimit = maxPrefixes

// errTooManyPrefixes is returned once a table would exceed prefixLimit.
var errTooManyPrefixes = errors.New("too many networks for an ASN database: refused to bound memory")

// builder accumulates prefixes for a Table, interning each distinct
// (ASN, org) pair once, and each distinct org string once.
type builder struct {
	table *Table
	index map[Info]uint32
	orgs  map[string]string
}

func newBuilder() *builder {
	return &builder{table: new(Table), index: make(map[Info]uint32), orgs: make(map[string]string)}
}

// insert maps pfx to info. Inserting a prefix that is already present
// replaces its value: the later record wins for identical prefixes,
// while lookups always prefer the most specific prefix. It fails with
// errTooManyPrefixes once the table would exceed maxPrefixes.
func (b *builder) insert(pfx netip.Prefix, info Info) error {
	idx, ok := b.index[info]
	if !ok {
		// The org may be a substring of a whole input line or record;
		// cloning keeps only the name alive, and interning stores a
		// name shared by several AS numbers once.
		org, seen := b.orgs[info.Org]
		if !seen {
			org = strings.Clone(info.Org)
			b.orgs[org] = org
		}
		info.Org = org
		idx = uint32(len(b.table.infos))
		b.table.infos = append(b.table.infos, info)
		b.index[info] = idx
	}
	b.table.prefixes.Insert(pfx, idx)
	if n := b.table.prefixes.Size(); n > prefixLimit {
		return fmt.Errorf("%w (more than %d; the largest real databases hold about 2 million)", errTooManyPrefixes, prefixLimit)
	}
	return nil
}

func (b *builder) len() int { return b.table.prefixes.Size() }
