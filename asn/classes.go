package asn

import (
	"bufio"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Classes names sets of autonomous systems ("hosting", "vpn", ...) so
// that policies can give a whole kind of network its own budget. An
// AS may be in several classes; Of reports the class added first.
//
// Build Classes with Add before sharing them; after that, Of is safe
// for concurrent use.
type Classes struct {
	names []string
	// first maps an AS to the position in names of the first class
	// containing it; a single map keeps Of one lookup, whatever the
	// number of classes.
	first map[uint32]int
}

// Add puts asns in the class called name, creating it after the
// existing classes if it is new. Adding to an existing class keeps the
// class in its original position. Name should not be empty, since Of
// returns "" for "no class".
func (c *Classes) Add(name string, asns []uint32) {
	pos := -1
	for i, n := range c.names {
		if n == name {
			pos = i
			break
		}
	}
	if pos < 0 {
		pos = len(c.names)
		c.names = append(c.names, name)
	}
	if c.first == nil {
		c.first = make(map[uint32]int, len(asns))
	}
	for _, asn := range asns {
		if cur, ok := c.first[asn]; !ok || pos < cur {
			c.first[asn] = pos
		}
	}
}

// Of returns the first class, in the order classes were added, that
// contains asn, or "" if none does. It does not allocate.
func (c *Classes) Of(asn uint32) string {
	if c == nil {
		return ""
	}
	pos, ok := c.first[asn]
	if !ok {
		return ""
	}
	return c.names[pos]
}

// Names returns the class names in the order they were added.
func (c *Classes) Names() []string {
	if c == nil {
		return nil
	}
	return append([]string(nil), c.names...)
}

// ParseASNList reads one AS number per line, written "AS123" or "123",
// each optionally followed by a "#" comment; blank lines and comment
// lines are skipped. name (usually the file path) prefixes errors,
// which give the line: "hosting.txt:7: bad AS number "AS12x"".
func ParseASNList(r io.Reader, name string) ([]uint32, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 512), maxLineLength)
	var asns []uint32
	n := 0
	for sc.Scan() {
		n++
		line, _, _ := strings.Cut(sc.Text(), "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.ContainsAny(line, " \t,;") {
			return nil, fmt.Errorf("%s:%d: want one AS number per line, got %q", name, n, line)
		}
		asn, err := ParseNumber(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: bad AS number %q", name, n, line)
		}
		if asn == 0 {
			return nil, fmt.Errorf("%s:%d: AS0 is reserved and never announces a network", name, n)
		}
		asns = append(asns, asn)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%s:%d: line longer than %d bytes", name, n+1, maxLineLength)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return asns, nil
}

// LoadASNList reads the AS list file at path; see ParseASNList.
func LoadASNList(path string) ([]uint32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseASNList(f, path)
}

//go:embed lists/hosting.txt
var hostingList string

// HostingASNs returns the built-in list of major cloud and hosting
// providers (lists/hosting.txt, where each entry names its sources).
// Traffic from these networks comes from rented servers, not from
// people at a browser, which is where a flood of fake signatures
// usually comes from. The list deliberately leaves out networks that
// carry real users through relays (Cloudflare, Akamai and Fastly run
// iCloud Private Relay and WARP egress) and the ISPs that own hosters.
// The slice is a fresh copy.
func HostingASNs() []uint32 {
	asns, err := ParseASNList(strings.NewReader(hostingList), "lists/hosting.txt")
	if err != nil {
		// The file is embedded and covered by tests.
		panic(err)
	}
	return asns
}
