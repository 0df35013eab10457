package policies

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rempart/rempart/budget"
)

func TestChainDecides(t *testing.T) {
	limits, err := LimitsPolicy([]Budget{
		{Counts: CountSignatures, Per: budget.KeyASN, Rate: "10/hour", Class: "hosting"},
		{Counts: CountSignatures, Per: budget.KeyIP, Rate: "3/hour", Name: "per-ip"},
	}, "Caddyfile limits", ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	file, err := Parse([]byte(`
rules:
  - name: robots
    match: {path: /robots.txt}
    action: allow
  - name: hosting-harder
    match: {class: hosting}
    action: challenge
    difficulty_delta: 2
`), "policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	chain := Chain{limits, file}
	hosting := &Request{Method: "POST", Path: "/sign", IP: netip.MustParseAddr("52.94.1.1"), ASN: 16509, Class: "hosting"}
	d := chain.Decide(hosting)
	if d.Rule != "hosting-harder" || d.Difficulty != DefaultDifficulty+2 {
		t.Fatalf("hosting decision %+v", d)
	}
	if got := strings.Join(d.Budgets, ","); got != "signatures.asn.hosting,per-ip" {
		t.Fatalf("budgets %q, want the Caddyfile limits", got)
	}
	home := &Request{Method: "GET", Path: "/robots.txt", IP: netip.MustParseAddr("192.0.2.1")}
	if d := chain.Decide(home); d.Rule != "robots" || d.Action != ActionAllow || strings.Join(d.Budgets, ",") != "per-ip" {
		t.Fatalf("robots decision %+v", d)
	}
	other := &Request{Method: "GET", Path: "/", IP: netip.MustParseAddr("192.0.2.1")}
	if d := chain.Decide(other); d.Rule != DefaultRuleName || d.Action != ActionChallenge {
		t.Fatalf("default decision %+v", d)
	}
	if !strings.Contains(chain.Explain(hosting), "hosting-harder") {
		t.Fatalf("explain does not name the deciding rule:\n%s", chain.Explain(hosting))
	}

	// The chain's budgets count as one engine.
	store, _ := budget.NewTables(budget.TablesConfig{Clock: func() time.Time { return now }})
	bs, err := NewBudgets(chain.Budgets(), store, BudgetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := budget.Client{IP: hosting.IP, ASN: 16509, Class: "hosting"}
	allowed := 0
	for range 5 {
		v, err := bs.Take(context.Background(), CountSignatures, d.Budgets, c, now)
		if err != nil {
			t.Fatal(err)
		}
		if v.Allowed {
			allowed++
		}
	}
	if allowed != 3 {
		t.Fatalf("%d of 5 signatures allowed, want 3 (per-ip)", allowed)
	}
	states, err := bs.Peek(context.Background(), d.Budgets, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 2 || states[0].Remaining != 7 || states[1].Remaining != 0 || states[1].Limit != 3 {
		t.Fatalf("budget states %+v, want hosting 7 of 10 left (refused tries not counted) and per-ip 0 of 3", states)
	}
}

func TestLimitsPolicyRefusesBadBudgets(t *testing.T) {
	if _, err := LimitsPolicy([]Budget{{Counts: CountSignatures, Per: budget.KeyIP, Rate: "never"}}, "Caddyfile limits", ParseOptions{}); err == nil {
		t.Fatal("bad rate accepted")
	}
	if _, err := LimitsPolicy([]Budget{{Counts: CountSignatures, Per: budget.KeyASN, Rate: "1/h", Class: "nosuch"}}, "Caddyfile limits", ParseOptions{Classes: []string{"hosting"}}); err == nil {
		t.Fatal("unknown class accepted")
	}
}
