package policies

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/textproto"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// testCase is one entry of a policy's tests section: a sample request and
// what the policy should decide for it.
type testCase struct {
	name    string
	line    int
	request Request
	// action is the expected action.
	action Action
	// rule is the expected deciding rule, or "" for any.
	rule string
	// limits are the expected budgets, in order, when checkLimits is set.
	limits      []string
	checkLimits bool
	// difficulty is the expected difficulty, or 0 for any.
	difficulty int
}

// TestResult is the outcome of one test of a policy's tests section.
type TestResult struct {
	// Name is the test's name.
	Name string `json:"name"`
	// Line is where the test starts in the policy file.
	Line int `json:"line"`
	// Decision is what the policy decided for the test's request.
	Decision Decision `json:"decision"`
	// Failure says how Decision differs from what the test expects, or is
	// empty when the test passed.
	Failure string `json:"failure,omitempty"`
}

// Passed reports whether the policy decided what the test expects.
func (r TestResult) Passed() bool { return r.Failure == "" }

// RunTests runs the policy's tests section and returns one result per
// test, in file order. A test request to a signature endpoint is decided
// as the shield decides it, in canonical form, whatever its spelling. It
// needs no budget store: tests check decisions, not counters.
func RunTests(p *Policy) []TestResult {
	results := make([]TestResult, len(p.tests))
	for i := range p.tests {
		t := &p.tests[i]
		req := t.request
		req.MarkSignature(p)
		d := p.Decide(&req)
		results[i] = TestResult{Name: t.name, Line: t.line, Decision: d, Failure: t.check(d)}
	}
	return results
}

// check returns how d differs from what the test expects, or "".
func (t *testCase) check(d Decision) string {
	var wrong []string
	if d.Action != t.action || (t.rule != "" && d.Rule != t.rule) {
		want := string(t.action)
		if t.rule != "" {
			want += fmt.Sprintf(" by rule %q", t.rule)
		}
		wrong = append(wrong, fmt.Sprintf("expected %s, got %s %s", want, d.Action, decidedBy(d)))
	}
	if t.checkLimits && !slices.Equal(d.Budgets, t.limits) {
		wrong = append(wrong, fmt.Sprintf("expected limits [%s], got [%s]", strings.Join(t.limits, ", "), strings.Join(d.Budgets, ", ")))
	}
	if t.difficulty != 0 && (d.Action != ActionChallenge || d.Difficulty != t.difficulty) {
		got := "no challenge"
		if d.Action == ActionChallenge {
			got = fmt.Sprintf("%d bits", d.Difficulty)
		}
		wrong = append(wrong, fmt.Sprintf("expected difficulty %d bits, got %s %s", t.difficulty, got, decidedBy(d)))
	}
	return strings.Join(wrong, "; ")
}

// decidedBy says which rule made a decision, for messages.
func decidedBy(d Decision) string {
	if d.Rule == DefaultRuleName {
		return "by the defaults"
	}
	return fmt.Sprintf("by rule %q (line %d)", d.Rule, d.Line)
}

var testFields = fieldSet{noun: "field", names: []string{"name", "request", "expect"}}

var testRequestFields = fieldSet{noun: "field", names: []string{
	"method", "path", "host", "ip", "asn", "class", "org", "user_agent", "headers",
}}

var expectFields = fieldSet{noun: "field", names: []string{"action", "rule", "limits", "difficulty"}}

// tests compiles the tests section, checking that what the tests expect
// can be: rules that exist, limits that are limit rules.
func (c *compiler) tests(n *yaml.Node) []testCase {
	if n.Kind != yaml.SequenceNode {
		if !isNull(n) {
			c.add(n.Line, fmt.Sprintf("tests: want a list of tests (lines starting with -), got %s", describeNode(n)))
		}
		return nil
	}
	tests := make([]testCase, 0, len(n.Content))
	firstLine := make(map[string]int)
	for i, item := range n.Content {
		t, ok := c.test(item, i+1)
		if t.name != "" {
			if first, twice := firstLine[t.name]; twice {
				ok = c.fail(t.line, fmt.Sprintf("test name %q is used twice (first at line %d); names must be unique", t.name, first))
			} else {
				firstLine[t.name] = t.line
			}
		}
		if ok {
			tests = append(tests, t)
		}
	}
	return tests
}

// test compiles the index-th test (from 1).
func (c *compiler) test(n *yaml.Node, index int) (testCase, bool) {
	t := testCase{line: n.Line, request: Request{Method: http.MethodGet, Path: "/"}}
	where := fmt.Sprintf("test number %d", index)
	m, ok := c.mapping(n, where, testFields)
	if !ok {
		return t, false
	}
	if v := m.get("name"); v == nil {
		ok = c.fail(n.Line, where+" has no name; name each test, such as \"hosting signer is challenged harder\"")
	} else if name, isScalar := c.scalar(v, where+": name"); isScalar {
		t.name = name
		where = fmt.Sprintf("test %q", name)
	} else {
		ok = false
	}
	if v := m.get("request"); v != nil {
		ok = c.testRequest(&t.request, v, where) && ok
	}
	if v := m.get("expect"); v == nil {
		ok = c.fail(n.Line, where+" has no expect; want expect: with at least action: allow, deny or challenge")
	} else {
		ok = c.expectation(&t, v, where) && ok
	}
	return t, ok
}

// testRequest compiles a test's sample request into req.
func (c *compiler) testRequest(req *Request, n *yaml.Node, where string) bool {
	where += ": request"
	m, ok := c.mapping(n, where, testRequestFields)
	if !ok {
		return false
	}
	text := func(field string, dst *string) {
		if v := m.get(field); v != nil {
			s, isScalar := c.scalar(v, where+": "+field)
			ok = ok && isScalar
			*dst = s
		}
	}
	text("method", &req.Method)
	text("path", &req.Path)
	text("host", &req.Host)
	text("org", &req.Org)
	text("user_agent", &req.UserAgent)
	if v := m.get("ip"); v != nil {
		if s, isScalar := c.scalar(v, where+": ip"); !isScalar {
			ok = false
		} else if ip, err := netip.ParseAddr(s); err != nil {
			ok = c.fail(v.Line, fmt.Sprintf("%s: ip %q: want an address such as 203.0.113.7 or 2001:db8::7", where, s))
		} else {
			req.IP = ip
		}
	}
	if v := m.get("asn"); v != nil {
		if s, isScalar := c.scalar(v, where+": asn"); !isScalar {
			ok = false
		} else if asn, err := parseASN(s); err != nil {
			ok = c.fail(v.Line, fmt.Sprintf("%s: asn %q: %v", where, s, err))
		} else {
			req.ASN = asn
		}
	}
	if v := m.get("class"); v != nil {
		if s, isScalar := c.scalar(v, where+": class"); !isScalar || !c.checkClass(v.Line, where, s) {
			ok = false
		} else {
			req.Class = s
		}
	}
	if v := m.get("headers"); v != nil {
		req.Header = c.testHeaders(v, where)
		ok = ok && req.Header != nil
	}
	if req.UserAgent != "" && req.Header.Get("User-Agent") == "" {
		// A real request carries its User-Agent among its headers too.
		if req.Header == nil {
			req.Header = make(http.Header)
		}
		req.Header.Set("User-Agent", req.UserAgent)
	}
	return ok
}

// testHeaders compiles a test request's headers: names to one value or a
// list of them. It returns nil when they are malformed.
func (c *compiler) testHeaders(n *yaml.Node, where string) http.Header {
	where += ": headers"
	if n.Kind != yaml.MappingNode {
		c.add(n.Line, fmt.Sprintf("%s: want a mapping of header names to values, got %s", where, describeNode(n)))
		return nil
	}
	h := make(http.Header, len(n.Content)/2)
	ok := true
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, value := n.Content[i], n.Content[i+1]
		if key.Kind != yaml.ScalarNode || !tcharRE.MatchString(key.Value) {
			ok = c.fail(key.Line, fmt.Sprintf("%s: %s is not a header name; want a name such as Accept-Language", where, describeNode(key)))
			continue
		}
		values, isList := c.scalars(value, where+": "+key.Value)
		if !isList {
			ok = false
			continue
		}
		name := textproto.CanonicalMIMEHeaderKey(key.Value)
		for _, v := range values {
			h[name] = append(h[name], v.Value)
		}
	}
	if !ok {
		return nil
	}
	return h
}

// expectation compiles what a test expects into t.
func (c *compiler) expectation(t *testCase, n *yaml.Node, where string) bool {
	where += ": expect"
	m, ok := c.mapping(n, where, expectFields)
	if !ok {
		return false
	}
	if v := m.get("action"); v == nil {
		ok = c.fail(n.Line, where+" has no action; want action: allow, deny or challenge")
	} else if s, isScalar := c.scalar(v, where+": action"); !isScalar {
		ok = false
	} else {
		switch t.action = Action(strings.ToLower(s)); t.action {
		case ActionAllow, ActionDeny, ActionChallenge:
		case ActionLimit:
			ok = c.fail(v.Line, where+": action limit: a limit rule never decides on its own; expect the action of the rule that decides, and list the limit rule under limits")
		default:
			ok = c.fail(v.Line, fmt.Sprintf("%s: action %q: want allow, deny or challenge", where, s))
		}
	}
	if v := m.get("rule"); v != nil {
		if s, isScalar := c.scalar(v, where+": rule"); !isScalar {
			ok = false
		} else if action, declared := c.ruleActions[s]; s != DefaultRuleName && (!declared || action == ActionLimit) {
			ok = c.fail(v.Line, fmt.Sprintf("%s: rule %q: no rule that decides has this name; want the name of an allow, deny or challenge rule, or %q for the defaults", where, s, DefaultRuleName))
		} else {
			t.rule = s
		}
	}
	if v := m.get("limits"); v != nil {
		t.checkLimits = true
		ok = c.expectedLimits(t, v, where) && ok
	}
	if v := m.get("difficulty"); v != nil {
		bits, isInt := c.integer(v, where+": difficulty")
		difficultyOK := isInt && c.checkDifficulty(v.Line, where+": difficulty", bits)
		ok = ok && difficultyOK
		t.difficulty = bits
	}
	return ok
}

// expectedLimits compiles the list of limit rules a test expects to apply;
// an empty list expects none.
func (c *compiler) expectedLimits(t *testCase, n *yaml.Node, where string) bool {
	if n.Kind == yaml.SequenceNode && len(n.Content) == 0 {
		return true
	}
	items, ok := c.scalars(n, where+": limits")
	for _, item := range items {
		if action, declared := c.ruleActions[item.Value]; !declared || action != ActionLimit {
			ok = c.fail(item.Line, fmt.Sprintf("%s: limits: %q is not the name of a limit rule", where, item.Value))
			continue
		}
		t.limits = append(t.limits, item.Value)
	}
	return ok
}
