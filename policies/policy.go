package policies

import "slices"

// Action is what a policy rule does with a request it matches.
type Action string

// The actions a rule can take.
const (
	// ActionAllow lets the request through without any challenge or pass.
	ActionAllow Action = "allow"
	// ActionDeny refuses the request with a status and a message.
	ActionDeny Action = "deny"
	// ActionChallenge requires a pass: a browser without one is given a
	// proof-of-work challenge of the rule's difficulty, whose pass buys the
	// rule's credits.
	ActionChallenge Action = "challenge"
	// ActionLimit counts the request against a budget and, within budget,
	// lets the next rules decide; over budget the request is refused
	// with 429.
	ActionLimit Action = "limit"
)

// Defaults for a policy's defaults block, used when neither the policy file
// nor the ParseOptions set them.
const (
	// DefaultDifficulty is the challenge difficulty, in leading zero bits.
	DefaultDifficulty = 18
	// DefaultCredits is how many requests to protected endpoints one
	// solved challenge buys.
	DefaultCredits = 1
	// DefaultDenyStatus is the HTTP status of a deny rule without status.
	DefaultDenyStatus = 403
)

// Bounds of the parameters a policy may set. They match those the
// challenge package enforces.
const (
	MinDifficulty = 1
	MaxDifficulty = 40
	MinCredits    = 1
	MaxCredits    = 255
)

// DefaultRuleName is the name a Decision gives when no rule matched and the
// policy's defaults apply. No rule may take it.
const DefaultRuleName = "default"

// Defaults are what a request that no rule decides gets: a challenge of
// this difficulty whose pass buys this many credits. A challenge rule's
// difficulty_delta is relative to Difficulty.
type Defaults struct {
	// Difficulty is the challenge difficulty in leading zero bits of
	// SHA-256, from MinDifficulty to MaxDifficulty.
	Difficulty int `json:"difficulty"`
	// Credits is how many requests to protected endpoints a solved
	// challenge buys, from MinCredits to MaxCredits.
	Credits int `json:"credits"`
}

// Rule is one compiled rule of a policy: the conditions a request must
// meet, and the action taken when it meets them all.
type Rule struct {
	// Name identifies the rule in logs, decisions and tests; it is unique
	// in its policy, and a limit rule's budget carries it too.
	Name string `json:"name"`
	// Line is where the rule starts in the policy file.
	Line int `json:"line"`
	// Conditions describes each condition of the rule for people, such as
	// "class is hosting"; it is empty for a rule that matches every request.
	Conditions []string `json:"conditions,omitempty"`
	// Action is what the rule does with a request it matches.
	Action Action `json:"action"`
	// Status is the HTTP status a deny rule answers with.
	Status int `json:"status,omitempty"`
	// Message is the text a deny rule shows; when empty the shield shows
	// its standard refusal page.
	Message string `json:"message,omitempty"`
	// Difficulty is the difficulty, in bits, of the challenges a challenge
	// rule issues, with DifficultyDelta already applied to the defaults.
	Difficulty int `json:"difficulty,omitempty"`
	// DifficultyDelta is the difficulty_delta the rule was written with,
	// or 0 when it set an absolute difficulty or none.
	DifficultyDelta int `json:"difficulty_delta,omitempty"`
	// Credits is how many requests to protected endpoints the pass of a
	// challenge rule buys.
	Credits int `json:"credits,omitempty"`
	// Budget is what a limit rule counts, named after the rule; nil for
	// the other actions.
	Budget *Budget `json:"budget,omitempty"`

	match conditions
	// limitIndex is a limit rule's position among the policy's limit rules.
	limitIndex int
}

// Policy is a compiled policy: rules evaluated in order, the first that
// matches deciding (limit rules count and let the next rules decide), and
// defaults for requests no rule decides. A Policy is immutable and safe for
// concurrent use.
type Policy struct {
	file     string
	defaults Defaults
	// defaultsLine is where the defaults block starts, or 0.
	defaultsLine int
	rules        []Rule
	// limitNames are the names of the limit rules, in order (see Decide).
	limitNames []string
	// signatures are the signature endpoints, in canonical form.
	signatures Endpoints
	tests      []testCase
}

// File returns the name the policy was loaded from.
func (p *Policy) File() string { return p.file }

// Defaults returns what requests that no rule decides get.
func (p *Policy) Defaults() Defaults { return p.defaults }

// Rules returns a copy of the policy's rules, in order, for listing them
// (an admin endpoint, a command).
func (p *Policy) Rules() []Rule {
	out := slices.Clone(p.rules)
	for i := range out {
		if out[i].Budget != nil {
			b := *out[i].Budget
			out[i].Budget = &b
		}
		out[i].Conditions = slices.Clone(out[i].Conditions)
	}
	return out
}

// Budgets returns the budgets of the policy's limit rules, in order, each
// named after its rule. Give them to NewBudgets over the limiter store that
// keeps their counters, and count a Decision's budgets with
// Budgets.Take.
func (p *Policy) Budgets() []Budget {
	var out []Budget
	for _, r := range p.rules {
		if r.Budget != nil {
			out = append(out, *r.Budget)
		}
	}
	return out
}

// rule returns the rule named name, or nil.
func (p *Policy) rule(name string) *Rule {
	for i := range p.rules {
		if p.rules[i].Name == name {
			return &p.rules[i]
		}
	}
	return nil
}
