package policies

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// fieldSet lists the keys a YAML mapping of a policy may have.
type fieldSet struct {
	// noun names a key in messages: "field", or "condition" in a match.
	noun  string
	names []string
}

// mapping is a YAML mapping whose keys were checked against a fieldSet.
type mapping struct {
	// line is where the mapping starts.
	line   int
	values map[string]*yaml.Node
	// keyLines are the lines of the keys.
	keyLines map[string]int
}

// get returns the value of key, or nil when the mapping lacks it.
func (m mapping) get(key string) *yaml.Node { return m.values[key] }

// mapping checks that n is a mapping with only the keys in fields, each
// once, and returns it. where says what n is in messages, such as
// `rule "throttle"`. Keys that are not allowed are reported and left out.
func (ps *problems) mapping(n *yaml.Node, where string, fields fieldSet) (mapping, bool) {
	m := mapping{line: n.Line, values: make(map[string]*yaml.Node, len(n.Content)/2), keyLines: make(map[string]int, len(n.Content)/2)}
	if n.Kind != yaml.MappingNode {
		ps.add(n.Line, fmt.Sprintf("%s: want a mapping of %ss (key: value), got %s", where, fields.noun, describeNode(n)))
		return m, false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, value := n.Content[i], n.Content[i+1]
		name := key.Value
		if key.Kind != yaml.ScalarNode {
			ps.add(key.Line, fmt.Sprintf("%s: a key must be a plain name, got %s", where, describeNode(key)))
			continue
		}
		if !slices.Contains(fields.names, name) {
			ps.add(key.Line, unknownKey(name, where, fields))
			if guess := closest(name, fields.names); guess != "" {
				ps.misspelt(n.Line, guess)
			}
			continue
		}
		if first, twice := m.keyLines[name]; twice {
			ps.add(key.Line, fmt.Sprintf("%s: %s %q is set twice (first at line %d); set it once", where, fields.noun, name, first))
			continue
		}
		m.keyLines[name] = key.Line
		m.values[name] = value
	}
	return m, true
}

// unknownKey explains that name is not one of fields, suggesting the
// closest allowed name when it looks like a typo.
func unknownKey(name, where string, fields fieldSet) string {
	msg := fmt.Sprintf("unknown %s %q in %s", fields.noun, name, where)
	if guess := closest(name, fields.names); guess != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", guess)
	}
	return msg + "; allowed: " + strings.Join(fields.names, ", ")
}

// closest returns the name in names within two edits of s, or "".
func closest(s string, names []string) string {
	best, bestDistance := "", 3
	for _, name := range names {
		if d := editDistance(strings.ToLower(s), name); d < bestDistance {
			best, bestDistance = name, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	previous := make([]int, len(b)+1)
	current := make([]int, len(b)+1)
	for j := range previous {
		previous[j] = j
	}
	for i := 1; i <= len(a); i++ {
		current[0] = i
		for j := 1; j <= len(b); j++ {
			substitution := previous[j-1]
			if a[i-1] != b[j-1] {
				substitution++
			}
			current[j] = min(previous[j]+1, current[j-1]+1, substitution)
		}
		previous, current = current, previous
	}
	return previous[len(b)]
}

// describeNode names the kind of n for messages: "a list", "a mapping".
func describeNode(n *yaml.Node) string {
	switch {
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.AliasNode:
		return "an alias"
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		return "nothing"
	case n.Kind == yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "nothing"
}

// isNull reports whether n is YAML's null: a key with no value.
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// scalar returns n's text if n is a single value (not null, a list or a
// mapping).
func (ps *problems) scalar(n *yaml.Node, where string) (string, bool) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		ps.add(n.Line, fmt.Sprintf("%s: want a single value, got %s", where, describeNode(n)))
		return "", false
	}
	return n.Value, true
}

// scalars returns the values of n, one value or a list of them, each with
// its node for messages. An empty list is refused: a condition that lists
// nothing could never hold.
func (ps *problems) scalars(n *yaml.Node, where string) ([]*yaml.Node, bool) {
	switch {
	case n.Kind == yaml.ScalarNode && !isNull(n):
		return []*yaml.Node{n}, true
	case n.Kind == yaml.SequenceNode && len(n.Content) > 0:
		ok := true
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode || isNull(item) {
				ps.add(item.Line, fmt.Sprintf("%s: want a single value in the list, got %s", where, describeNode(item)))
				ok = false
			}
		}
		return n.Content, ok
	}
	ps.add(n.Line, fmt.Sprintf("%s: want one value or a non-empty list of values, got %s", where, describeNode(n)))
	return nil, false
}

// integer returns n as a whole number, such as 18, or +2 and -1 for a
// delta.
func (ps *problems) integer(n *yaml.Node, where string) (int, bool) {
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		if v, err := strconv.Atoi(n.Value); err == nil {
			return v, true
		}
	}
	ps.add(n.Line, fmt.Sprintf("%s: want a whole number, got %s", where, describeNode(n)))
	return 0, false
}

// rejectAliases reports every alias (*name) under n. Policies do not use
// them: they make a file harder to read during an incident, and expanding
// them is the way a small file becomes a huge one.
func (ps *problems) rejectAliases(n *yaml.Node) {
	if n.Kind == yaml.AliasNode {
		ps.add(n.Line, fmt.Sprintf("alias *%s: aliases are not supported in policy files; write the value out", n.Value))
		return
	}
	for _, child := range n.Content {
		ps.rejectAliases(child)
	}
}

// yamlLine finds the line number in the YAML library's syntax errors, which
// read "yaml: line 3: did not find expected key".
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// maxSearchedBytes bounds the files whose syntax errors are looked for line
// by line (see syntaxErrorLine), which takes some twenty parses of the
// file: a policy written by people is far smaller.
const maxSearchedBytes = 128 << 10

// addSyntaxError records a YAML syntax error of data at the line of the
// mistake (see syntaxErrorLine).
func (ps *problems) addSyntaxError(data []byte, err error) {
	if len(data) > maxSearchedBytes {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		line := 0
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2] + " (at or after this line: the file is too large to find the exact line)"
		}
		ps.add(line, "YAML syntax: "+msg)
		return
	}
	line := syntaxErrorLine(data, err)
	if before, beforeErr := continuedFrom(data, err, line); beforeErr != nil {
		line, err = before, beforeErr
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		msg = m[2]
	}
	if opened := quoteOpened(data, line); opened > 0 {
		msg = fmt.Sprintf("a quote opened on this line is closed only on line %d, where: %s; close the quote on this line", line, msg)
		line = opened
	}
	ps.add(line, "YAML syntax: "+msg)
}

// quoteOpened returns the line where a quoted value that is still open at
// the end of line n-1 starts, or 0. A quote left open runs on into the
// lines after it, up to the next quote character, and the library reports
// whatever follows that one: the mistake is the quote.
func quoteOpened(data []byte, n int) int {
	if n <= 1 {
		return 0
	}
	ends := lineEnds(data)
	openAt := func(k int) bool {
		_, _, err := decodeYAML(data[:ends[k-1]])
		return err != nil && strings.HasSuffix(err.Error(), "found unexpected end of stream")
	}
	if !openAt(n - 1) {
		return 0
	}
	lo, hi := 1, n-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		if openAt(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// lineEnds returns where each line of data ends, its newline included.
func lineEnds(data []byte) []int {
	var ends []int
	for i, b := range data {
		if b == '\n' {
			ends = append(ends, i+1)
		}
	}
	if len(ends) == 0 || ends[len(ends)-1] != len(data) {
		ends = append(ends, len(data))
	}
	return ends
}

// continuedFrom finds the real mistake behind a colon that YAML refuses on
// line n: a key without its colon on an earlier line (such as
// "action allow") reads as a value that runs on into line n, and the colon
// there is where the library notices. When the colon added at the end of
// the line before makes line n parse, that line and its error are
// returned, else a nil error.
func continuedFrom(data []byte, err error, n int) (int, error) {
	if n <= 1 || !strings.HasSuffix(err.Error(), "mapping values are not allowed in this context") {
		return 0, nil
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	previous := -1
	for i := n - 2; i >= 0; i-- {
		if text := bytes.TrimSpace(lines[i]); len(text) > 0 && text[0] != '#' {
			previous = i
			break
		}
	}
	if previous < 0 {
		return 0, nil
	}
	line := lines[previous]
	end := len(bytes.TrimRight(line, "\r\n"))
	edited := slices.Concat(lines[:previous]...)
	edited = slices.Concat(edited, line[:end], []byte(":"), line[end:], slices.Concat(lines[previous+1:]...))
	if _, _, editedErr := decodeYAML(edited); editedErr != nil && syntaxErrorLine(edited, editedErr) <= n {
		return 0, nil
	}
	return previous + 1, errors.New("could not find expected ':' after the key on this line")
}

// syntaxErrorLine returns the line of data where the YAML syntax error err
// is, or 0 when it cannot tell.
//
// The line in the YAML library's message is not that line: it is where the
// construct around the mistake starts (the block mapping, the list, the
// quoted value), and for most errors it is counted from 0, so that a
// mistake on line 12 of a rule that starts on line 9 reads "line 8", the
// line of rules:. The mistake is on the first line at which the text stops
// parsing with this very error: the smallest n such that the first n lines
// alone fail with the same message. That line is at or after the one the
// library names, and a binary search finds it in a few parses.
func syntaxErrorLine(data []byte, err error) int {
	want := err.Error()
	ends := lineEnds(data) // ends[i] is the end of line i+1
	failsHere := func(n int) bool {
		_, _, err := decodeYAML(data[:ends[n-1]])
		return err != nil && err.Error() == want
	}
	lo := 1
	if m := yamlLine.FindStringSubmatch(want); m != nil {
		if n, _ := strconv.Atoi(m[1]); n > 1 && n <= len(ends) {
			lo = n
		}
	}
	hi := len(ends)
	if !failsHere(hi) {
		return 0
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		if failsHere(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}
