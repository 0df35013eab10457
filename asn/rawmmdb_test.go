package asn

import (
	"bytes"
	"encoding/binary"
	"sort"
)

// rawMMDB assembles a MaxMind DB byte by byte, so that tests can build
// files no writer would produce: shared or looping search trees,
// records that overlap, metadata that lies about the tree.
type rawMMDB struct {
	ipVersion  int
	recordSize int // 24, 28 or 32
	nodes      [][2]uint32
	nodeCount  int // metadata node_count; len(nodes) when 0
	data       []byte
	dbType     string
}

// dataRecord is the record value that points at offset in the data
// section, for a tree of nodeCount nodes.
func dataRecord(nodeCount, offset int) uint32 { return uint32(nodeCount + 16 + offset) }

func (m rawMMDB) bytes() []byte {
	var out bytes.Buffer
	for _, n := range m.nodes {
		l, r := n[0], n[1]
		switch m.recordSize {
		case 24:
			out.Write([]byte{byte(l >> 16), byte(l >> 8), byte(l), byte(r >> 16), byte(r >> 8), byte(r)})
		case 28:
			out.Write([]byte{byte(l >> 16), byte(l >> 8), byte(l),
				byte(l>>24&0x0f)<<4 | byte(r>>24&0x0f),
				byte(r >> 16), byte(r >> 8), byte(r)})
		case 32:
			out.Write(binary.BigEndian.AppendUint32(nil, l))
			out.Write(binary.BigEndian.AppendUint32(nil, r))
		default:
			panic("record size")
		}
	}
	out.Write(make([]byte, 16))
	out.Write(m.data)
	out.Write(mmdbMarker)
	nodeCount := m.nodeCount
	if nodeCount == 0 {
		nodeCount = len(m.nodes)
	}
	dbType := m.dbType
	if dbType == "" {
		dbType = "GeoLite2-ASN"
	}
	out.Write(encMap(map[string][]byte{
		"node_count":                  encUint(6, uint64(nodeCount)),
		"record_size":                 encUint(5, uint64(m.recordSize)),
		"ip_version":                  encUint(5, uint64(m.ipVersion)),
		"database_type":               encString(dbType),
		"binary_format_major_version": encUint(5, 2),
		"binary_format_minor_version": encUint(5, 0),
		"build_epoch":                 encUint(9, 1),
	}))
	return out.Bytes()
}

// encControl encodes the control byte(s) of a value of type typ (1 to
// 15) and size.
func encControl(typ int, size int) []byte {
	var b []byte
	first := byte(typ << 5)
	if typ > 7 {
		first = 0
	}
	var ext []byte
	switch {
	case size < 29:
		first |= byte(size)
	case size < 29+256:
		first |= 29
		ext = []byte{byte(size - 29)}
	case size < 285+65536:
		first |= 30
		ext = binary.BigEndian.AppendUint16(nil, uint16(size-285))
	default:
		first |= 31
		s := size - 65821
		ext = []byte{byte(s >> 16), byte(s >> 8), byte(s)}
	}
	b = append(b, first)
	if typ > 7 {
		b = append(b, byte(typ-7))
	}
	return append(b, ext...)
}

func encString(s string) []byte { return append(encControl(2, len(s)), s...) }

// encUint encodes v as an unsigned integer of type typ: 5 (uint16), 6
// (uint32) or 9 (uint64).
func encUint(typ int, v uint64) []byte {
	var digits []byte
	for ; v > 0; v >>= 8 {
		digits = append([]byte{byte(v)}, digits...)
	}
	return append(encControl(typ, len(digits)), digits...)
}

// encPointer encodes a pointer to offset in the data section.
func encPointer(offset int) []byte {
	switch {
	case offset < 1<<11:
		return []byte{0x20 | byte(offset>>8), byte(offset)}
	case offset < 1<<19+2048:
		o := offset - 2048
		return []byte{0x28 | byte(o>>16), byte(o >> 8), byte(o)}
	case offset < 1<<27+526336:
		o := offset - 526336
		return []byte{0x30 | byte(o>>24), byte(o >> 16), byte(o >> 8), byte(o)}
	default:
		return append([]byte{0x38}, binary.BigEndian.AppendUint32(nil, uint32(offset))...)
	}
}

func encMap(m map[string][]byte) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b := encControl(7, len(m))
	for _, k := range keys {
		b = append(b, encString(k)...)
		b = append(b, m[k]...)
	}
	return b
}

// fullTree returns the nodes of a complete binary tree of the given
// depth whose 2^depth leaves are given by leaf(i).
func fullTree(depth int, leaf func(i int) uint32) [][2]uint32 {
	n := 1<<depth - 1
	nodes := make([][2]uint32, n)
	for i := range n {
		l, r := 2*i+1, 2*i+2
		if l >= n {
			nodes[i] = [2]uint32{leaf(l - n), leaf(r - n)}
		} else {
			nodes[i] = [2]uint32{uint32(l), uint32(r)}
		}
	}
	return nodes
}
