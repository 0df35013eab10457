package asn

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rempart/rempart/asn/asntest"
)

// nestedRecordsMMDB builds the input that hung the loader: 2^depth
// records, each a map whose single entry holds the next record, so
// that record i spans everything after it. Decoding each record in
// full reads the rest of the data section, which takes time quadratic
// in the file's length: 0.6 s for depth 13 (74 kB), 2 s for depth 14
// (164 kB), four times as long for each doubling, hours for a few
// megabytes.
func nestedRecordsMMDB(depth int) []byte {
	leaves := 1 << depth
	nodes := leaves - 1
	var data []byte
	for range leaves {
		data = append(data, 0xE1, 0x41, 'x') // map of one entry, key "x", value: what follows
	}
	data = append(data, 0xA0) // uint16 0, ending the chain
	tree := fullTree(depth, func(i int) uint32 { return dataRecord(nodes, 3*i) })
	return rawMMDB{ipVersion: 4, recordSize: 24, nodes: tree, data: data}.bytes()
}

// The input kept in testdata/fuzz/FuzzParseMMDB (gzip-compressed there,
// as depth 13) is refused, and so is a larger one.
func TestMMDBNestedRecordsRefused(t *testing.T) {
	for _, depth := range []int{13, 16} {
		_, err := Parse(nestedRecordsMMDB(depth), "nested.mmdb")
		if !errors.Is(err, errRecordTooDeep) {
			t.Fatalf("depth %d: error = %v, want %v", depth, err, errRecordTooDeep)
		}
		if !strings.HasPrefix(err.Error(), "nested.mmdb: record for ") {
			t.Errorf("error %q does not name the file and record", err)
		}
	}
	corpus, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzParseMMDB", "nested-records-quadratic"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(corpus, []byte("go test fuzz v1")) {
		t.Fatal("corpus file is not a fuzz corpus entry")
	}
}

// Records that overlap without nesting deeply still read more than the
// data section holds, and are refused.
func TestMMDBOverlappingRecords(t *testing.T) {
	// Four levels of map {"x": string}, each string holding the next
	// level, and at the bottom records that carry an AS number: every
	// level spans nearly the whole data section.
	leaf := encMap(map[string][]byte{"autonomous_system_number": encUint(6, 64500)})
	var inner []byte
	for range 64 {
		inner = append(inner, leaf...)
	}
	const levels = 4
	headers := make([]int, 0, levels) // offset of each level's map
	data := inner
	for range levels {
		wrapped := append(encControl(7, 1), encString("x")...)
		wrapped = append(wrapped, encControl(2, len(data))...)
		for i := range headers {
			headers[i] += len(wrapped)
		}
		headers = append(headers, 0)
		data = append(wrapped, data...)
	}
	innerStart := len(data) - len(inner)
	var offsets []int
	offsets = append(offsets, headers...)
	for i := range 64 {
		offsets = append(offsets, innerStart+i*len(leaf))
	}
	for len(offsets) < 128 {
		offsets = append(offsets, offsets[len(offsets)-1])
	}
	tree := fullTree(7, func(i int) uint32 { return dataRecord(127, offsets[i]) })
	db := rawMMDB{ipVersion: 4, recordSize: 28, nodes: tree, data: data}
	_, err := Parse(db.bytes(), "overlap.mmdb")
	if !errors.Is(err, errRecordsOverlap) {
		t.Fatalf("error = %v, want %v", err, errRecordsOverlap)
	}
}

// Organisation names that overlap (a string header at every other
// byte of a run) would each be decoded and kept: refused.
func TestMMDBOverlappingOrgs(t *testing.T) {
	const n = 64
	// "]z" repeated: at every even offset, 0x5D starts a string of
	// 29+0x7A = 151 bytes.
	blob := bytes.Repeat([]byte("]z"), 200)
	var data []byte
	data = append(data, blob...)
	offsets := make([]int, 0, n)
	for i := range n {
		offsets = append(offsets, len(data))
		data = append(data, encMap(map[string][]byte{
			"autonomous_system_number":       encUint(6, uint64(64500+i)),
			"autonomous_system_organization": encPointer(2 * i),
		})...)
	}
	tree := fullTree(6, func(i int) uint32 { return dataRecord(63, offsets[i]) })
	_, err := Parse(rawMMDB{ipVersion: 4, recordSize: 24, nodes: tree, data: data}.bytes(), "orgs.mmdb")
	if !errors.Is(err, errStringsOverlap) {
		t.Fatalf("error = %v, want %v", err, errStringsOverlap)
	}
}

func TestMMDBMetadataAndRecordBounds(t *testing.T) {
	record := encMap(map[string][]byte{
		"autonomous_system_number":       encUint(6, 64500),
		"autonomous_system_organization": encString("Example"),
	})
	good := func() rawMMDB {
		return rawMMDB{ipVersion: 4, recordSize: 24, nodes: fullTree(1, func(int) uint32 { return dataRecord(1, 0) }), data: record}
	}
	// A pointer (at offset len(record)) to a pointer (at 0 of a
	// second copy) is refused; a pointer to a record is followed.
	ptrToRecord := good()
	ptrToRecord.data = append(append([]byte(nil), record...), encPointer(0)...)
	ptrToRecord.nodes = fullTree(1, func(int) uint32 { return dataRecord(1, len(record)) })
	ptrToPtr := good()
	ptrToPtr.data = append(append(encPointer(2), encPointer(0)...), record...)
	ptrToPtr.nodes = fullTree(1, func(int) uint32 { return dataRecord(1, 0) })

	longOrg := good()
	longOrg.data = encMap(map[string][]byte{
		"autonomous_system_number":       encUint(6, 64500),
		"autonomous_system_organization": encString(strings.Repeat("o", maxOrgLength+1)),
	})
	deep := good()
	deep.data = nil
	for range maxRecordDepth + 1 {
		deep.data = append(deep.data, encMap(map[string][]byte{"x": nil})...)
	}
	deep.data = append(deep.data, encUint(5, 0)...)
	lyingArray := good()
	lyingArray.data = append(append(encControl(7, 1), encString("x")...), encControl(11, 1<<20)...)

	withRecordSize := good()
	withRecordSize.nodeCount = 1 << 20 // more nodes than the file holds
	badIPVersion := good()
	badIPVersion.ipVersion = 5

	tests := []struct {
		name    string
		db      rawMMDB
		wantErr string
	}{
		{"pointer to a pointer", ptrToPtr, "leads to another pointer"},
		{"organisation too long", longOrg, "1024"},
		{"nesting too deep", deep, errRecordTooDeep.Error()},
		{"array longer than the file", lyingArray, errRecordEnd.Error()},
		{"node count beyond the file", withRecordSize, "corrupt"},
		{"ip version 5", badIPVersion, "IP version 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl, err := Parse(tt.db.bytes(), "db.mmdb")
			if err == nil {
				t.Fatalf("Parse succeeded with %d prefixes, want error containing %q", tbl.Len(), tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "db.mmdb: ") || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q: want prefix %q and to contain %q", err, "db.mmdb: ", tt.wantErr)
			}
		})
	}
	for name, db := range map[string]rawMMDB{"plain": good(), "record behind a pointer": ptrToRecord} {
		tbl, err := Parse(db.bytes(), "db.mmdb")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if info, ok := tbl.Lookup(mustAddr("1.2.3.4")); !ok || info != (Info{ASN: 64500, Org: "Example"}) {
			t.Errorf("%s: Lookup = %v, %v", name, info, ok)
		}
	}
	for _, size := range []int{16, 20} {
		db := good()
		db.recordSize = 24
		data := db.bytes()
		// Patch the metadata's record_size (a uint16 of one byte).
		i := bytes.Index(data, []byte("record_size\xa1\x18"))
		data[i+len("record_size\xa1")] = byte(size)
		if _, err := Parse(data, "db.mmdb"); err == nil || !strings.Contains(err.Error(), "db.mmdb: ") {
			t.Errorf("record size %d: error = %v", size, err)
		}
	}
}

// longLine streams one line of size bytes ("1.0.0.0,1.0.0.255,1,xxx…"
// or with tabs), never holding it, and counts what was read.
type longLine struct {
	prefix string
	size   int64
	read   int64
}

func (l *longLine) Read(p []byte) (int, error) {
	if l.read >= l.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && l.read < l.size {
		switch {
		case l.read < int64(len(l.prefix)):
			p[n] = l.prefix[l.read]
		case l.read == l.size-1:
			p[n] = '\n'
		default:
			p[n] = 'x'
		}
		n++
		l.read++
	}
	return n, nil
}

func TestParseReaderLineOfAGigabyte(t *testing.T) {
	for _, tt := range []struct{ name, prefix string }{
		{"db.csv", "1.0.0.0,1.0.0.255,13335,"},
		{"db.tsv", "1.0.0.0\t1.0.0.255\t13335\tUS\t"},
		{"db.csv", "# comment\n1.0.0.0,1.0.0.255,13335,A\n1.0.0.0,"},
	} {
		src := &longLine{prefix: tt.prefix, size: 1 << 30}
		_, err := ParseReader(src, tt.name)
		var long *lineTooLongError
		if !errors.As(err, &long) || !strings.Contains(err.Error(), "line longer than 4096 bytes") ||
			!strings.HasPrefix(err.Error(), tt.name+":") {
			t.Fatalf("%q: error = %v, want a line longer than 4096 bytes", tt.prefix, err)
		}
		if want := strings.Count(tt.prefix, "\n") + 1; long.line != want {
			t.Errorf("%q: error names line %d, want %d", tt.prefix, long.line, want)
		}
		if src.read > 1<<20 {
			t.Errorf("%q: read %d bytes of the line before refusing it", tt.prefix, src.read)
		}
	}
	// The same line compressed, gzipped as it is read: refused as it
	// is decompressed, the compressor stopping when reading stops.
	pr, pw := io.Pipe()
	src := &longLine{prefix: "1.0.0.0,1.0.0.255,13335,", size: 1 << 30}
	go func() {
		zw := gzip.NewWriter(pw)
		_, err := io.Copy(zw, src)
		if err == nil {
			err = zw.Close()
		}
		pw.CloseWithError(err)
	}()
	_, err := ParseReader(pr, "db.csv.gz")
	pr.Close()
	if err == nil || !strings.Contains(err.Error(), "db.csv.gz:1: line longer") {
		t.Errorf("gzip: error = %v", err)
	}
	// No separator at all: still a line too long, not another format.
	if _, err = ParseReader(&longLine{size: 1 << 30}, "db.txt"); err == nil || !strings.Contains(err.Error(), "db.txt:1: line longer") {
		t.Errorf("no separator: error = %v", err)
	}
}

// manyRanges streams n CSV lines of one address each, counting them.
type manyRanges struct {
	n, done int
	buf     []byte
	line    string
}

func (m *manyRanges) Read(p []byte) (int, error) {
	for len(m.buf) < len(p) && m.done < m.n {
		i := m.done
		m.buf = append(m.buf, itoa(uint32(0x01000000+i))...)
		m.buf = append(m.buf, ',')
		m.buf = append(m.buf, itoa(uint32(0x01000000+i))...)
		m.buf = append(m.buf, ",64500,"...)
		m.buf = append(m.buf, m.line...)
		m.buf = append(m.buf, '\n')
		m.done++
	}
	if len(m.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, m.buf)
	m.buf = m.buf[n:]
	return n, nil
}

func TestParseReaderTooManyRanges(t *testing.T) {
	old := prefixLimit
	prefixLimit = 50_000
	t.Cleanup(func() { prefixLimit = old })

	src := &manyRanges{n: 5_000_000, line: "Tiny"}
	_, err := ParseReader(src, "tiny.csv")
	if !errors.Is(err, errTooManyPrefixes) || !strings.HasPrefix(err.Error(), "tiny.csv:50001: ") {
		t.Fatalf("error = %v, want %v on line 50001", err, errTooManyPrefixes)
	}
	if src.done > 100_000 {
		t.Errorf("read %d lines before refusing the file", src.done)
	}
	// A range that splits into many prefixes counts them all: 254 for
	// this one.
	prefixLimit = 253
	_, err = Parse([]byte("::1,ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe,64500,Wide\n"), "wide.csv")
	if !errors.Is(err, errTooManyPrefixes) {
		t.Errorf("wide range: error = %v, want %v", err, errTooManyPrefixes)
	}
	prefixLimit = 254
	if tbl, err := Parse([]byte("::1,ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe,64500,Wide\n"), "wide.csv"); err != nil || tbl.Len() != 254 {
		t.Errorf("wide range within the limit: %v", err)
	}
}

func TestParseReaderSizeLimit(t *testing.T) {
	r := &sizeLimitReader{r: strings.NewReader(strings.Repeat("a", 100)), left: 10}
	if _, err := io.ReadAll(r); !errors.Is(err, errTooLarge) {
		t.Errorf("error = %v, want %v", err, errTooLarge)
	}
	r = &sizeLimitReader{r: strings.NewReader(strings.Repeat("a", 10)), left: 10}
	if b, err := io.ReadAll(r); err != nil || len(b) != 10 {
		t.Errorf("exactly the limit: %d bytes, %v", len(b), err)
	}
}

// ParseReader agrees with Parse on every format, compressed or not.
func TestParseReaderAgreesWithParse(t *testing.T) {
	dir := t.TempDir()
	inputs := map[string][]byte{
		"db.csv":   []byte("\xEF\xBB\xBF# c\n1.0.0.0,1.0.0.255,13335,CLOUDFLARENET\n2001:db8::,2001:db8::ffff,64496,\"Doc, Six\"\n"),
		"db.tsv":   []byte("1.0.0.0\t1.0.0.255\t13335\tUS\tCLOUDFLARENET\r\n1.0.1.0\t1.0.3.255\t0\tNone\tNot routed\n"),
		"empty":    nil,
		"comments": []byte(strings.Repeat("#\n", textPeekSize)),
		"binary":   []byte("\x00\x01garbage"),
	}
	path := filepath.Join(dir, "db.mmdb")
	asntest.WriteIPinfoMMDB(t, path, testNetworks)
	mmdb, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	inputs["db.mmdb"] = mmdb
	for name, data := range inputs {
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(data)
		zw.Close()
		for _, in := range [][]byte{data, gz.Bytes()} {
			want, wantErr := Parse(in, name)
			got, err := ParseReader(bytes.NewReader(in), name)
			if (err == nil) != (wantErr == nil) || got.Len() != want.Len() || got.Format() != want.Format() {
				t.Errorf("%s: ParseReader = %d prefixes, %v; Parse = %d, %v", name, got.Len(), err, want.Len(), wantErr)
			}
		}
	}
	// Past the 64 KiB window, comments hide the format from ParseReader.
	if _, err := ParseReader(bytes.NewReader(append(inputs["comments"], inputs["db.csv"]...)), "late.csv"); !errors.Is(err, errNoDataLine) {
		t.Errorf("data after 64 KiB of comments: error = %v, want %v", err, errNoDataLine)
	}
}
