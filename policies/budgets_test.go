package policies

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rempart/rempart/budget"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func newBudgets(t *testing.T, bs ...Budget) *Budgets {
	t.Helper()
	return newBudgetsWith(t, BudgetOptions{}, bs...)
}

func newBudgetsWith(t *testing.T, opts BudgetOptions, bs ...Budget) *Budgets {
	t.Helper()
	store, err := budget.NewTables(budget.TablesConfig{Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBudgets(bs, store, opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func client(ip string, asn uint32, class string) budget.Client {
	addr := netip.MustParseAddr(ip)
	p, _ := addr.Prefix(24)
	return budget.Client{IP: addr, Prefix: p, ASN: asn, Class: class}
}

// take counts n events and returns how many were allowed.
func take(t *testing.T, b *Budgets, what Counter, c budget.Client, n int) int {
	t.Helper()
	allowed := 0
	for range n {
		v, err := b.Take(context.Background(), what, allNames(b), c, now)
		if err != nil {
			t.Fatal(err)
		}
		if v.Allowed {
			allowed++
		} else if v.RetryAfter < time.Second || v.Budget == "" {
			t.Fatalf("refusal without a budget name or retry time: %+v", v)
		}
	}
	return allowed
}

func TestBudgetsBoundNetworks(t *testing.T) {
	b := newBudgets(t,
		Budget{Counts: CountSignatures, Per: budget.KeyASN, Rate: "10/hour", Class: "hosting"},
		Budget{Counts: CountSignatures, Per: budget.KeyASN, Rate: "300/min"},
		Budget{Counts: CountSignatures, Per: budget.KeyIP, Rate: "3/hour"},
	)
	// 50 servers of one hosting ASN, 3 tries each: the ASN's 10/hour holds.
	got := 0
	for i := range 50 {
		got += take(t, b, CountSignatures, client("203.0.113."+itoa(i), 16509, "hosting"), 3)
	}
	if got != 10 {
		t.Errorf("hosting ASN got %d signatures through, want 10", got)
	}
	// A residential ASN is held only by the per-IP budget.
	if got := take(t, b, CountSignatures, client("198.51.100.7", 3215, ""), 5); got != 3 {
		t.Errorf("residential IP got %d of 5, want 3 (per-IP budget)", got)
	}
	residential := 0
	for i := range 100 {
		residential += take(t, b, CountSignatures, client("198.51.101."+itoa(i), 3215, ""), 1)
	}
	if residential != 100 {
		t.Errorf("%d of 100 residential signers got through, want all", residential)
	}
	// Challenges are counted apart from signatures.
	if got := take(t, b, CountChallenges, client("203.0.113.1", 16509, "hosting"), 5); got != 5 {
		t.Errorf("challenges limited by signature budgets: %d of 5", got)
	}
}

func TestBudgetUnknownASNCountsByPrefix(t *testing.T) {
	b := newBudgets(t, Budget{Counts: CountSignatures, Per: budget.KeyASN, Rate: "2/min"})
	// Without a database every client has ASN 0: they must not share one
	// budget, but be counted by network prefix.
	if got := take(t, b, CountSignatures, client("192.0.2.1", 0, ""), 3); got != 2 {
		t.Errorf("first prefix got %d of 3, want 2", got)
	}
	if got := take(t, b, CountSignatures, client("192.0.2.99", 0, ""), 1); got != 0 {
		t.Errorf("same /24 got %d, want 0", got)
	}
	if got := take(t, b, CountSignatures, client("198.51.100.1", 0, ""), 2); got != 2 {
		t.Errorf("another prefix got %d of 2, want 2", got)
	}
}

func TestBudgetPerClass(t *testing.T) {
	b := newBudgets(t, Budget{Counts: CountChallenges, Per: budget.KeyClass, Rate: "5/min"})
	got := take(t, b, CountChallenges, client("203.0.113.1", 16509, "hosting"), 3) +
		take(t, b, CountChallenges, client("192.0.2.1", 14061, "hosting"), 3)
	if got != 5 {
		t.Errorf("hosting class shared budget let %d of 6 through, want 5", got)
	}
	if got := take(t, b, CountChallenges, client("198.51.100.1", 3215, ""), 10); got != 10 {
		t.Errorf("clients outside any class were limited: %d of 10", got)
	}
}

func TestNewBudgetsErrors(t *testing.T) {
	store, _ := budget.NewTables(budget.TablesConfig{})
	tests := []struct {
		b    Budget
		want string
	}{
		{Budget{Counts: "votes", Per: budget.KeyIP, Rate: "1/h"}, "want signatures or challenges"},
		{Budget{Counts: CountSignatures, Rate: "1/h"}, "want ip, prefix, asn or class"},
		{Budget{Counts: CountSignatures, Per: budget.KeyIP, Rate: "0/h"}, "rate"},
		{Budget{Counts: CountSignatures, Per: budget.KeyIP, Rate: "often"}, "rate"},
	}
	for _, tt := range tests {
		if _, err := NewBudgets([]Budget{tt.b}, store, BudgetOptions{}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewBudgets(%+v) = %v, want an error containing %q", tt.b, err, tt.want)
		}
	}
	twice := Budget{Counts: CountSignatures, Per: budget.KeyIP, Rate: "1/h"}
	if _, err := NewBudgets([]Budget{twice, twice}, store, BudgetOptions{}); err == nil || !strings.Contains(err.Error(), "used twice") {
		t.Errorf("duplicate budget accepted: %v", err)
	}
	for _, bits := range []int{-1, 47, 129} {
		if _, err := NewBudgets([]Budget{twice}, store, BudgetOptions{IPv6IPBits: bits}); err == nil || !strings.Contains(err.Error(), "between 48 and 128") {
			t.Errorf("IPv6IPBits %d accepted: %v", bits, err)
		}
	}
	if _, err := NewBudgets([]Budget{twice}, nil, BudgetOptions{}); err == nil {
		t.Error("budgets without a store accepted")
	}
	if _, err := NewBudgets(nil, nil, BudgetOptions{}); err != nil {
		t.Errorf("no budgets and no store: %v", err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// allNames names every budget of b, as a decision whose limit rules all
// matched would.
func allNames(b *Budgets) []string {
	names := make([]string, len(b.budgets))
	for i := range b.budgets {
		names[i] = b.budgets[i].Name
	}
	return names
}
