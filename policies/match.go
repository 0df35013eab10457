package policies

import (
	"errors"
	"fmt"
	"net/netip"
	"net/textproto"
	"path"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"

	"github.com/gaissmai/bart"
	"go.yaml.in/yaml/v3"

	"github.com/rempart/rempart/asn"
)

var matchFields = fieldSet{noun: "condition", names: []string{
	"method", "path", "path_regex", "host", "asn", "class", "org", "cidr", "user_agent", "header", "cel",
}}

// classNameRE is the syntax of network class names, as the server's class
// definitions require it.
var classNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// conditions are a rule's compiled match: a request matches when every
// condition that is set holds. A list within a condition (methods, paths,
// hosts, ASNs, classes, prefixes) holds when any of its items does.
type conditions struct {
	methods []string
	paths   []glob
	// canonicalPaths are the canonical copies of paths (canonicalGlob),
	// matched against the canonical path of a signature request.
	canonicalPaths []glob
	pathRegex      *regexp.Regexp
	hosts          []string
	asns           []uint32
	classes        []string
	cidrs          *bart.Lite
	org            *regexp.Regexp
	userAgent      *regexp.Regexp
	headers        []headerCondition
	cel            *celProgram
	// descriptions says what each condition requires, for people.
	descriptions []string
}

// glob is a path pattern in path.Match syntax; literal patterns are
// compared as strings.
type glob struct {
	pattern string
	literal bool
}

// newGlob compiles a path pattern, noting whether it is literal.
func newGlob(pattern string) glob {
	return glob{pattern: pattern, literal: !strings.ContainsAny(pattern, `*?[\`)}
}

// headerCondition requires a request header to be present, to be absent,
// or to have a value that matches a regular expression.
type headerCondition struct {
	// name is in canonical form, as http.Header keys are.
	name    string
	present bool
	value   *regexp.Regexp
}

// empty reports whether the conditions hold for every request.
func (m *conditions) empty() bool { return len(m.descriptions) == 0 }

// matches reports whether every condition holds for the request being
// decided. The cheap conditions go first, CEL last.
func (m *conditions) matches(ev *evaluation) bool {
	req := ev.req
	if m.methods != nil && !slices.Contains(m.methods, req.Method) {
		return false
	}
	if m.hosts != nil && !containsFold(m.hosts, ev.host) {
		return false
	}
	if m.asns != nil && !slices.Contains(m.asns, req.ASN) {
		return false
	}
	if m.classes != nil && (req.Class == "" || !slices.Contains(m.classes, req.Class)) {
		return false
	}
	if m.cidrs != nil && !m.cidrs.Lookup(req.IP.Unmap()) {
		return false
	}
	if m.paths != nil && !m.pathMatches(ev) {
		return false
	}
	if m.pathRegex != nil && !m.pathRegexMatches(ev) {
		return false
	}
	for i := range m.headers {
		if !m.headers[i].holds(req) {
			return false
		}
	}
	if m.org != nil && !m.org.MatchString(req.Org) {
		return false
	}
	if m.userAgent != nil && !m.userAgent.MatchString(req.UserAgent) {
		return false
	}
	return m.cel == nil || m.cel.matches(ev)
}

// pathMatches reports whether the path condition holds. A signature
// request's canonical path matches the canonical copies of the patterns,
// and so do its aliases (see canonicalMatch), as they do for a signature
// endpoint: a rule for /sign decides /sign.json as it decides /sign.
func (m *conditions) pathMatches(ev *evaluation) bool {
	if !ev.canonical {
		return matchesAnyGlob(m.paths, ev.path)
	}
	return canonicalMatch(ev.path, func(p string) bool { return matchesAnyGlob(m.canonicalPaths, p) })
}

// pathRegexMatches reports whether the path_regex condition holds, for a
// signature request on its canonical path or one of its aliases.
func (m *conditions) pathRegexMatches(ev *evaluation) bool {
	if !ev.canonical {
		return m.pathRegex.MatchString(ev.path)
	}
	return canonicalMatch(ev.path, m.pathRegex.MatchString)
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func matchesAnyGlob(globs []glob, p string) bool {
	for _, g := range globs {
		if g.literal {
			if g.pattern == p {
				return true
			}
			continue
		}
		if ok, _ := path.Match(g.pattern, p); ok {
			return true
		}
	}
	return false
}

// holds reports whether the header condition holds for req.
func (h *headerCondition) holds(req *Request) bool {
	values := req.Header[h.name]
	if h.value == nil {
		return (len(values) > 0) == h.present
	}
	for _, v := range values {
		if h.value.MatchString(v) {
			return true
		}
	}
	return false
}

// conditions compiles a rule's match block. where names the rule.
func (c *compiler) conditions(n *yaml.Node, where string) (conditions, bool) {
	var m conditions
	fields, ok := c.mapping(n, where+": match", matchFields)
	if !ok {
		return m, false
	}
	// Compile in the order of matchFields, so that descriptions read in a
	// fixed order whatever the order in the file.
	for _, name := range matchFields.names {
		v := fields.get(name)
		if v == nil {
			continue
		}
		what := where + ": " + name
		var condOK bool
		switch name {
		case "method":
			condOK = c.methodCondition(&m, v, what)
		case "path":
			condOK = c.pathCondition(&m, v, what)
		case "path_regex":
			m.pathRegex, condOK = c.regexCondition(v, what, true)
			if condOK {
				m.describe("path matches regex %s", m.pathRegex)
			}
		case "host":
			condOK = c.hostCondition(&m, v, what)
		case "asn":
			condOK = c.asnCondition(&m, v, what)
		case "class":
			condOK = c.classCondition(&m, v, where, what)
		case "org":
			m.org, condOK = c.regexCondition(v, what, true)
			if condOK {
				m.describe("org matches regex %s", m.org)
			}
		case "cidr":
			condOK = c.cidrCondition(&m, v, what)
		case "user_agent":
			m.userAgent, condOK = c.regexCondition(v, what, true)
			if condOK {
				m.describe("user_agent matches regex %s", m.userAgent)
			}
		case "header":
			condOK = c.headerConditions(&m, v, what)
		case "cel":
			condOK = c.celCondition(&m, v, what)
		}
		ok = ok && condOK
	}
	return m, ok
}

// describe adds a description of a condition.
func (m *conditions) describe(format string, args ...any) {
	m.descriptions = append(m.descriptions, fmt.Sprintf(format, args...))
}

// tcharRE is an HTTP token, the syntax of methods and header names.
var tcharRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

func (c *compiler) methodCondition(m *conditions, v *yaml.Node, what string) bool {
	items, ok := c.scalars(v, what)
	for _, item := range items {
		method := strings.ToUpper(item.Value)
		if !tcharRE.MatchString(method) {
			ok = c.fail(item.Line, fmt.Sprintf("%s %q: want an HTTP method such as GET or POST", what, item.Value))
			continue
		}
		m.methods = append(m.methods, method)
	}
	if ok {
		m.describe("method is %s", strings.Join(m.methods, " or "))
	}
	return ok
}

func (c *compiler) pathCondition(m *conditions, v *yaml.Node, what string) bool {
	items, ok := c.scalars(v, what)
	patterns := make([]string, 0, len(items))
	for _, item := range items {
		pattern := item.Value
		if !strings.HasPrefix(pattern, "/") {
			ok = c.fail(item.Line, fmt.Sprintf("%s %q: want a pattern starting with /, such as /sign or /petitions/*/sign (request paths always start with /)", what, pattern))
			continue
		}
		if _, err := path.Match(pattern, ""); err != nil {
			ok = c.fail(item.Line, fmt.Sprintf("%s %q: %v; want a glob in Go's path.Match syntax: * (any run of characters but /), ?, [a-z], \\ to escape", what, pattern, err))
			continue
		}
		m.paths = append(m.paths, newGlob(pattern))
		m.canonicalPaths = append(m.canonicalPaths, newGlob(canonicalGlob(pattern)))
		patterns = append(patterns, pattern)
	}
	if ok {
		m.describe("path matches %s", strings.Join(patterns, " or "))
	}
	return ok
}

// regexCondition compiles a regular expression condition.
// A regular expression that matches every value is refused where
// everyRequest says the condition would then hold for every request (a
// header's holds only where the header is sent: ".*" says it is).
func (c *compiler) regexCondition(v *yaml.Node, what string, everyRequest bool) (*regexp.Regexp, bool) {
	text, ok := c.scalar(v, what)
	if !ok {
		return nil, false
	}
	if text == "" {
		// Most likely a template's variable left empty: as a condition it
		// would hold for every request, and an allow rule open the gate.
		return nil, c.fail(v.Line, fmt.Sprintf("%s %q: an empty regular expression matches every value; leave the condition out, or write ^$ for an empty value", what, text))
	}
	re, err := regexp.Compile(text)
	if err != nil {
		return nil, c.fail(v.Line, fmt.Sprintf("%s %q: %s; want a Go regular expression (RE2 syntax, (?i) for any case)", what, text, regexpProblem(err)))
	}
	if parsed, err := syntax.Parse(text, syntax.Perl); everyRequest && err == nil && matchesEverything(parsed) {
		// The same, with a flag or an anchor left around the variable:
		// "(?i)$ORG", "^$UA", "$TOKEN*".
		return nil, c.fail(v.Line, fmt.Sprintf("%s %q: this regular expression matches every value; leave the condition out, or write ^$ for an empty value", what, text))
	}
	return re, true
}

// matchesEverything reports whether re, searched for in a value as
// conditions are, matches every value: it matches the empty string where
// every value has one, at its start (with nothing but ^, \A and what may
// be left out) or at its end (nothing but $, \z and what may be left out).
func matchesEverything(re *syntax.Regexp) bool {
	return emptyWith(re, syntax.OpBeginText, syntax.OpBeginLine) || emptyWith(re, syntax.OpEndText, syntax.OpEndLine)
}

// emptyWith reports whether re matches the empty string where the
// assertions anchors hold, and no other.
func emptyWith(re *syntax.Regexp, anchors ...syntax.Op) bool {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpStar, syntax.OpQuest:
		return true
	case syntax.OpRepeat:
		return re.Min == 0 || emptyWith(re.Sub[0], anchors...)
	case syntax.OpPlus, syntax.OpCapture:
		return emptyWith(re.Sub[0], anchors...)
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if !emptyWith(sub, anchors...) {
				return false
			}
		}
		return true
	case syntax.OpAlternate:
		return slices.ContainsFunc(re.Sub, func(sub *syntax.Regexp) bool { return emptyWith(sub, anchors...) })
	}
	return slices.Contains(anchors, re.Op)
}

// regexpProblem says what is wrong with a regular expression, without the
// library's "error parsing regexp" prefix.
func regexpProblem(err error) string {
	var se *syntax.Error
	if errors.As(err, &se) {
		return fmt.Sprintf("%s in `%s`", se.Code, se.Expr)
	}
	return err.Error()
}

func (c *compiler) hostCondition(m *conditions, v *yaml.Node, what string) bool {
	items, ok := c.scalars(v, what)
	for _, item := range items {
		host := strings.TrimSuffix(strings.ToLower(item.Value), ".")
		switch {
		case strings.Contains(host, "*"):
			ok = c.fail(item.Line, fmt.Sprintf("%s %q: wildcards are not supported; list each host, or use cel: request.host.endsWith(\".example.org\")", what, item.Value))
		case strings.ContainsAny(host, "/ ") || host == "":
			ok = c.fail(item.Line, fmt.Sprintf("%s %q: want a host name such as petition.example.org, without scheme or path", what, item.Value))
		case stripPort(host) != host:
			ok = c.fail(item.Line, fmt.Sprintf("%s %q: write the host without its port (%s); the port is ignored when matching", what, item.Value, stripPort(host)))
		default:
			m.hosts = append(m.hosts, host)
		}
	}
	if ok {
		m.describe("host is %s", strings.Join(m.hosts, " or "))
	}
	return ok
}

func (c *compiler) asnCondition(m *conditions, v *yaml.Node, what string) bool {
	items, ok := c.scalars(v, what)
	names := make([]string, 0, len(items))
	for _, item := range items {
		asn, err := parseASN(item.Value)
		if err != nil {
			ok = c.fail(item.Line, fmt.Sprintf("%s %q: %v", what, item.Value, err))
			continue
		}
		m.asns = append(m.asns, asn)
		names = append(names, "AS"+strconv.FormatUint(uint64(asn), 10))
	}
	if ok {
		m.describe("asn is %s", strings.Join(names, " or "))
	}
	return ok
}

// parseASN reads an AS number written 16509 or AS16509.
func parseASN(s string) (uint32, error) {
	n, err := asn.ParseNumber(s)
	if err != nil {
		return 0, errors.New("want an AS number such as 16509 or AS16509")
	}
	if n == 0 {
		return 0, errors.New("AS0 is reserved and stands for an unknown network; to match clients whose network is unknown, use cel: request.asn == 0")
	}
	return n, nil
}

func (c *compiler) classCondition(m *conditions, v *yaml.Node, where, what string) bool {
	items, ok := c.scalars(v, what)
	for _, item := range items {
		if !c.checkClass(item.Line, where, item.Value) {
			ok = false
			continue
		}
		m.classes = append(m.classes, item.Value)
	}
	if ok {
		m.describe("class is %s", strings.Join(m.classes, " or "))
	}
	return ok
}

func (c *compiler) cidrCondition(m *conditions, v *yaml.Node, what string) bool {
	items, ok := c.scalars(v, what)
	set := new(bart.Lite)
	var prefixes []string
	for _, item := range items {
		p, err := parsePrefix(item.Value)
		if err != nil {
			ok = c.fail(item.Line, fmt.Sprintf("%s %q: want an address or a prefix such as 203.0.113.0/24 or 2001:db8::/32", what, item.Value))
			continue
		}
		set.Insert(p)
		prefixes = append(prefixes, p.String())
	}
	if ok {
		m.cidrs = set
		m.describe("ip is in %s", summarize(prefixes, 4))
	}
	return ok
}

// parsePrefix reads a prefix, or a single address as the prefix of its
// own; an IPv4-mapped IPv6 prefix is written as the IPv4 prefix it is, as
// request addresses are unmapped before they are looked up.
func parsePrefix(s string) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return p, err
		}
	} else {
		addr, err := netip.ParseAddr(s)
		if err != nil {
			return p, err
		}
		if addr.Zone() != "" {
			return p, errors.New("zone not allowed")
		}
		p = netip.PrefixFrom(addr, addr.BitLen())
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// summarize joins items with "or", keeping the first few of a long list.
func summarize(items []string, keep int) string {
	if len(items) <= keep {
		return strings.Join(items, " or ")
	}
	return fmt.Sprintf("%s or %d more", strings.Join(items[:keep], ", "), len(items)-keep)
}

func (c *compiler) headerConditions(m *conditions, v *yaml.Node, what string) bool {
	if v.Kind != yaml.MappingNode || len(v.Content) == 0 {
		return c.fail(v.Line, fmt.Sprintf("%s: want a mapping of header names to a regular expression, or to true (present) or false (absent), got %s", what, describeNode(v)))
	}
	ok := true
	seen := make(map[string]int)
	for i := 0; i+1 < len(v.Content); i += 2 {
		key, value := v.Content[i], v.Content[i+1]
		if key.Kind != yaml.ScalarNode || !tcharRE.MatchString(key.Value) {
			ok = c.fail(key.Line, fmt.Sprintf("%s: %s is not a header name; want a name such as Accept-Language", what, describeNode(key)))
			continue
		}
		name := textproto.CanonicalMIMEHeaderKey(key.Value)
		if first, twice := seen[name]; twice {
			ok = c.fail(key.Line, fmt.Sprintf("%s: header %s is set twice (first at line %d)", what, name, first))
			continue
		}
		seen[name] = key.Line
		h := headerCondition{name: name}
		switch {
		case value.Kind == yaml.ScalarNode && value.Tag == "!!bool":
			h.present = strings.EqualFold(value.Value, "true")
		default:
			re, reOK := c.regexCondition(value, what+" "+name, false)
			if !reOK {
				ok = false
				continue
			}
			h.value = re
		}
		m.headers = append(m.headers, h)
		switch {
		case h.value != nil:
			m.describe("header %s matches regex %s", name, h.value)
		case h.present:
			m.describe("header %s is present", name)
		default:
			m.describe("header %s is absent", name)
		}
	}
	return ok
}
