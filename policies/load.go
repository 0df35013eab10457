package policies

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxPolicyBytes bounds the size of a policy file: a policy is written by
// people, and a larger file is a mistake or an attack on the loader.
const MaxPolicyBytes = 1 << 20

// ParseOptions tell Parse and Load what the server around the policy
// knows. The zero value suits tools that know nothing of the server.
type ParseOptions struct {
	// Classes lists the network classes that class conditions and tests
	// may name (the built-in "hosting" and those the server defines). A
	// name outside it is an error. When nil, any well-formed class name
	// is accepted, for tools that do not know the server's classes.
	Classes []string
	// Defaults are used where the policy's defaults block is silent,
	// typically the handler's own difficulty and credits. A zero field
	// falls back to DefaultDifficulty or DefaultCredits.
	Defaults Defaults
	// SkipTests compiles the policy without running its tests section, for
	// a tool that runs them with RunTests to report each one. A policy that
	// serves requests should be parsed with its tests run, so that a policy
	// whose tests fail is refused.
	SkipTests bool
	// ClampDifficulty makes a difficulty_delta that takes a rule outside
	// MinDifficulty..MaxDifficulty give the nearest bound instead of a
	// problem. It is for a policy the admin did not write, such as the
	// embedded default, whose deltas apply to whatever difficulty the
	// admin chose: +2 on the admin's 40 bits is 40 bits, not an error
	// about a file the admin never saw.
	ClampDifficulty bool
	// Signatures are signature endpoints the server knows of (the
	// Caddyfile's protect list), added before those of the file's
	// signatures section: Policy.IsSignature matches them all.
	Signatures Endpoints
}

// Load reads and compiles the policy file at path (see Parse).
func Load(path string) (*Policy, error) { return ParseOptions{}.Load(path) }

// Parse compiles a policy from its YAML text (see ParseOptions.Parse).
func Parse(data []byte, filename string) (*Policy, error) {
	return ParseOptions{}.Parse(data, filename)
}

// Validate reports what is wrong with the policy file at path, if
// anything, as `rempart policy validate` does: a *ValidationError listing
// every problem as file:line: message, or an error reading the file.
func Validate(path string) error {
	_, err := Load(path)
	return err
}

// Load reads and compiles the policy file at path. The file's name, as
// given, prefixes every problem reported.
func (o ParseOptions) Load(path string) (*Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading policy: %w", err)
	}
	defer f.Close()
	// One byte more than allowed, so that Parse sees a file that is too big.
	data, err := io.ReadAll(io.LimitReader(f, MaxPolicyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading policy: %w", err)
	}
	return o.Parse(data, path)
}

// Parse compiles a policy from its YAML text; filename prefixes every
// problem reported. Everything is checked once, here: regular
// expressions, globs, prefixes, rates, CEL expressions, that every rule can
// be reached, and that the policy passes its own tests (unless
// o.SkipTests). When anything is wrong, Parse returns a *ValidationError
// listing every problem found, sorted by line.
func (o ParseOptions) Parse(data []byte, filename string) (*Policy, error) {
	ps := &problems{file: filename}
	if len(data) > MaxPolicyBytes {
		ps.add(0, fmt.Sprintf("the file is larger than %d bytes (1 MiB), the most a policy may be", MaxPolicyBytes))
		return nil, ps.err()
	}
	root, ok := parseYAML(ps, data)
	if !ok {
		return nil, ps.err()
	}
	ps.rejectAliases(root)
	c := &compiler{problems: ps, opts: o, ruleActions: make(map[string]Action), source: strings.Split(string(data), "\n")}
	p := c.policy(root)
	if err := ps.err(); err != nil {
		return nil, err
	}
	if !o.SkipTests {
		for _, result := range RunTests(p) {
			if !result.Passed() {
				ps.add(result.Line, fmt.Sprintf("test %q fails: %s", result.Name, result.Failure))
			}
		}
		if err := ps.err(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// parseYAML returns the root node of the file's only YAML document.
func parseYAML(ps *problems, data []byte) (*yaml.Node, bool) {
	doc, next, err := decodeYAML(data)
	switch {
	case errors.Is(err, io.EOF):
		ps.add(0, "the file is empty; a policy has rules: (and optionally defaults: and tests:), see docs/policy.md")
		return nil, false
	case err != nil:
		ps.addSyntaxError(data, err)
		return nil, false
	case next != nil:
		ps.add(next.Line, "a second YAML document (after ---): a policy file holds one; remove the --- line")
		return nil, false
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		ps.add(doc.Line, "the file is empty; a policy has rules: (and optionally defaults: and tests:), see docs/policy.md")
		return nil, false
	}
	return doc.Content[0], true
}

// decodeYAML decodes the first YAML document of data, and the start of a
// second one if there is one. It returns io.EOF when data holds no
// document, or the YAML library's syntax error.
func decodeYAML(data []byte) (doc, next *yaml.Node, err error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	doc = new(yaml.Node)
	if err := dec.Decode(doc); err != nil {
		return nil, nil, err
	}
	next = new(yaml.Node)
	switch err := dec.Decode(next); {
	case errors.Is(err, io.EOF):
		return doc, nil, nil
	case err != nil:
		return nil, nil, err
	}
	return doc, next, nil
}

// compiler turns a policy file's YAML tree into a Policy, recording every
// problem it finds on the way.
type compiler struct {
	*problems
	opts ParseOptions
	// ruleActions maps the name of every rule, even one that did not
	// compile, to its action as written, so that tests are checked
	// against the rules without repeating their problems.
	ruleActions map[string]Action
	// source is the file's lines, for the lines of errors inside a value.
	source []string
}

var policyFields = fieldSet{noun: "field", names: []string{"defaults", "signatures", "rules", "tests"}}

var defaultsFields = fieldSet{noun: "field", names: []string{"difficulty", "credits"}}

// policy compiles the whole document.
func (c *compiler) policy(root *yaml.Node) *Policy {
	top, ok := c.mapping(root, "the policy", policyFields)
	if !ok {
		return nil
	}
	p := &Policy{file: c.file}
	p.defaults = c.defaultsBlock(top.get("defaults"))
	p.defaultsLine = top.keyLines["defaults"]
	p.signatures = c.signatures(top.get("signatures"))
	if n := top.get("rules"); n != nil {
		p.rules = c.rules(n, p.defaults)
	}
	for i := range p.rules {
		if r := &p.rules[i]; r.Action == ActionLimit {
			r.limitIndex = len(p.limitNames)
			p.limitNames = append(p.limitNames, r.Name)
		}
	}
	if n := top.get("tests"); n != nil {
		p.tests = c.tests(n)
	}
	return p
}

// signatures compiles the signature endpoints of the options, then those
// of the signatures section n, which may be nil: a list of "METHOD /path"
// strings such as "POST /sign" or "* /petitions/*/sign".
func (c *compiler) signatures(n *yaml.Node) Endpoints {
	var out Endpoints
	for _, e := range c.opts.Signatures {
		ce, err := e.canonical()
		if err != nil {
			c.add(0, fmt.Sprintf("signature endpoint %s, from the server's configuration: %v", e, err))
			continue
		}
		out = append(out, ce)
	}
	if n == nil || isNull(n) || (n.Kind == yaml.SequenceNode && len(n.Content) == 0) {
		return out
	}
	items, _ := c.scalars(n, "signatures")
	for _, item := range items {
		if item.Kind != yaml.ScalarNode || isNull(item) {
			continue // reported by scalars
		}
		fields := strings.Fields(item.Value)
		if len(fields) != 2 {
			c.add(item.Line, fmt.Sprintf("signatures: %q: want a method and a path separated by a space, such as \"POST /sign\" or \"* /petitions/*/sign\"", item.Value))
			continue
		}
		ce, err := Endpoint{Method: fields[0], Path: fields[1]}.canonical()
		if err != nil {
			c.add(item.Line, fmt.Sprintf("signatures: %q: %v", item.Value, err))
			continue
		}
		out = append(out, ce)
	}
	return out
}

// defaultsBlock compiles the defaults block n, which may be nil, over the
// options' defaults.
func (c *compiler) defaultsBlock(n *yaml.Node) Defaults {
	d := Defaults{Difficulty: c.opts.Defaults.Difficulty, Credits: c.opts.Defaults.Credits}
	if d.Difficulty == 0 {
		d.Difficulty = DefaultDifficulty
	}
	if d.Credits == 0 {
		d.Credits = DefaultCredits
	}
	if n == nil {
		return d
	}
	m, ok := c.mapping(n, "defaults", defaultsFields)
	if !ok {
		return d
	}
	if v := m.get("difficulty"); v != nil {
		if bits, ok := c.integer(v, "defaults: difficulty"); ok {
			if c.checkDifficulty(v.Line, "defaults: difficulty", bits) {
				d.Difficulty = bits
			}
		}
	}
	if v := m.get("credits"); v != nil {
		if credits, ok := c.integer(v, "defaults: credits"); ok {
			if c.checkCredits(v.Line, "defaults: credits", credits) {
				d.Credits = credits
			}
		}
	}
	return d
}

// checkDifficulty reports a difficulty outside MinDifficulty..MaxDifficulty.
func (c *compiler) checkDifficulty(line int, where string, bits int) bool {
	if bits < MinDifficulty || bits > MaxDifficulty {
		c.add(line, fmt.Sprintf("%s %d: want %d to %d leading zero bits (each bit doubles a signer's work; %d takes a browser a few hundred milliseconds)",
			where, bits, MinDifficulty, MaxDifficulty, DefaultDifficulty))
		return false
	}
	return true
}

// checkCredits reports credits outside MinCredits..MaxCredits.
func (c *compiler) checkCredits(line int, where string, credits int) bool {
	if credits < MinCredits || credits > MaxCredits {
		c.add(line, fmt.Sprintf("%s %d: want %d to %d signatures per solved challenge", where, credits, MinCredits, MaxCredits))
		return false
	}
	return true
}

// checkClass reports a class name that the options do not list.
func (c *compiler) checkClass(line int, where, class string) bool {
	if !classNameRE.MatchString(class) {
		c.add(line, fmt.Sprintf("%s: class %q: want a class name such as hosting (lower-case letters, digits, - and _)", where, class))
		return false
	}
	if c.opts.Classes == nil || slices.Contains(c.opts.Classes, class) {
		return true
	}
	msg := fmt.Sprintf("%s: class %q is not defined", where, class)
	if guess := closest(class, c.opts.Classes); guess != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", guess)
	}
	if len(c.opts.Classes) == 0 {
		return c.fail(line, msg+"; the server defines no class")
	}
	sorted := slices.Sorted(slices.Values(c.opts.Classes))
	return c.fail(line, fmt.Sprintf("%s; known classes: %s", msg, strings.Join(sorted, ", ")))
}

// fail records a problem and returns false, for checks that end there.
func (c *compiler) fail(line int, message string) bool {
	c.add(line, message)
	return false
}
