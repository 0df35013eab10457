package asn

import (
	"bytes"
	"fmt"
	"strings"
)

// tsvFields is the iptoasn layout: range_start, range_end, AS_number,
// country_code, AS_description.
const tsvFields = 5

// parseTSV reads the iptoasn layout. Ranges announced by no one carry
// AS number 0 and the description "Not routed"; they are skipped.
func parseTSV(data []byte, name string, b *builder) error {
	if err := checkLineLengths(data, name); err != nil {
		return err
	}
	data = bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF"))
	ri := rangeInserter{b: b}
	n := 0
	for raw := range bytes.Lines(data) {
		n++
		line := strings.TrimRight(string(raw), "\r\n")
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
	return nil
}
