package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/ulule/limiter/v3"
	"github.com/ulule/limiter/v3/drivers/store/common"

	"github.com/rempart/rempart/budget"
)

// Budgets counts budgets in Redis with the fixed windows of budget.Tables:
// a window opens at a counter's first event and lasts one period. TakeAll
// checks and counts every charge in one script, so all instances together
// give a budget of k exactly k events. A counter Redis refused is then
// refused here for a moment without asking (see exhaustedCounters).
type Budgets struct {
	b         *Backend
	keys      siteKeys
	exhausted *exhaustedCounters
}

// TakeAll counts one event against every charge, all or none, in one
// round trip, or none when a charge's counter was found exhausted less
// than a second ago. Redis's clock is not used: windows are measured from
// now.
func (s *Budgets) TakeAll(ctx context.Context, charges []budget.Charge, now time.Time) (budget.TakeResult, error) {
	if len(charges) == 0 {
		return budget.TakeResult{Allowed: true, Exhausted: -1}, ctx.Err()
	}
	if res, ok := s.exhausted.refused(charges, now.UnixNano()); ok {
		return res, nil
	}
	keys, args := budgetCall(s.keys, charges, now, 0)
	v, err := s.b.call(ctx, "counting budgets", budgetScript, keys, args...)
	if err != nil {
		return budget.TakeResult{}, err
	}
	reply, ok := v.([]any)
	if !ok || len(reply) != 2 {
		return budget.TakeResult{}, fmt.Errorf("redis store: counting budgets: unexpected reply %v", v)
	}
	return budgetVerdict(s.exhausted, reply, charges, now)
}

// budgetCall returns the keys and arguments of budgetScript for charges,
// with room for extra more of each.
func budgetCall(k siteKeys, charges []budget.Charge, now time.Time, extra int) ([]string, []any) {
	keys := make([]string, len(charges), len(charges)+extra)
	args := make([]any, 1, 1+2*len(charges)+extra)
	args[0] = now.UnixMilli()
	for i, c := range charges {
		keys[i] = k.budget(c.Key, c.Kind)
		args = append(args, c.Rate.Limit, max(c.Rate.Period.Milliseconds(), 1))
	}
	return keys, args
}

// budgetVerdict reads budgetScript's answer (its first two values) for
// charges, and remembers the counter it found exhausted.
func budgetVerdict(e *exhaustedCounters, reply []any, charges []budget.Charge, now time.Time) (budget.TakeResult, error) {
	idx, ok1 := reply[0].(int64)
	reset, ok2 := reply[1].(int64)
	switch {
	case !ok1 || !ok2 || idx >= int64(len(charges)):
		return budget.TakeResult{}, fmt.Errorf("redis store: counting budgets: unexpected reply %v", reply)
	case idx < 0:
		return budget.TakeResult{Allowed: true, Exhausted: -1}, nil
	}
	res := budget.TakeResult{Exhausted: int(idx), Reset: time.UnixMilli(reset)}
	e.remember(charges[idx], now.UnixNano(), res.Reset.UnixNano())
	return res, nil
}

// Peek returns key's budget without counting anything.
func (s *Budgets) Peek(ctx context.Context, key string, kind budget.KeyKind, rate limiter.Rate) (limiter.Context, error) {
	v, err := s.b.call(ctx, "reading a budget", budgetPeekScript, []string{s.keys.budget(key, kind)})
	if err != nil {
		return limiter.Context{}, err
	}
	reply, ok := v.([]any)
	if !ok || len(reply) != 2 {
		return limiter.Context{}, fmt.Errorf("redis store: reading a budget: unexpected reply %v", v)
	}
	count, _ := reply[0].(int64)
	ttl, _ := reply[1].(int64)
	now := time.Now()
	expires := now.Add(rate.Period)
	if ttl > 0 {
		expires = now.Add(time.Duration(ttl) * time.Millisecond)
	}
	return common.GetContextFromState(now, rate, expires, count), nil
}

// Interface guards
var _ budget.Store = (*Budgets)(nil)
