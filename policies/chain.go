package policies

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
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
//
// A budget that does not compile is reported by its number and its text,
// "limit 2 (signatures per asn 10/hour class hostng)", never at a line of
// the text the rules are compiled from, which nobody wrote.
func LimitsPolicy(budgets []Budget, source string, opts ParseOptions) (*Policy, error) {
	type limitRule struct {
		Name   string            `json:"name"`
		Match  map[string]string `json:"match,omitempty"`
		Action Action            `json:"action"`
		Counts Counter           `json:"counts"`
		Per    string            `json:"per"`
		Rate   string            `json:"rate"`
	}
	// One rule per line: rule i is on line i+2, so that a problem names
	// its budget.
	var text bytes.Buffer
	text.WriteString("{\"rules\": [\n")
	for i, b := range budgets {
		if err := b.compile(); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", source, describeLimit(i, budgets[i]), err)
		}
		r := limitRule{Name: ruleName(b.Name), Action: ActionLimit, Counts: b.Counts, Per: b.Per.String(), Rate: b.Rate}
		if b.Class != "" {
			r.Match = map[string]string{"class": b.Class}
		}
		line, err := json.Marshal(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		if i > 0 {
			text.WriteString(",\n")
		}
		text.Write(line)
	}
	text.WriteString("\n]}\n")
	// JSON is YAML: one document the policy compiler checks like any file.
	opts.SkipTests = true
	p, err := opts.Parse(text.Bytes(), source)
	var ve *ValidationError
	if errors.As(err, &ve) {
		for i := range ve.Problems {
			pr := &ve.Problems[i]
			if n := pr.Line - 2; n >= 0 && n < len(budgets) {
				msg := firstAtLine.ReplaceAllStringFunc(pr.Message, func(m string) string {
					first, _ := strconv.Atoi(firstAtLine.FindStringSubmatch(m)[1])
					return fmt.Sprintf("(first by limit %d; give each limit its own name)", first-1)
				})
				pr.Message = describeLimit(n, budgets[n]) + ": " + msg
			}
			pr.Line = 0
		}
	}
	return p, err
}

// firstAtLine is how a problem refers to an earlier line.
var firstAtLine = regexp.MustCompile(`\(first at line (\d+)\)`)

// describeLimit names the i-th budget (from 0) of a server's configuration
// in messages, as the Caddyfile writes it.
func describeLimit(i int, b Budget) string {
	text := fmt.Sprintf("%s per %s %s", b.Counts, b.Per, b.Rate)
	if b.Class != "" {
		text += " class " + b.Class
	}
	if b.Name != "" {
		text += " name " + b.Name
	}
	return fmt.Sprintf("limit %d (%s)", i+1, text)
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
