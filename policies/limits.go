package policies

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/rempart/rempart/budget"
)

// maxStackBudgets is how many budgets Take keeps track of on the stack.
const maxStackBudgets = 8

// Take counts one event of kind what for client c against the named
// budgets, such as a Decision's Budgets, all or none: it skips the budgets
// that count another kind of event or do not apply to c, and when every
// other one has room, counts the event on each; when any is exhausted, it
// counts the event on none and names the exhausted one (the one whose
// window ends last, when several are). A request refused by its address's
// budget thus spends nothing of its network's, and cannot lock the
// network's other addresses out. A name listed twice counts once. A name
// that is not in bs is an error, the sign of a decision made by another
// policy than the one bs was built from; nothing is counted then.
//
// Use one Budgets for a policy's limit rules (NewBudgets(policy.Budgets(),
// store, opts)) and count a decision's with Take.
func (bs *Budgets) Take(ctx context.Context, what Counter, names []string, c budget.Client, now time.Time) (Verdict, error) {
	// A closure, not the method value: bs.store is nil when bs is empty.
	return bs.TakeWith(ctx, what, names, c, now, func(ctx context.Context, charges []budget.Charge, now time.Time) (budget.TakeResult, error) {
		return bs.store.TakeAll(ctx, charges, now)
	})
}

// TakeWith is Take counting through take rather than the store's TakeAll:
// for a store that does more in the same round trip (such as
// store.BudgetedPressure). take is called at most once, and only with
// charges to count.
func (bs *Budgets) TakeWith(ctx context.Context, what Counter, names []string, c budget.Client, now time.Time,
	take func(context.Context, []budget.Charge, time.Time) (budget.TakeResult, error)) (Verdict, error) {
	var budgetBuf [maxStackBudgets]*Budget
	buf := chargeBufs.Get().(*[]budget.Charge)
	charges, counted := (*buf)[:0], budgetBuf[:0]
	defer func() {
		clear(charges) // keep no key alive in the pool
		*buf = charges[:0]
		chargeBufs.Put(buf)
	}()
	for i, name := range names {
		b := bs.named(name)
		if b == nil {
			return Verdict{}, fmt.Errorf("budget %q is not in this set: was the decision made by another policy?", name)
		}
		if b.Counts != what || !b.appliesTo(c) || listedBefore(names, i) {
			continue
		}
		charges = append(charges, b.charge(c, bs.ipv6Bits))
		counted = append(counted, b)
	}
	if len(charges) == 0 {
		return Verdict{Allowed: true}, nil
	}
	res, err := take(ctx, charges, now)
	if err != nil {
		return Verdict{}, fmt.Errorf("counting budgets: %w", err)
	}
	if res.Allowed {
		return Verdict{Allowed: true}, nil
	}
	if res.Exhausted < 0 || res.Exhausted >= len(counted) {
		return Verdict{}, fmt.Errorf("counting budgets: the store refused charge %d of %d", res.Exhausted, len(counted))
	}
	return Verdict{Budget: counted[res.Exhausted].Name, RetryAfter: max(res.Reset.Sub(now), time.Second)}, nil
}

// chargeBufs holds the charges Take hands to the store: they go through an
// interface, so to the heap, and a flood counts one event per request. A
// store never keeps them past TakeAll.
var chargeBufs = sync.Pool{New: func() any { return new([]budget.Charge) }}

// listedBefore reports whether names[i] is also in names[:i].
func listedBefore(names []string, i int) bool {
	for _, n := range names[:i] {
		if n == names[i] {
			return true
		}
	}
	return false
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
		ch := b.charge(c, bs.ipv6Bits)
		lc, err := bs.store.Peek(ctx, ch.Key, ch.Kind, ch.Rate)
		if err != nil {
			return nil, fmt.Errorf("reading budget %s: %w", b.Name, err)
		}
		out = append(out, BudgetState{Budget: b.Name, Counts: b.Counts, Limit: lc.Limit, Remaining: lc.Remaining, Reset: lc.Reset})
	}
	return out, nil
}
