package policies

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Chain evaluates several policies as one, in order: limits given in a
// server's own configuration, temporary rules added during an attack, then
// the policy file. The first rule that decides, in the first policy that
// has one, wins; the limit rules matched on the way all count. When no
// rule decides, the last policy's defaults apply.
type Chain []*Policy

// Decide runs the request through the chain (see Policy.Decide).
func (c Chain) Decide(req *Request) Decision {
	var budgets []string
	for i, p := range c {
		d := p.Decide(req)
		if len(d.Budgets) > 0 {
			if budgets == nil {
				budgets = d.Budgets // shared with the policy, as Decide allows
			} else {
				budgets = append(budgets[:len(budgets):len(budgets)], d.Budgets...)
			}
		}
		if d.Rule != DefaultRuleName || i == len(c)-1 {
			d.Budgets = budgets
			return d
		}
	}
	return Decision{Action: ActionChallenge, Rule: DefaultRuleName, Difficulty: DefaultDifficulty, Credits: DefaultCredits}
}

// Budgets returns the budgets of every policy's limit rules, in order.
// Their names must differ across the chain: NewBudgets refuses a name used
// twice.
func (c Chain) Budgets() []Budget {
	var out []Budget
	for _, p := range c {
		out = append(out, p.Budgets()...)
	}
	return out
}

// Explain formats the chain's decision for people: the explanation of the
// policy that decided, after the limits counted in the policies before it.
func (c Chain) Explain(req *Request) string {
	var b strings.Builder
	for i, p := range c {
		d := p.Decide(req)
		if d.Rule != DefaultRuleName || i == len(c)-1 {
			b.WriteString(p.Explain(req))
			return b.String()
		}
		for _, name := range d.Budgets {
			fmt.Fprintf(&b, "counted against %s (%s)\n", name, p.File())
		}
	}
	return b.String()
}

// LimitsPolicy turns budgets given outside a policy file (a server's
// configuration) into a policy of limit rules that match every request,
// or only clients of the budget's class, so that they are counted by the
// same engine as a policy's own limits. Each rule is named after its
// budget, with characters a rule name cannot have replaced by dots.
func LimitsPolicy(budgets []Budget, source string, opts ParseOptions) (*Policy, error) {
	type limitRule struct {
		Name   string            `json:"name"`
		Match  map[string]string `json:"match,omitempty"`
		Action Action            `json:"action"`
		Counts Counter           `json:"counts"`
		Per    string            `json:"per"`
		Rate   string            `json:"rate"`
	}
	doc := struct {
		Rules []limitRule `json:"rules"`
	}{Rules: []limitRule{}}
	for _, b := range budgets {
		if err := b.compile(); err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		r := limitRule{Name: ruleName(b.Name), Action: ActionLimit, Counts: b.Counts, Per: b.Per.String(), Rate: b.Rate}
		if b.Class != "" {
			r.Match = map[string]string{"class": b.Class}
		}
		doc.Rules = append(doc.Rules, r)
	}
	// JSON is YAML: one document the policy compiler checks like any file.
	text, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	opts.SkipTests = true
	return opts.Parse(text, source)
}

// ruleName makes a budget's name a valid rule name.
func ruleName(s string) string {
	out := []byte(s)
	for i, c := range out {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || (i > 0 && (c == '.' || c == '_' || c == '-'))
		if !ok {
			out[i] = '.'
		}
	}
	if len(out) > 64 {
		out = out[:64]
	}
	return string(out)
}
