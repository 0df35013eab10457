package asn

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Format names a database layout that Load understands.
type Format uint8

// The formats Load detects.
const (
	FormatUnknown Format = iota
	FormatMMDB           // MaxMind DB: GeoLite2-ASN, DB-IP ASN Lite, IPinfo Lite
	FormatCSV            // ip-location-db: start,end,asn,org
	FormatTSV            // iptoasn: start, end, AS number, country, description
)

func (f Format) String() string {
	switch f {
	case FormatMMDB:
		return "mmdb"
	case FormatCSV:
		return "csv"
	case FormatTSV:
		return "tsv"
	default:
		return "unknown"
	}
}

const (
	// maxFileSize bounds the bytes Load reads and Parse accepts, after
	// decompression. The largest free ASN databases are a few tens of
	// megabytes, so this only stops a wrong file (or a gzip bomb) from
	// exhausting memory.
	maxFileSize = 1 << 30

	// maxLineLength bounds a CSV or TSV line. Real lines are under 200
	// bytes; a longer one means a binary or wrong file, and rejecting it
	// keeps the work per line bounded.
	maxLineLength = 4 << 10
)

var (
	errEmpty         = errors.New("empty file: no networks")
	errUnknownFormat = errors.New("unknown format: want a MaxMind .mmdb, an ip-location-db CSV (start,end,asn,org) or an iptoasn TSV")
	errBinary        = errors.New("binary data without a MaxMind DB metadata marker: a truncated or corrupt .mmdb?")
	errTooLarge      = fmt.Errorf("file larger than %d bytes", maxFileSize)
	errTar           = errors.New("a tar archive: extract the .mmdb or .csv file from it first")
)

// mmdbMarker starts the metadata section that ends every MaxMind DB
// file; the specification puts it within the last 128 KiB.
var mmdbMarker = []byte("\xAB\xCD\xEFMaxMind.com")

const mmdbMetadataMaxSize = 128 << 10

// Load reads the IP-to-ASN database at path and builds a Table. The
// format is detected from the content (see Parse); gzip-compressed
// files, as iptoasn publishes them, are decompressed first.
func Load(path string) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Read through a limit rather than trusting Stat: the file may be
	// replaced or grow while it is read.
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return Parse(data, path)
}

// Parse builds a Table from the content of an IP-to-ASN database; name
// (usually the file path) prefixes error messages. It detects:
//
//   - a MaxMind DB (.mmdb) by its metadata marker, reading either the
//     GeoLite2 / DB-IP fields (autonomous_system_number,
//     autonomous_system_organization) or the IPinfo ones (asn as
//     "AS174", as_name);
//   - otherwise text, whose first non-empty line decides: a tab before
//     any comma means an iptoasn TSV, a comma an ip-location-db CSV.
//
// Gzip-compressed content is decompressed first. In CSV and TSV files
// addresses may be written as text or, as in the "-num" / "-u32"
// variants, as decimal integers; AS number 0 ("Not routed") is skipped.
// Ranges become prefixes; where they overlap, the most specific prefix
// wins and, for the very same prefix, the later line wins.
//
// Errors name the file and, for text formats, the line:
// "asn.csv:12: bad end address "1.2.3"".
func Parse(data []byte, name string) (*Table, error) {
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s: %w", name, errTooLarge)
	}
	if isGzip(data) {
		var err error
		if data, err = gunzip(data); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	b := newBuilder()
	format, err := detect(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	switch format {
	case FormatMMDB:
		err = parseMMDB(data, name, b)
	case FormatCSV:
		err = parseCSV(data, name, b)
	case FormatTSV:
		err = parseTSV(data, name, b)
	}
	if err != nil {
		return nil, err
	}
	if b.len() == 0 {
		return nil, fmt.Errorf("%s: %w", name, errEmpty)
	}
	b.table.format = format
	return b.table, nil
}

func isGzip(data []byte) bool {
	return len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b
}

func gunzip(data []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	defer zr.Close()
	out, err := io.ReadAll(io.LimitReader(zr, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if len(out) > maxFileSize {
		return nil, fmt.Errorf("gzip: decompressed %w", errTooLarge)
	}
	return out, nil
}

// detect tells the format of data from its content alone.
func detect(data []byte) (Format, error) {
	// MaxMind ships GeoLite2 as .tar.gz; a tar file would otherwise
	// pass for a database, since the marker of the .mmdb inside it is
	// near its end.
	if len(data) >= 262 && string(data[257:262]) == "ustar" {
		return FormatUnknown, errTar
	}
	tail := data[max(0, len(data)-mmdbMetadataMaxSize):]
	if bytes.Contains(tail, mmdbMarker) {
		return FormatMMDB, nil
	}
	if isBinary(data[:min(len(data), 512)]) {
		return FormatUnknown, errBinary
	}
	data = bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF")) // UTF-8 byte order mark
	for line := range bytes.Lines(data) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		switch i := bytes.IndexAny(line, "\t,"); {
		case i < 0:
			return FormatUnknown, errUnknownFormat
		case line[i] == '\t':
			return FormatTSV, nil
		default:
			return FormatCSV, nil
		}
	}
	return FormatUnknown, errEmpty
}

// isBinary reports control bytes that no CSV or TSV file contains.
func isBinary(head []byte) bool {
	for _, c := range head {
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f {
			return true
		}
	}
	return false
}

// checkLineLengths reports the first line longer than maxLineLength, so
// that the parsers never work on an unbounded line.
func checkLineLengths(data []byte, name string) error {
	for n := 1; len(data) > 0; n++ {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			i = len(data)
		}
		if i > maxLineLength {
			return fmt.Errorf("%s:%d: line longer than %d bytes: not a CSV/TSV ASN database?", name, n, maxLineLength)
		}
		data = data[min(i+1, len(data)):]
	}
	return nil
}

// ParseNumber reads an AS number written "16509", "AS16509" or "as16509",
// with surrounding spaces ignored. It accepts 0, which databases use for
// "not routed"; callers that name networks refuse it themselves.
func ParseNumber(s string) (uint32, error) {
	s = strings.TrimSpace(s)
	if len(s) > 2 && (s[0] == 'A' || s[0] == 'a') && (s[1] == 'S' || s[1] == 's') {
		s = s[2:]
	}
	// ParseUint accepts neither a sign nor spaces, so "AS -1" fails here.
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, err
	}
	return uint32(n), nil
}
