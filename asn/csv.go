package asn

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// parseCSV reads the ip-location-db layout: start,end,asn,org with no
// header, one range per line, IPv4 and IPv6 alike. Org fields may be
// quoted; a quote inside an unquoted field is taken literally.
//
// It reads r line by line; r should fail on an overlong line, as
// lineLimitReader does.
func parseCSV(src io.Reader, name string, b *builder) error {
	br := bufio.NewReader(src)
	if err := skipBOM(br); err != nil {
		return textError(name, err)
	}
	r := csv.NewReader(br)
	r.FieldsPerRecord = -1 // checked below, with a clearer message
	r.LazyQuotes = true
	r.ReuseRecord = true
	r.Comment = '#'
	ri := rangeInserter{b: b}
	for first := true; ; first = false {
		record, err := r.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			var perr *csv.ParseError
			if errors.As(err, &perr) && !errors.As(perr.Err, new(*lineTooLongError)) {
				return fmt.Errorf("%s:%d: %w", name, perr.Line, perr.Err)
			}
			return textError(name, err)
		}
		line, _ := r.FieldPos(0)
		// A quoted field may legally span lines, but in these files
		// it only ever comes from a stray quote swallowing the lines
		// that follow: say so rather than report a confusing field.
		for _, field := range record {
			if strings.ContainsAny(field, "\r\n") {
				return fmt.Errorf("%s:%d: quoted field runs past the end of the line: unbalanced quote?", name, line)
			}
		}
		if len(record) != 4 {
			return fmt.Errorf("%s:%d: want 4 fields (start,end,asn,org), got %d", name, line, len(record))
		}
		if first && isCSVHeader(record) {
			continue
		}
		if err := ri.insert(record[0], record[1], record[2], record[3]); err != nil {
			return fmt.Errorf("%s:%d: %w", name, line, err)
		}
	}
}

// isCSVHeader recognises a header line, which ip-location-db files do
// not have but hand-made exports often do: neither the start address
// nor the AS number parses.
func isCSVHeader(record []string) bool {
	_, addrErr := parseRangeAddr(record[0])
	_, asnErr := ParseNumber(record[2])
	return addrErr != nil && asnErr != nil
}

// skipBOM drops a UTF-8 byte order mark at the start of br.
func skipBOM(br *bufio.Reader) error {
	head, err := br.Peek(3)
	if err != nil && err != io.EOF {
		return err
	}
	if bytes.Equal(head, []byte("\xEF\xBB\xBF")) {
		_, err = br.Discard(3)
	}
	return err
}
