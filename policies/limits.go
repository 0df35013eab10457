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
