package redisstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ulule/limiter/v3"

	"github.com/rempart/rempart/budget"
	"github.com/rempart/rempart/store"
	"github.com/rempart/rempart/store/redisstore/redistest"
)

// A challenge is counted against its budget and added to its network's
// flood rate in one round trip; a challenge the budget refuses adds
// nothing to the rate; the extra bits are those the same events earn in
// memory; and a counter refused by one path is remembered by the other.
func TestChallengeCountedWithItsFloodRate(t *testing.T) {
	srv := redistest.Start(t, exhaustedPort)
	inst := openInstances(t, srv, 2)
	a, other := inst[0], inst[1]
	ctx := context.Background()
	now := time.Now() // one moment: no decay, the rates are exact
	const network = "prefix:198.51.100.0/24"
	budgetOf := budget.Charge{Key: "challenges/prefix/198.51.100.0/24", Kind: budget.KeyPrefix, Rate: limiter.Rate{Limit: 8, Period: time.Minute}}
	inMemory, err := budget.NewPressure(floodConfig)
	if err != nil {
		t.Fatal(err)
	}

	var admitted int
	for i := range 12 {
		before := a.calls.Count()
		res, extra, err := a.pressure.TakeAllAndObserve(ctx, []budget.Charge{budgetOf}, network, now)
		if err != nil {
			t.Fatal(err)
		}
		trips := a.calls.Count() - before
		if !res.Allowed {
			if extra != 0 || res.Exhausted != 0 || !res.Reset.After(now) {
				t.Errorf("challenge %d refused as %+v with %d extra bits", i+1, res, extra)
			}
			// The first refusal asks Redis; the next are remembered.
			if want := int64(0); i > 8 && trips != want {
				t.Errorf("challenge %d: %d round trips over an exhausted budget, want %d", i+1, trips, want)
			}
			continue
		}
		admitted++
		if want := inMemory.Observe(network, now); extra != want {
			t.Errorf("challenge %d: %d extra bits, want %d as in memory", i+1, extra, want)
		}
		if trips != 1 {
			t.Errorf("challenge %d: %d round trips, want 1 for its budget and its flood rate", i+1, trips)
		}
	}
	t.Logf("12 challenges on a budget of 8: %d admitted (8 expected)", admitted)
	if admitted != 8 {
		t.Fatalf("%d challenges admitted on a budget of 8", admitted)
	}
	// The other instance sees the 8 admitted challenges in the shared rate,
	// not the 4 refused.
	if _, err := other.pressure.Observe(ctx, network, now); err != nil {
		t.Fatal(err)
	}
	if got, want := other.pressure.Rate(network, now), 9*inMemory.PerEvent(); got != want {
		t.Errorf("the shared rate after 8 admitted challenges and one more: %v a minute, want %v", got, want)
	}
	// What the pressure's path found exhausted, the site's budgets know.
	before := a.calls.Count()
	if res, err := a.budgets.TakeAll(ctx, []budget.Charge{budgetOf}, now); err != nil || res.Allowed {
		t.Fatalf("the exhausted budget through TakeAll: %+v, %v", res, err)
	}
	if trips := a.calls.Count() - before; trips != 0 {
		t.Errorf("TakeAll made %d round trips for a counter the pressure found exhausted, want 0", trips)
	}
	// No budget to count: an Observe.
	if res, extra, err := a.pressure.TakeAllAndObserve(ctx, nil, "asn:64500", now); err != nil || !res.Allowed || extra != 0 {
		t.Fatalf("no charge: %+v, %d, %v; want allowed and observed", res, extra, err)
	}
	if _, err := other.pressure.Observe(ctx, "asn:64500", now); err != nil {
		t.Fatal(err)
	}
	if got, want := other.pressure.Rate("asn:64500", now), 2*inMemory.PerEvent(); got != want {
		t.Errorf("a network observed without budgets, then once more: %v a minute, want %v", got, want)
	}
}

// With Redis away, counting a challenge fails with store.ErrUnavailable:
// the shield then goes on as for a budget store that fails.
func TestChallengeCountedWithRedisAway(t *testing.T) {
	p, err := unreachable(t).OpenPressure(context.Background(), t.Name(), floodConfig)
	if err != nil {
		t.Fatal(err)
	}
	charge := budget.Charge{Key: "as1", Kind: budget.KeyASN, Rate: limiter.Rate{Limit: 1, Period: time.Minute}}
	_, _, err = p.(store.BudgetedPressure).TakeAllAndObserve(context.Background(), []budget.Charge{charge}, "asn:1", time.Now())
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("with Redis away: %v; want store.ErrUnavailable", err)
	}
}
