package policies

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/rempart/rempart/budget"
)

// parameterFields are the fields of a rule that only some actions take.
var parameterFields = []string{
	"status", "message", // deny
	"difficulty", "difficulty_delta", "credits", // challenge
	"counts", "per", "rate", // limit
}

var ruleFields = fieldSet{noun: "field", names: slices.Concat([]string{"name", "match", "action"}, parameterFields)}

// actionParameters lists the fields each action takes besides name, match
// and action.
var actionParameters = map[Action][]string{
	ActionAllow:     nil,
	ActionDeny:      {"status", "message"},
	ActionChallenge: {"difficulty", "difficulty_delta", "credits"},
	ActionLimit:     {"counts", "per", "rate"},
}

// ruleNameRE keeps rule names usable in logs, metrics, command lines and
// budget keys. They never contain a slash, so a limit rule's budget never
// shares its counters with a budget named by default, such as
// "signatures/asn".
var ruleNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// rules compiles the rules list, checking that names are unique and that
// every rule can be reached.
func (c *compiler) rules(n *yaml.Node, defaults Defaults) []Rule {
	if n.Kind != yaml.SequenceNode {
		if !isNull(n) {
			c.add(n.Line, fmt.Sprintf("rules: want a list of rules (lines starting with -), got %s", describeNode(n)))
		}
		return nil
	}
	rules := make([]Rule, 0, len(n.Content))
	firstLine := make(map[string]int, len(n.Content))
	// catchAll is the first rule without conditions that decides.
	var catchAll struct {
		name string
		line int
	}
	for i, item := range n.Content {
		r, ok := c.rule(item, i+1, defaults)
		if r.Name != "" {
			c.ruleActions[r.Name] = r.Action
			if first, twice := firstLine[r.Name]; twice {
				c.add(r.Line, fmt.Sprintf("rule name %q is used twice (first at line %d); names must be unique", r.Name, first))
				ok = false
			} else {
				firstLine[r.Name] = r.Line
			}
		}
		if catchAll.line != 0 {
			c.add(r.Line, fmt.Sprintf("rule %s can never match: rule %q at line %d has no conditions and decides every request first; move this rule above it, or give %q conditions",
				ruleLabel(r.Name, i+1), catchAll.name, catchAll.line, catchAll.name))
		}
		if !ok {
			continue
		}
		rules = append(rules, r)
		if catchAll.line == 0 && r.match.empty() && r.Action != ActionLimit {
			catchAll.name, catchAll.line = r.Name, r.Line
		}
	}
	return rules
}

// ruleLabel names a rule in messages, by name when it has one.
func ruleLabel(name string, index int) string {
	if name == "" {
		return fmt.Sprintf("number %d", index)
	}
	return fmt.Sprintf("%q", name)
}

// rule compiles the index-th rule (from 1). It returns the rule, with its
// name and line even when it is broken, and whether it compiled.
func (c *compiler) rule(n *yaml.Node, index int, defaults Defaults) (Rule, bool) {
	r := Rule{Line: n.Line}
	where := fmt.Sprintf("rule number %d", index)
	if name := peekName(n); ruleNameRE.MatchString(name) {
		where = fmt.Sprintf("rule %q", name)
	}
	m, ok := c.mapping(n, where, ruleFields)
	if !ok {
		return r, false
	}
	if v := m.get("name"); v == nil {
		c.add(n.Line, fmt.Sprintf("%s has no name; every rule needs a unique name, such as throttle-hosting (it shows in logs)", where))
		ok = false
	} else if name, isScalar := c.scalar(v, where+": name"); !isScalar {
		ok = false
	} else if !ruleNameRE.MatchString(name) {
		ok = c.fail(v.Line, fmt.Sprintf("%s: name %q: want 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", where, name))
	} else if name == DefaultRuleName {
		ok = c.fail(v.Line, fmt.Sprintf("%s: the name %q is reserved for the policy's defaults; choose another", where, name))
	} else {
		r.Name = name
		where = fmt.Sprintf("rule %q", name)
	}

	if v := m.get("match"); v != nil {
		if isNull(v) || (v.Kind == yaml.MappingNode && len(v.Content) == 0) {
			// Conditions commented out would otherwise make the rule decide
			// every request: an allow rule would open the gate.
			ok = c.fail(v.Line, fmt.Sprintf("%s: match has no conditions (were they commented out?); a rule that decides every request has no match", where))
		} else {
			var matchOK bool
			r.match, matchOK = c.conditions(v, where)
			ok = ok && matchOK
		}
	}
	r.Conditions = r.match.descriptions

	actionOK := c.action(&r, m, where, defaults)
	return r, ok && actionOK
}

// peekName returns the name a rule's mapping gives, or "", so that
// problems found before the name is checked can already use it.
func peekName(n *yaml.Node) string {
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "name" && n.Content[i+1].Kind == yaml.ScalarNode {
			return n.Content[i+1].Value
		}
	}
	return ""
}

// action compiles the rule's action and its parameters into r.
func (c *compiler) action(r *Rule, m mapping, where string, defaults Defaults) bool {
	v := m.get("action")
	if v == nil {
		return c.fail(m.line, fmt.Sprintf("%s has no action; want action: allow, deny, challenge or limit", where))
	}
	text, ok := c.scalar(v, where+": action")
	if !ok {
		return false
	}
	r.Action = Action(strings.ToLower(text))
	allowed, known := actionParameters[r.Action]
	if !known {
		return c.fail(v.Line, fmt.Sprintf("%s: unknown action %q; want allow, deny, challenge or limit", where, text))
	}
	ok = true
	for _, field := range parameterFields {
		if p := m.get(field); p != nil && !slices.Contains(allowed, field) {
			ok = c.fail(p.Line, fmt.Sprintf("%s: %s does not apply to action %s; %s", where, field, r.Action, parametersOf(r.Action)))
		}
	}
	if !ok {
		return false
	}
	switch r.Action {
	case ActionDeny:
		return c.deny(r, m, where)
	case ActionChallenge:
		return c.challenge(r, m, where, defaults)
	case ActionLimit:
		return c.limit(r, m, where)
	}
	return true
}

// parametersOf says which fields an action takes, for messages.
func parametersOf(a Action) string {
	params := actionParameters[a]
	if len(params) == 0 {
		return "an " + string(a) + " rule takes no parameters"
	}
	return "a " + string(a) + " rule takes " + strings.Join(params, ", ")
}

func (c *compiler) deny(r *Rule, m mapping, where string) bool {
	r.Status = DefaultDenyStatus
	ok := true
	if v := m.get("status"); v != nil {
		status, isInt := c.integer(v, where+": status")
		switch {
		case !isInt:
			ok = false
		case status < 400 || status > 599:
			ok = c.fail(v.Line, fmt.Sprintf("%s: status %d: want an HTTP error status from 400 to 599, such as 403", where, status))
		default:
			r.Status = status
		}
	}
	if v := m.get("message"); v != nil {
		message, isScalar := c.scalar(v, where+": message")
		ok = ok && isScalar
		r.Message = message
	}
	return ok
}

func (c *compiler) challenge(r *Rule, m mapping, where string, defaults Defaults) bool {
	r.Difficulty, r.Credits = defaults.Difficulty, defaults.Credits
	absolute, delta := m.get("difficulty"), m.get("difficulty_delta")
	ok := true
	switch {
	case absolute != nil && delta != nil:
		ok = c.fail(delta.Line, fmt.Sprintf("%s: set difficulty (absolute bits) or difficulty_delta (bits added to the default %d), not both", where, defaults.Difficulty))
	case absolute != nil:
		bits, isInt := c.integer(absolute, where+": difficulty")
		ok = isInt && c.checkDifficulty(absolute.Line, where+": difficulty", bits)
		r.Difficulty = bits
	case delta != nil:
		bits, isInt := c.integer(delta, where+": difficulty_delta")
		total := defaults.Difficulty + bits
		if isInt && c.opts.ClampDifficulty {
			total = min(max(total, MinDifficulty), MaxDifficulty)
			bits = total - defaults.Difficulty
		}
		if !isInt {
			ok = false
		} else if total < MinDifficulty || total > MaxDifficulty {
			ok = c.fail(delta.Line, fmt.Sprintf("%s: difficulty_delta %+d gives %d bits over the default %d; want a total from %d to %d",
				where, bits, total, defaults.Difficulty, MinDifficulty, MaxDifficulty))
		} else {
			r.Difficulty, r.DifficultyDelta = total, bits
		}
	}
	if v := m.get("credits"); v != nil {
		credits, isInt := c.integer(v, where+": credits")
		creditsOK := isInt && c.checkCredits(v.Line, where+": credits", credits)
		ok = ok && creditsOK
		r.Credits = credits
	}
	return ok
}

func (c *compiler) limit(r *Rule, m mapping, where string) bool {
	b := &Budget{Name: r.Name}
	ok := true
	if v := m.get("counts"); v == nil {
		ok = c.fail(m.line, where+": a limit rule needs counts: signatures or challenges")
	} else if text, isScalar := c.scalar(v, where+": counts"); !isScalar {
		ok = false
	} else if b.Counts = Counter(text); b.Counts != CountSignatures && b.Counts != CountChallenges {
		ok = c.fail(v.Line, fmt.Sprintf("%s: counts %q: want signatures (requests forwarded to protected endpoints) or challenges (challenge pages issued)", where, text))
	}
	if v := m.get("per"); v == nil {
		ok = c.fail(m.line, where+": a limit rule needs per: ip, prefix, asn or class")
	} else if text, isScalar := c.scalar(v, where+": per"); !isScalar {
		ok = false
	} else if kind, err := budget.ParseKeyKind(text); err != nil {
		ok = c.fail(v.Line, fmt.Sprintf("%s: per %q: want ip, prefix, asn or class", where, text))
	} else {
		b.Per = kind
	}
	if v := m.get("rate"); v == nil {
		ok = c.fail(m.line, where+": a limit rule needs a rate such as 10/hour")
	} else if text, isScalar := c.scalar(v, where+": rate"); !isScalar {
		ok = false
	} else if rate, err := budget.ParseRate(text); err != nil {
		ok = c.fail(v.Line, fmt.Sprintf("%s: %v", where, err))
	} else {
		b.Rate = rate.Formatted
	}
	r.Budget = b
	return ok
}
