package asn

import (
	"bufio"
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
// format is detected from the content (see Parse and ParseReader);
// gzip-compressed files, as iptoasn publishes them, are decompressed
// first. A file that breaks one of the bounds in the package
// documentation is refused with an error naming it and the bound.
func Load(path string) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// ParseReader reads through a limit rather than trusting Stat: the
	// file may be replaced or grow while it is read.
	return ParseReader(f, path)
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
	return parseUncompressed(data, name)
}

// parseUncompressed is Parse after decompression.
func parseUncompressed(data []byte, name string) (*Table, error) {
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s: %w", name, errTooLarge)
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
		err = parseCSV(&lineLimitReader{r: bytes.NewReader(data), name: name, line: 1}, name, b)
	case FormatTSV:
		err = parseTSV(&lineLimitReader{r: bytes.NewReader(data), name: name, line: 1}, name, b)
	}
	return finish(b, format, name, err)
}

// finish returns the table b built from a file of the given format, or
// the error that stopped it.
func finish(b *builder, format Format, name string, err error) (*Table, error) {
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
	return detectText(data)
}

// detectText tells CSV from TSV by the first data line of data.
func detectText(data []byte) (Format, error) {
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

// textPeekSize is how much of a text file ParseReader looks at to tell
// CSV from TSV: the first data line must start within it.
const textPeekSize = 64 << 10

// ParseReader is Parse for a stream, which Load uses: a CSV or TSV
// database is read line by line, so that memory stays bounded by the
// table whatever the file (a single line of a gigabyte is refused once
// its first maxLineLength bytes are read), while a MaxMind DB, which
// needs random access, is read whole, up to the same size limit as
// Parse. The format is told from the first 512 bytes (binary data
// means a MaxMind DB), and the first data line of a text file must
// start in its first 64 KiB.
func ParseReader(r io.Reader, name string) (*Table, error) {
	br := bufio.NewReaderSize(r, textPeekSize)
	head, err := br.Peek(512)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if isGzip(head) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: gzip: %w", name, err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(&gzipErrReader{zr}, textPeekSize)
		if head, err = br.Peek(512); err != nil && err != io.EOF && err != bufio.ErrBufferFull {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	src := &sizeLimitReader{r: br, left: maxFileSize}
	if isBinary(head) || (len(head) >= 262 && string(head[257:262]) == "ustar") {
		// A MaxMind DB, or binary garbage that Parse explains.
		data, err := io.ReadAll(src)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return parseUncompressed(data, name)
	}
	window, err := br.Peek(textPeekSize)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if bytes.Contains(window, mmdbMarker) {
		// A MaxMind DB smaller than the window whose search tree looks
		// like text: read it as Parse would.
		data, err := io.ReadAll(src)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return parseUncompressed(data, name)
	}
	// A line too long to fit in the window is refused here, where it
	// is found, rather than mistaken for a file of another format.
	if _, err := io.Copy(io.Discard, &lineLimitReader{r: bytes.NewReader(window), name: name, line: 1}); err != nil {
		return nil, err
	}
	if len(window) == textPeekSize {
		// Tell the format from whole lines only.
		window = window[:bytes.LastIndexByte(window, '\n')+1]
	}
	format, err := detectText(window)
	if err == errEmpty && len(window) > 0 && !atEOF(br, len(window)) {
		err = errNoDataLine
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	b := newBuilder()
	lines := &lineLimitReader{r: src, name: name, line: 1}
	switch format {
	case FormatCSV:
		err = parseCSV(lines, name, b)
	case FormatTSV:
		err = parseTSV(lines, name, b)
	}
	return finish(b, format, name, err)
}

var errNoDataLine = fmt.Errorf("no data line in the first %d bytes: not a CSV/TSV ASN database?", textPeekSize)

// atEOF reports whether br holds nothing beyond its first n bytes.
func atEOF(br *bufio.Reader, n int) bool {
	_, err := br.Peek(n + 1)
	return err == io.EOF
}

// gzipErrReader prefixes the errors of a gzip stream.
type gzipErrReader struct{ r io.Reader }

func (g *gzipErrReader) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("gzip: %w", err)
	}
	return n, err
}

// sizeLimitReader fails with errTooLarge once more than left bytes
// have been read.
type sizeLimitReader struct {
	r    io.Reader
	left int64
}

func (s *sizeLimitReader) Read(p []byte) (int, error) {
	if s.left < 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > s.left+1 {
		p = p[:s.left+1]
	}
	n, err := s.r.Read(p)
	if s.left -= int64(n); s.left < 0 {
		return 0, errTooLarge
	}
	return n, err
}

// lineLimitReader passes a text stream through and fails, naming the
// line, as soon as a line runs past maxLineLength bytes: the parsers
// above it never hold more than one bounded line.
type lineLimitReader struct {
	r    io.Reader
	name string
	line int // the line being read, from 1
	col  int // bytes of it read so far
}

// lineTooLongError is the error of lineLimitReader.
type lineTooLongError struct {
	name string
	line int
}

func (e *lineTooLongError) Error() string {
	return fmt.Sprintf("%s:%d: line longer than %d bytes: not a CSV/TSV ASN database?", e.name, e.line, maxLineLength)
}

func (l *lineLimitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for _, c := range p[:n] {
		if c == '\n' {
			l.line++
			l.col = 0
			continue
		}
		if l.col++; l.col > maxLineLength {
			return 0, &lineTooLongError{name: l.name, line: l.line}
		}
	}
	return n, err
}

// textError returns the error of a text parser for a read error: a
// line too long keeps its own message, which names the file and line.
func textError(name string, err error) error {
	var long *lineTooLongError
	if errors.As(err, &long) {
		return long
	}
	return fmt.Errorf("%s: %w", name, err)
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
