package policies

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rempart/rempart/budget"
)

const takePolicy = `rules:
  - name: per-ip
    action: limit
    counts: signatures
    per: ip
    rate: 1/hour
  - name: per-asn
    action: limit
    counts: signatures
    per: asn
    rate: 2/hour
  - name: challenges
    action: limit
    counts: challenges
    per: ip
    rate: 1/hour
`

func TestTakeNamedCountsInOrderAndStops(t *testing.T) {
	p := mustParse(t, takePolicy)
	bs := newBudgets(t, p.Budgets()...)
	names := p.Decide(&Request{}).Budgets
	takeFor := func(ip string) Verdict {
		t.Helper()
		v, err := bs.TakeNamed(context.Background(), CountSignatures, names, client(ip, 16509, "hosting"), now)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := takeFor("203.0.113.1"); !v.Allowed {
		t.Fatalf("first signature refused: %+v", v)
	}
	// Over per-ip, evaluation stops there: per-asn is not counted.
	for range 3 {
		if v := takeFor("203.0.113.1"); v.Allowed || v.Budget != "per-ip" || v.RetryAfter < time.Second {
			t.Fatalf("second signature from one address: %+v, want refused by per-ip", v)
		}
	}
	// So the network still has one signature of its two.
	if v := takeFor("203.0.113.2"); !v.Allowed {
		t.Fatalf("another address of the network refused: %+v (were refused requests counted against per-asn?)", v)
	}
	if v := takeFor("203.0.113.3"); v.Allowed || v.Budget != "per-asn" {
		t.Fatalf("third address of the network: %+v, want refused by per-asn", v)
	}
	// Challenges are counted apart.
	v, err := bs.TakeNamed(context.Background(), CountChallenges, names, client("203.0.113.1", 16509, "hosting"), now)
	if err != nil || !v.Allowed {
		t.Fatalf("first challenge: %+v, %v", v, err)
	}
}

func TestTakeNamedUnknownBudget(t *testing.T) {
	bs := newBudgets(t, mustParse(t, takePolicy).Budgets()...)
	_, err := bs.TakeNamed(context.Background(), CountSignatures, []string{"per-ip", "gone"}, client("192.0.2.1", 0, ""), now)
	if err == nil || !strings.Contains(err.Error(), `budget "gone" is not in this set`) {
		t.Errorf("TakeNamed with an unknown name: %v", err)
	}
}

func TestTakeNamedSkipsBudgetsThatDoNotApply(t *testing.T) {
	src := "rules:\n  - name: per-class\n    action: limit\n    counts: signatures\n    per: class\n    rate: 1/hour\n"
	bs := newBudgets(t, mustParse(t, src).Budgets()...)
	for range 3 {
		// A client outside every class has no class counter to count.
		v, err := bs.TakeNamed(context.Background(), CountSignatures, []string{"per-class"}, budget.Client{}, now)
		if err != nil || !v.Allowed {
			t.Fatalf("client without class: %+v, %v", v, err)
		}
	}
}
