package policies

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/rempart/rempart/budget"
)

const firstMatchPolicy = `defaults:
  difficulty: 16
  credits: 2
rules:
  - name: health
    match: {method: GET, path: /healthz}
    action: allow
  - name: deny-attacker
    match: {asn: AS64496}
    action: deny
    status: 451
    message: Gone fishing.
  - name: attacker-health
    match: {asn: AS64496, path: /healthz}
    action: allow
  - name: hosting-harder
    match: {class: hosting}
    action: challenge
    difficulty_delta: 3
  - name: vpn-fixed
    match: {class: vpn}
    action: challenge
    difficulty: 24
    credits: 5
`

func TestFirstMatchWins(t *testing.T) {
	p := mustParse(t, firstMatchPolicy)
	tests := []struct {
		name string
		req  Request
		want Decision
	}{
		{"health check from anywhere", Request{Method: "GET", Path: "/healthz", ASN: 64496},
			Decision{Action: ActionAllow, Rule: "health", Line: 5, Why: []string{"method is GET", "path matches /healthz"}}},
		{"attacker elsewhere: the earlier deny wins over the later allow", Request{Method: "POST", Path: "/healthz", ASN: 64496},
			Decision{Action: ActionDeny, Rule: "deny-attacker", Line: 8, Why: []string{"asn is AS64496"}, Status: 451, Message: "Gone fishing."}},
		{"hosting", Request{Method: "POST", Path: "/sign", Class: "hosting"},
			Decision{Action: ActionChallenge, Rule: "hosting-harder", Line: 16, Why: []string{"class is hosting"}, Difficulty: 19, Credits: 2}},
		{"vpn", Request{Method: "GET", Path: "/", Class: "vpn"},
			Decision{Action: ActionChallenge, Rule: "vpn-fixed", Line: 20, Why: []string{"class is vpn"}, Difficulty: 24, Credits: 5}},
		{"nobody in particular", Request{Method: "GET", Path: "/"},
			Decision{Action: ActionChallenge, Rule: DefaultRuleName, Line: 1, Difficulty: 16, Credits: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := p.Decide(&tt.req)
			if !sameDecision(got, tt.want) {
				t.Errorf("Decide = %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func sameDecision(a, b Decision) bool {
	return a.Action == b.Action && a.Rule == b.Rule && a.Line == b.Line && slices.Equal(a.Why, b.Why) &&
		a.Status == b.Status && a.Message == b.Message && a.Difficulty == b.Difficulty && a.Credits == b.Credits &&
		slices.Equal(a.Budgets, b.Budgets)
}

func TestDefaultsWithoutRules(t *testing.T) {
	p := mustParse(t, "rules: []\n")
	d := p.Decide(&Request{Method: "GET", Path: "/"})
	want := Decision{Action: ActionChallenge, Rule: DefaultRuleName, Difficulty: DefaultDifficulty, Credits: DefaultCredits}
	if !sameDecision(d, want) {
		t.Errorf("Decide = %+v, want %+v", d, want)
	}
	deny := Decision{Action: ActionDeny, Rule: "deny", Line: 2, Status: DefaultDenyStatus}
	if d := mustParse(t, "rules:\n  - name: deny\n    action: deny\n").Decide(&Request{}); !sameDecision(d, deny) {
		t.Errorf("a deny rule without status: %+v, want %+v", d, deny)
	}
}

func TestParseOptionsDefaults(t *testing.T) {
	src := "rules:\n  - name: hosting\n    match: {class: hosting}\n    action: challenge\n    difficulty_delta: 2\n"
	p, err := ParseOptions{Defaults: Defaults{Difficulty: 20, Credits: 3}}.Parse([]byte(src), "policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if d := p.Decide(&Request{Class: "hosting"}); d.Difficulty != 22 || d.Credits != 3 {
		t.Errorf("hosting: difficulty %d credits %d, want 22 and 3 (the options' defaults +2)", d.Difficulty, d.Credits)
	}
	if d := p.Decide(&Request{}); d.Difficulty != 20 || d.Credits != 3 {
		t.Errorf("default: difficulty %d credits %d, want the options' 20 and 3", d.Difficulty, d.Credits)
	}
	// The file's defaults win over the options'.
	p, err = ParseOptions{Defaults: Defaults{Difficulty: 20}}.Parse([]byte("defaults: {difficulty: 17}\n"+src), "policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if d := p.Decide(&Request{Class: "hosting"}); d.Difficulty != 19 {
		t.Errorf("hosting: difficulty %d, want 19 (the file's default 17 +2)", d.Difficulty)
	}
	if got := p.Defaults(); got != (Defaults{Difficulty: 17, Credits: DefaultCredits}) {
		t.Errorf("Defaults() = %+v", got)
	}
}

const limitsPolicy = `rules:
  - name: per-ip
    action: limit
    counts: signatures
    per: ip
    rate: 20/hour
  - name: health
    match: {path: /healthz}
    action: allow
  - name: challenges-per-prefix
    action: limit
    counts: challenges
    per: prefix
    rate: 300/min
  - name: hosting-signatures
    match: {class: hosting}
    action: limit
    counts: signatures
    per: asn
    rate: 10/hour
  - name: vpn-signatures
    match: {class: vpn}
    action: limit
    counts: signatures
    per: asn
    rate: 30/hour
  - name: hosting-per-class
    match: {class: hosting}
    action: limit
    counts: signatures
    per: class
    rate: 100/hour
  - name: hosting-harder
    match: {class: hosting}
    action: challenge
    difficulty_delta: 2
`

func TestLimitsLetLaterRulesDecide(t *testing.T) {
	p := mustParse(t, limitsPolicy)
	tests := []struct {
		name        string
		req         Request
		rule        string
		wantBudgets []string
	}{
		{"a limit before an allow applies to it", Request{Path: "/healthz", Class: "hosting"}, "health", []string{"per-ip"}},
		{"every matching limit, in order, then the challenge", Request{Path: "/sign", Class: "hosting"}, "hosting-harder",
			[]string{"per-ip", "challenges-per-prefix", "hosting-signatures", "hosting-per-class"}},
		{"limits that do not match are left out", Request{Path: "/sign", Class: "vpn"}, DefaultRuleName,
			[]string{"per-ip", "challenges-per-prefix", "vpn-signatures"}},
		{"the defaults after the global limits", Request{Path: "/"}, DefaultRuleName, []string{"per-ip", "challenges-per-prefix"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := p.Decide(&tt.req)
			if d.Rule != tt.rule || !slices.Equal(d.Budgets, tt.wantBudgets) {
				t.Errorf("Decide = rule %q budgets %q, want rule %q budgets %q", d.Rule, d.Budgets, tt.rule, tt.wantBudgets)
			}
		})
	}
}

func TestDecisionBudgetsDoNotAlias(t *testing.T) {
	p := mustParse(t, limitsPolicy)
	// Both decisions share the policy's list of limit names: appending to
	// the shorter must not write into the longer.
	global := p.Decide(&Request{Path: "/"})
	_ = append(global.Budgets, "scribble")
	hosting := p.Decide(&Request{Path: "/sign", Class: "hosting"})
	if hosting.Budgets[2] != "hosting-signatures" {
		t.Fatalf("a decision's budgets changed another's: %q", hosting.Budgets)
	}
}

func TestPolicyBudgets(t *testing.T) {
	p := mustParse(t, limitsPolicy)
	got := p.Budgets()
	want := []Budget{
		{Name: "per-ip", Counts: CountSignatures, Per: budget.KeyIP, Rate: "20/h"},
		{Name: "challenges-per-prefix", Counts: CountChallenges, Per: budget.KeyPrefix, Rate: "300/m"},
		{Name: "hosting-signatures", Counts: CountSignatures, Per: budget.KeyASN, Rate: "10/h"},
		{Name: "vpn-signatures", Counts: CountSignatures, Per: budget.KeyASN, Rate: "30/h"},
		{Name: "hosting-per-class", Counts: CountSignatures, Per: budget.KeyClass, Rate: "100/h"},
	}
	if len(got) != len(want) {
		t.Fatalf("Budgets() = %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("budget %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestDecideAllocatesNothing(t *testing.T) {
	skipUnderRace(t)
	p := loadFiftyRules(t)
	for _, bench := range benchRequests[:1] {
		allocs := testing.AllocsPerRun(200, func() { decisionSink = p.Decide(&bench.req) })
		if allocs != 0 {
			t.Errorf("%s: Decide allocates %v times", bench.name, allocs)
		}
	}
	small := mustParse(t, limitsPolicy)
	for _, req := range []Request{
		{Method: "GET", Path: "/", IP: netip.MustParseAddr("198.51.100.7")},
		{Method: "GET", Path: "/healthz"},
	} {
		if allocs := testing.AllocsPerRun(200, func() { decisionSink = small.Decide(&req) }); allocs != 0 {
			t.Errorf("%s: Decide allocates %v times", req.Path, allocs)
		}
	}
}
