package asn

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// tsvFields is the iptoasn layout: range_start, range_end, AS_number,
// country_code, AS_description.
const tsvFields = 5

// parseTSV reads the iptoasn layout. Ranges announced by no one carry
// AS number 0 and the description "Not routed"; they are skipped.
//
// It reads r line by line; r should fail on an overlong line, as
// lineLimitReader does.
func parseTSV(src io.Reader, name string, b *builder) error {
	br := bufio.NewReader(src)
	if err := skipBOM(br); err != nil {
		return textError(name, err)
	}
	ri := rangeInserter{b: b}
	for n := 1; ; n++ {
		raw, err := br.ReadString('\n')
		if err != nil && err != io.EOF {
			return textError(name, err)
		}
		if raw == "" && err == io.EOF {
			return nil
		}
		line := strings.TrimRight(raw, "\r\n")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		// The description is the last field: SplitN keeps any tab in it.
		fields := strings.SplitN(line, "\t", tsvFields)
		if len(fields) != tsvFields {
			return fmt.Errorf("%s:%d: want %d tab-separated fields (range_start, range_end, AS_number, country_code, AS_description), got %d",
				name, n, tsvFields, len(fields))
		}
		if err := ri.insert(fields[0], fields[1], fields[2], fields[4]); err != nil {
			return fmt.Errorf("%s:%d: %w", name, n, err)
		}
	}
}
