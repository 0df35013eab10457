package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/rempart/rempart/budget"
	"github.com/rempart/rempart/store"
)

// pressureLifetimes is how many half-lives a network's estimate outlives
// its last event in Redis: by then it has shrunk 65536-fold, below any
// threshold but that of a flood 65536 times over it, which keeps being
// observed. Redis thus holds only the networks seen lately.
const pressureLifetimes = 16

// Pressure keeps each network's rate estimate in Redis, so that a flood
// spread over every instance raises its difficulty as fast as on one:
// each Observe is one script that decays the shared estimate to now and
// adds the event. A local budget.Pressure keeps the last shared estimate
// seen, which Extra reads without a round trip and Observe falls back on
// (adding its own events) while Redis is away.
type Pressure struct {
	b      *Backend
	keys   siteKeys
	local  *budget.Pressure
	expiry time.Duration
	// exhausted is the site's, shared with its Budgets.
	exhausted *exhaustedCounters
}

// OpenPressure returns the shared flood estimates of site, tuned by cfg.
func (b *Backend) OpenPressure(_ context.Context, name string, cfg budget.PressureConfig) (store.Pressure, error) {
	local, err := budget.NewPressure(cfg)
	if err != nil {
		return nil, err
	}
	k := b.keys(name)
	return &Pressure{b: b, keys: k, local: local, expiry: pressureLifetimes * local.HalfLife(), exhausted: b.exhaustedOf(k)}, nil
}

// Retune returns the same shared estimates tuned by cfg, with this
// instance's copy of them kept.
func (p *Pressure) Retune(cfg budget.PressureConfig) (store.Pressure, error) {
	local, err := p.local.Retune(cfg)
	if err != nil {
		return nil, err
	}
	return &Pressure{b: p.b, keys: p.keys, local: local, expiry: pressureLifetimes * local.HalfLife(), exhausted: p.exhausted}, nil
}

// Observe adds one event to the network's shared estimate in one round
// trip. When Redis fails, the event is counted locally and the local
// estimate answers, with the error.
func (p *Pressure) Observe(ctx context.Context, key string, now time.Time) (int, error) {
	v, err := p.b.call(ctx, "observing a network's rate", pressureScript,
		[]string{p.key(key)}, now.UnixMilli(), p.halfLifeArg(), p.perEventArg(), p.expiry.Milliseconds())
	if err != nil {
		return p.local.Observe(key, now), err
	}
	extra, err := p.set(key, v, now)
	if err != nil {
		return p.local.Observe(key, now), fmt.Errorf("redis store: observing a network's rate: %w", err)
	}
	return extra, nil
}

// TakeAllAndObserve implements store.BudgetedPressure in one script, or
// none when a charge's counter was found exhausted less than a second ago
// (by this or the site's Budgets).
func (p *Pressure) TakeAllAndObserve(ctx context.Context, charges []budget.Charge, key string, now time.Time) (budget.TakeResult, int, error) {
	if len(charges) == 0 {
		extra, err := p.Observe(ctx, key, now)
		return budget.TakeResult{Allowed: true, Exhausted: -1}, extra, err
	}
	if res, ok := p.exhausted.refused(charges, now.UnixNano()); ok {
		return res, 0, nil
	}
	keys, args := budgetCall(p.keys, charges, now, 4)
	keys = append(keys, p.key(key))
	args = append(args, p.halfLifeArg(), p.perEventArg(), p.expiry.Milliseconds())
	v, err := p.b.call(ctx, "counting a challenge", budgetPressureScript, keys, args...)
	if err != nil {
		return budget.TakeResult{}, 0, err
	}
	reply, ok := v.([]any)
	if !ok || len(reply) < 2 {
		return budget.TakeResult{}, 0, fmt.Errorf("redis store: counting a challenge: unexpected reply %v", v)
	}
	res, err := budgetVerdict(p.exhausted, reply, charges, now)
	if err != nil || !res.Allowed {
		return res, 0, err
	}
	if len(reply) != 3 {
		return budget.TakeResult{}, 0, fmt.Errorf("redis store: counting a challenge: unexpected reply %v", v)
	}
	extra, err := p.set(key, reply[2], now)
	if err != nil {
		return budget.TakeResult{}, 0, fmt.Errorf("redis store: counting a challenge: %w", err)
	}
	return res, extra, nil
}

// set keeps the network's shared estimate v, a script's answer, as this
// instance's copy, and returns the extra bits it earns.
func (p *Pressure) set(key string, v any, now time.Time) (int, error) {
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("unexpected estimate %T", v)
	}
	rate, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, err
	}
	return p.local.Set(key, rate, now), nil
}

func (p *Pressure) key(network string) string { return p.keys.base + "f:" + network }
func (p *Pressure) halfLifeArg() int64        { return p.local.HalfLife().Milliseconds() }
func (p *Pressure) perEventArg() string {
	return strconv.FormatFloat(p.local.PerEvent(), 'g', -1, 64)
}

// Extra returns the network's extra bits from the last shared estimate
// this instance saw, decayed to now: no round trip.
func (p *Pressure) Extra(ctx context.Context, key string, now time.Time) (int, error) {
	return p.local.Extra(key, now), ctx.Err()
}

// Rate returns the network's rate from the last shared estimate this
// instance saw, decayed to now.
func (p *Pressure) Rate(key string, now time.Time) float64 { return p.local.Rate(key, now) }

// Interface guards
var _ store.BudgetedPressure = (*Pressure)(nil)
