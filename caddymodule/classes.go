package caddymodule

import (
	"errors"
	"fmt"
	"regexp"
	"slices"

	"github.com/rempart/rempart/asn"
)

// HostingClass is the name of the built-in class of cloud and hosting
// networks (asn.HostingASNs).
const HostingClass = "hosting"

// classNameRE keeps class names usable as they are in matchers
// ("class:vpn"), placeholders and metric labels.
var classNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

var errAS0 = errors.New("AS0 is reserved and never announces a network")

// networkClasses are the classes of networks of one config.
type networkClasses struct {
	// first tells the class a network is reported in.
	first asn.Classes
	// members tells every class a network is in, for matchers: a
	// network in both "vpn" and "hosting" matches class:hosting too.
	members map[classMember]struct{}
	// shadowed counts, for each class, its networks that an earlier
	// class reports: policy rules and budgets of the class never see
	// them. Keyed by the later class, then the earlier.
	shadowed map[[2]string]int
}

type classMember struct {
	class string
	asn   uint32
}

// newNetworkClasses builds the classes defined in defs, in the order of
// their names, then the built-in hosting class if builtinHosting is set.
// Class files are read here.
func newNetworkClasses(defs map[string]ClassConfig, builtinHosting bool) (*networkClasses, error) {
	c := &networkClasses{members: make(map[classMember]struct{})}
	names := make([]string, 0, len(defs))
	for name := range defs {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := checkClassName(name); err != nil {
			return nil, err
		}
		asns, err := defs[name].load()
		if err != nil {
			return nil, fmt.Errorf("class %q: %w", name, err)
		}
		c.add(name, asns)
	}
	if builtinHosting {
		c.add(HostingClass, asn.HostingASNs())
	}
	return c, nil
}

// load checks the class's numbers and reads its files.
func (cc ClassConfig) load() ([]uint32, error) {
	if len(cc.ASNs) == 0 && len(cc.Files) == 0 {
		return nil, errors.New("no AS numbers and no files")
	}
	if slices.Contains(cc.ASNs, 0) {
		return nil, errAS0
	}
	asns := slices.Clone(cc.ASNs)
	for _, path := range cc.Files {
		list, err := asn.LoadASNList(path)
		if err != nil {
			return nil, err
		}
		asns = append(asns, list...)
	}
	return asns, nil
}

func (c *networkClasses) add(name string, asns []uint32) {
	for _, n := range asns {
		if earlier := c.first.Of(n); earlier != "" && earlier != name {
			if c.shadowed == nil {
				c.shadowed = make(map[[2]string]int)
			}
			c.shadowed[[2]string{name, earlier}]++
		}
	}
	c.first.Add(name, asns)
	for _, n := range asns {
		c.members[classMember{name, n}] = struct{}{}
	}
}

// of returns the first class containing asn, or "". It does not allocate.
func (c *networkClasses) of(asn uint32) string { return c.first.Of(asn) }

// contains reports whether class contains asn.
func (c *networkClasses) contains(class string, asn uint32) bool {
	_, ok := c.members[classMember{class, asn}]
	return ok
}

// overlaps describes, one line each in a stable order, the networks a
// class loses to an earlier one: a server's class that names an Amazon
// ASN takes it out of the built-in hosting class for policy rules.
func (c *networkClasses) overlaps() []string {
	var lines []string
	for k, n := range c.shadowed {
		lines = append(lines, fmt.Sprintf("networks of class %q reported in class %q, checked first: %d (policy rules and budgets for class %q do not see them)",
			k[0], k[1], n, k[0]))
	}
	slices.Sort(lines)
	return lines
}

// names returns the class names in the order they are checked.
func (c *networkClasses) names() []string { return c.first.Names() }

// checkClassName explains what is wrong with a class name, if anything.
func checkClassName(name string) error {
	if !classNameRE.MatchString(name) {
		return fmt.Errorf("class name %q: want lower-case letters, digits, '-' and '_'", name)
	}
	return nil
}

// parseASNumber reads an AS number written "16509", "AS16509" or
// "as16509".
func parseASNumber(s string) (uint32, error) {
	n, err := asn.ParseNumber(s)
	if err != nil {
		return 0, fmt.Errorf("bad AS number %q: want a number such as 16509 or AS16509", s)
	}
	if n == 0 {
		return 0, errAS0
	}
	return n, nil
}
