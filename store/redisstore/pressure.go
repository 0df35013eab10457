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
}

// OpenPressure returns the shared flood estimates of site, tuned by cfg.
func (b *Backend) OpenPressure(_ context.Context, name string, cfg budget.PressureConfig) (store.Pressure, error) {
	local, err := budget.NewPressure(cfg)
	if err != nil {
		return nil, err
	}
	return &Pressure{b: b, keys: b.keys(name), local: local, expiry: pressureLifetimes * local.HalfLife()}, nil
}

// Observe adds one event to the network's shared estimate in one round
// trip. When Redis fails, the event is counted locally and the local
// estimate answers, with the error.
func (p *Pressure) Observe(ctx context.Context, key string, now time.Time) (int, error) {
	v, err := p.b.call(ctx, "observing a network's rate", pressureScript,
		[]string{p.keys.base + "f:" + key},
		now.UnixMilli(), p.local.HalfLife().Milliseconds(), strconv.FormatFloat(p.local.PerEvent(), 'g', -1, 64), p.expiry.Milliseconds())
	if err != nil {
		return p.local.Observe(key, now), err
	}
	s, ok := v.(string)
	if !ok {
		return p.local.Observe(key, now), fmt.Errorf("redis store: observing a network's rate: unexpected reply %T", v)
	}
	rate, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return p.local.Observe(key, now), fmt.Errorf("redis store: observing a network's rate: %w", err)
	}
	return p.local.Set(key, rate, now), nil
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
var _ store.Pressure = (*Pressure)(nil)
