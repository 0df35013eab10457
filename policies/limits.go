package policies

import (
	"context"
	"fmt"
	"time"

	"github.com/rempart/rempart/budget"
)

// TakeNamed counts one event of kind what for client c against the named
// budgets, such as a Decision's Budgets, in the order given. It skips the
// budgets that count another kind of event or do not apply to c, and stops
// at the first that is exhausted, as a policy's evaluation stops at a limit
// rule over budget: the budgets after it are not counted. A name that is
// not in bs is an error, the sign of a decision made by another policy than
// the one bs was built from.
//
// Use one Budgets for a policy's limit rules (NewBudgets(policy.Budgets(),
// store)) and count a decision's with TakeNamed.
func (bs *Budgets) TakeNamed(ctx context.Context, what Counter, names []string, c budget.Client, now time.Time) (Verdict, error) {
	for _, name := range names {
		b := bs.named(name)
		if b == nil {
			return Verdict{}, fmt.Errorf("budget %q is not in this set: was the decision made by another policy?", name)
		}
		if b.Counts != what || !b.appliesTo(c) {
			continue
		}
		lc, err := bs.store.Increment(ctx, b.key(c), 1, b.rate)
		if err != nil {
			return Verdict{}, fmt.Errorf("counting budget %s: %w", b.Name, err)
		}
		if lc.Reached {
			return Verdict{Budget: b.Name, RetryAfter: max(time.Unix(lc.Reset, 0).Sub(now), time.Second)}, nil
		}
	}
	return Verdict{Allowed: true}, nil
}

// named returns the budget called name, or nil. Policies have few limit
// rules, so a scan beats a map.
func (bs *Budgets) named(name string) *Budget {
	for i := range bs.budgets {
		if bs.budgets[i].Name == name {
			return &bs.budgets[i]
		}
	}
	return nil
}

// BudgetState is where a client stands against one budget.
type BudgetState struct {
	Budget    string  `json:"budget"`
	Counts    Counter `json:"counts"`
	Limit     int64   `json:"limit"`
	Remaining int64   `json:"remaining"`
	// Reset is when the budget's window ends, Unix seconds.
	Reset int64 `json:"reset"`
}

// Peek reports where client c stands against the named budgets that apply
// to it, counting nothing: for explaining a decision.
func (bs *Budgets) Peek(ctx context.Context, names []string, c budget.Client) ([]BudgetState, error) {
	var out []BudgetState
	for _, name := range names {
		b := bs.named(name)
		if b == nil {
			return nil, fmt.Errorf("budget %q is not in this set", name)
		}
		if !b.appliesTo(c) {
			continue
		}
		lc, err := bs.store.Peek(ctx, b.key(c), b.rate)
		if err != nil {
			return nil, fmt.Errorf("reading budget %s: %w", b.Name, err)
		}
		out = append(out, BudgetState{Budget: b.Name, Counts: b.Counts, Limit: lc.Limit, Remaining: lc.Remaining, Reset: lc.Reset})
	}
	return out, nil
}
