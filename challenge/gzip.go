package challenge

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
)

// A gzip stream is a header, deflate blocks and a trailer (RFC 1952,
// 1951). Deflate blocks compressed separately and each ended by a flush
// (an empty stored block, which leaves the stream on a byte boundary) can
// be laid end to end, and bytes can be put between them as stored
// (uncompressed) blocks. So a page whose fixed parts were compressed once
// is sent compressed by copying them, its per-request values stored as
// they are, and a CRC-32 of the whole.

// gzipHeader is a gzip member header: deflate, no name, no time, unknown
// OS.
var gzipHeader = [10]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}

// deflatePart compresses part on its own, ending with a flush and no final
// block, or returns nothing for an empty part.
func deflatePart(part []byte) ([]byte, error) {
	if len(part) == 0 {
		return nil, nil
	}
	var buf bytes.Buffer
	zw, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		return nil, fmt.Errorf("deflate: %w", err)
	}
	if _, err := zw.Write(part); err != nil {
		return nil, fmt.Errorf("deflate: %w", err)
	}
	if err := zw.Flush(); err != nil {
		return nil, fmt.Errorf("deflate: %w", err)
	}
	return bytes.Clone(buf.Bytes()), nil
}

// maxStored is the most a stored block holds.
const maxStored = 1<<16 - 1

// storedHeader is the size of a stored block's header on a byte
// boundary: its type byte, then its length and the length's complement.
const storedHeader = 5

// putStoredHeader writes the header of a non-final stored block of n
// bytes.
func putStoredHeader(dst []byte, n int) {
	dst[0], dst[1], dst[2], dst[3], dst[4] = 0, byte(n), byte(n>>8), ^byte(n), ^byte(n>>8)
}

// appendStored appends b as non-final stored blocks.
func appendStored(dst, b []byte) []byte {
	for len(b) > 0 {
		n := min(len(b), maxStored)
		dst = append(dst, make([]byte, storedHeader)...)
		putStoredHeader(dst[len(dst)-storedHeader:], n)
		dst = append(dst, b[:n]...)
		b = b[n:]
	}
	return dst
}

// appendGzipEnd ends a gzip stream: an empty final block, then the CRC-32
// and the size (modulo 2^32) of what it holds uncompressed.
func appendGzipEnd(dst []byte, sum uint32, size int) []byte {
	dst = append(dst, 1, 0, 0, 0xff, 0xff)
	dst = binary.LittleEndian.AppendUint32(dst, sum)
	return binary.LittleEndian.AppendUint32(dst, uint32(size))
}
