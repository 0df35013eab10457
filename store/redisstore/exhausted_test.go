package redisstore_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ulule/limiter/v3"

	"github.com/rempart/rempart/budget"
	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/store"
	"github.com/rempart/rempart/store/redisstore"
	"github.com/rempart/rempart/store/redisstore/redistest"
)

// exhaustedPort is the redis-server of the tests of exhausted counters.
const exhaustedPort = conformancePort + 7

// instance is one shield instance's view of a site on the shared server:
// its budgets and its flood rates, with the round trips it makes.
type instance struct {
	budgets  budget.Store
	pressure store.BudgetedPressure
	calls    *redistest.RoundTrips
}

var floodConfig = budget.PressureConfig{Threshold: 2, HalfLife: time.Minute, MaxExtraBits: 6}

func openInstances(t *testing.T, srv *redistest.Server, n int) []instance {
	t.Helper()
	out := make([]instance, n)
	for i := range out {
		client := srv.Client(t) // each instance a client of its own
		out[i].calls = redistest.CountRoundTrips(client)
		b, err := redisstore.New(redisstore.Config{Client: client, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		site, err := b.OpenSite(context.Background(), t.Name(), store.SiteConfig{Stash: challenge.StashConfig{MaxEntries: 16, MaxBytes: 1 << 20}})
		if err != nil {
			t.Fatal(err)
		}
		if site.Close != nil {
			t.Cleanup(func() { _ = site.Close() })
		}
		p, err := b.OpenPressure(context.Background(), t.Name(), floodConfig)
		if err != nil {
			t.Fatal(err)
		}
		bp, ok := p.(store.BudgetedPressure)
		if !ok {
			t.Fatalf("the Redis store's pressure %T counts no budgets", p)
		}
		out[i].budgets, out[i].pressure = site.Budgets, bp
	}
	return out
}

func asnCharge(key string, limit int64, period time.Duration) budget.Charge {
	return budget.Charge{Key: key, Kind: budget.KeyASN, Rate: limiter.Rate{Limit: limit, Period: period}}
}

// A network flooding past its budget costs Redis one round trip a second
// on each instance, not one a request, and not one event more gets
// through: the attacker's 2,000 tries on two instances are refused, and
// the budget counted exactly its 5 events.
func TestExhaustedBudgetRefusedWithoutRoundTrips(t *testing.T) {
	srv := redistest.Start(t, exhaustedPort)
	inst := openInstances(t, srv, 2)
	ctx := context.Background()
	flood := asnCharge("as64500", 5, time.Hour)
	for i := range 5 {
		if res, err := inst[i%2].budgets.TakeAll(ctx, []budget.Charge{flood}, time.Now()); err != nil || !res.Allowed {
			t.Fatalf("event %d within the budget: %+v, %v", i+1, res, err)
		}
	}
	before := [2]int64{inst[0].calls.Count(), inst[1].calls.Count()}
	start := time.Now()
	const tries = 1000
	var accepted atomic.Int64
	var firstReset [2]time.Time
	var wg sync.WaitGroup
	for i := range inst {
		wg.Go(func() {
			for range tries {
				res, err := inst[i].budgets.TakeAll(ctx, []budget.Charge{flood}, time.Now())
				if err != nil {
					t.Error(err)
					return
				}
				if res.Allowed {
					accepted.Add(1)
					continue
				}
				if firstReset[i].IsZero() {
					firstReset[i] = res.Reset
				}
				// Asked again a second later, Redis may round the same
				// end a millisecond apart.
				if res.Exhausted != 0 || res.Reset.Sub(firstReset[i]).Abs() > 5*time.Millisecond {
					t.Errorf("instance %d: refused as %+v, then as %+v", i, firstReset[i], res)
				}
			}
		})
	}
	wg.Wait()
	// The hold is a second: a slow run asks again once a second.
	maxTrips := 1 + int64(time.Since(start)/time.Second)
	for i := range inst {
		trips := inst[i].calls.Count() - before[i]
		t.Logf("instance %d: %d tries over budget, %d accepted (0 expected), %d Redis round trips (at most %d expected)",
			i, tries, accepted.Load(), trips, maxTrips)
		if trips < 1 || trips > maxTrips {
			t.Errorf("instance %d: %d round trips for %d refused tries, want 1 to %d", i, trips, tries, maxTrips)
		}
		if d := firstReset[i].Sub(start); d < 59*time.Minute || d > time.Hour {
			t.Errorf("instance %d: refused until %v from now, want the hour's window", i, d)
		}
	}
	if accepted.Load() != 0 {
		t.Fatalf("%d of %d tries over an exhausted budget accepted, want 0", accepted.Load(), 2*tries)
	}
	got, err := inst[0].budgets.Peek(ctx, flood.Key, flood.Kind, flood.Rate)
	if err != nil || got.Remaining != 0 {
		t.Fatalf("the budget after the flood: %+v, %v; want 5 of 5 counted, no more", got, err)
	}
}

// What an instance remembers never refuses another counter, the same key
// of another kind, or a budget whose rate changed (staff raising a limit
// live are obeyed at once); and a counter is counted again once its
// window ends, or a second after it was deleted behind the shield's back.
func TestExhaustedBudgetRemembersOnlyWhatRedisRefused(t *testing.T) {
	srv := redistest.Start(t, exhaustedPort)
	inst := openInstances(t, srv, 1)[0]
	ctx := context.Background()
	// at, when set, is the clock the takes give: the cases below are then
	// within the hold however slow the machine.
	var at time.Time
	take := func(c budget.Charge) budget.TakeResult {
		t.Helper()
		now := at
		if now.IsZero() {
			now = time.Now()
		}
		res, err := inst.budgets.TakeAll(ctx, []budget.Charge{c}, now)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	exhaust := func(c budget.Charge) {
		t.Helper()
		for range c.Rate.Limit {
			if !take(c).Allowed {
				t.Fatalf("%s refused within its budget", c.Key)
			}
		}
		if take(c).Allowed {
			t.Fatalf("%s accepted over its budget", c.Key)
		}
	}

	hourly := asnCharge("as64501", 2, time.Hour)
	at = time.Now()
	exhaust(hourly)
	trips := inst.calls.Count()
	cases := []struct {
		name   string
		charge budget.Charge
		want   bool
	}{
		{"the exhausted counter", hourly, false},
		{"another network", asnCharge("as64502", 2, time.Hour), true},
		{"the same key per prefix", budget.Charge{Key: hourly.Key, Kind: budget.KeyPrefix, Rate: hourly.Rate}, true},
		{"the limit raised to 3", asnCharge(hourly.Key, 3, time.Hour), true},
		{"the limit raised to 3, its one event used", asnCharge(hourly.Key, 3, time.Hour), false},
	}
	for _, c := range cases {
		if got := take(c.charge).Allowed; got != c.want {
			t.Errorf("%s: allowed %v, want %v", c.name, got, c.want)
		}
	}
	if got := inst.calls.Count() - trips; got != int64(len(cases)-1) {
		t.Errorf("%d round trips for %d takes, of which one refused from memory; want %d", got, len(cases), len(cases)-1)
	}

	at = time.Time{}

	// A window that ends: counted again at once. Two seconds, so that a
	// slow machine still refuses within it; then past the end Redis gave.
	short := asnCharge("as64503", 1, 2*time.Second)
	if !take(short).Allowed {
		t.Fatal("the first event refused")
	}
	refused := take(short)
	if refused.Allowed {
		t.Fatal("the second event of a budget of 1 accepted")
	}
	time.Sleep(time.Until(refused.Reset) + 100*time.Millisecond)
	if !take(short).Allowed {
		t.Error("refused after its window ended")
	}

	// A counter deleted in Redis (an admin's DEL): still refused for at
	// most the hold, then counted from zero.
	deleted := asnCharge("as64504", 1, time.Hour)
	exhaust(deleted)
	keys, err := srv.Client(t).Keys(ctx, "*:b:*:as64504").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("the counter's key: %v, %v", keys, err)
	}
	if err := srv.Client(t).Del(ctx, keys...).Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !take(deleted).Allowed {
		if time.Now().After(deadline) {
			t.Fatal("a deleted counter still refused 5 s later; the hold is 1 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// More exhausted networks than an instance remembers: each is still
// refused (by Redis when forgotten), none gets one event more.
func TestExhaustedBudgetsBeyondTheTable(t *testing.T) {
	srv := redistest.Start(t, exhaustedPort)
	inst := openInstances(t, srv, 1)[0]
	ctx := context.Background()
	const networks = 6000 // more than the 4096 slots
	charges := make([]budget.Charge, networks)
	for i := range charges {
		charges[i] = asnCharge("as"+strconv.Itoa(70000+i), 1, time.Hour)
	}
	// Spend every network's one event (two budgets at once, so that each
	// script counts two networks).
	for i := 0; i < networks; i += 2 {
		if res, err := inst.budgets.TakeAll(ctx, charges[i:i+2], time.Now()); err != nil || !res.Allowed {
			t.Fatalf("networks %d and %d: %+v, %v", i, i+1, res, err)
		}
	}
	var accepted int
	for round := range 2 {
		for i := range charges {
			res, err := inst.budgets.TakeAll(ctx, charges[i:i+1], time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if res.Allowed {
				accepted++
			}
			if !res.Allowed && (res.Exhausted != 0 || res.Reset.Before(time.Now())) {
				t.Fatalf("round %d, network %d: refused as %+v", round, i, res)
			}
		}
	}
	t.Logf("%d networks over budget, 2 rounds: %d tries, %d accepted (0 expected)", networks, 2*networks, accepted)
	if accepted != 0 {
		t.Fatalf("%d of %d tries accepted over exhausted budgets, want 0", accepted, 2*networks)
	}
}
