package storetest

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/rempart/rempart/budget"
	"github.com/rempart/rempart/store"
)

// pressures opens one site's flood estimates on n instances, like
// instances does for its state.
func pressures(t *testing.T, h Harness, n int, cfg budget.PressureConfig) []store.Pressure {
	t.Helper()
	name := siteName(t)
	ps := make([]store.Pressure, n)
	for i := range ps {
		if !h.Shared && i > 0 {
			ps[i] = ps[0]
			continue
		}
		p, err := h.Open(t).OpenPressure(context.Background(), name, cfg)
		if err != nil {
			t.Fatal(err)
		}
		ps[i] = p
	}
	return ps
}

// tightConfig puts events events at one moment just above a bit boundary:
// they earn bits extra bits, and one event less earns one bit less, so
// that a lost event shows.
func tightConfig(events, bits int) budget.PressureConfig {
	perEvent := math.Ln2 / budget.DefaultHalfLife.Minutes()
	return budget.PressureConfig{
		Threshold:    float64(events) * perEvent / (math.Exp2(float64(bits)) * 1.002),
		MaxExtraBits: 12,
	}
}

func reference(t *testing.T, cfg budget.PressureConfig) *budget.Pressure {
	t.Helper()
	p, err := budget.NewPressure(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// pressureRace observes Goroutines×8 events of one network at one moment,
// spread over three instances, then one more: every event counts, as on
// one instance.
func pressureRace(t *testing.T, h Harness) {
	const perGoroutine = 8
	events := Goroutines*perGoroutine + 1
	cfg := tightConfig(events, 5)
	ps := pressures(t, h, 3, cfg)
	ref := reference(t, cfg)
	now := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for i := range Goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perGoroutine {
				if _, err := ps[i%len(ps)].Observe(context.Background(), "asn:64496", now); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d observes failed, first: %v", len(errs), errs[0])
	}
	var want int
	for range events {
		want = ref.Observe("asn:64496", now)
	}
	got, err := ps[0].Observe(context.Background(), "asn:64496", now)
	t.Logf("%d events over %d instances: %d extra bits, expected %d (one event less: %d)", events, len(ps), got, want, want-1)
	if err != nil || got != want || want != 5 {
		t.Fatalf("Observe: %d, %v; want %d", got, err, want)
	}
	if got, err := ps[0].Extra(context.Background(), "asn:64496", now); err != nil || got != want {
		t.Fatalf("Extra on the instance that observed last: %d, %v; want %d", got, err, want)
	}
	if got, err := ps[1].Extra(context.Background(), "asn:64497", now); err != nil || got != 0 {
		t.Fatalf("Extra of a quiet network: %d, %v; want 0", got, err)
	}
}

// pressureDecay observes a burst on one instance, and one event a
// half-life later on another: the burst weighs half.
func pressureDecay(t *testing.T, h Harness) {
	const burst = 100
	// Half the burst plus the late event earns 2 bits; undecayed, 3.
	cfg := tightConfig(burst/2+1, 2)
	ps := pressures(t, h, 2, cfg)
	ref := reference(t, cfg)
	t0 := time.Now()
	for range burst {
		if _, err := ps[0].Observe(context.Background(), "prefix:203.0.113.0/24", t0); err != nil {
			t.Fatal(err)
		}
		ref.Observe("prefix:203.0.113.0/24", t0)
	}
	later := t0.Add(budget.DefaultHalfLife)
	want := ref.Observe("prefix:203.0.113.0/24", later)
	got, err := ps[1].Observe(context.Background(), "prefix:203.0.113.0/24", later)
	if err != nil || got != want || want != 2 {
		t.Fatalf("one half-life after a burst of %d: %d extra bits, %v; want %d", burst, got, err, want)
	}
	if got, err := ps[1].Extra(context.Background(), "prefix:203.0.113.0/24", later.Add(2*budget.DefaultHalfLife)); err != nil || got != 0 {
		t.Fatalf("two more half-lives later: %d extra bits, %v; want 0", got, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ps[0].Observe(ctx, "prefix:203.0.113.0/24", later); !errors.Is(err, context.Canceled) {
		t.Fatalf("Observe with a cancelled context: %v; want context.Canceled", err)
	}
}

// pressureRetune observes a flood, then tunes the estimates anew, as a
// config reload that hardens the flood's settings does: the network's
// rate stays and earns what the new settings give, and an event observed
// through either tuning counts in both.
func pressureRetune(t *testing.T, h Harness) {
	const events = 40
	// events+1 events earn 3 bits, events 2; at half the threshold, one
	// more each.
	cfg := tightConfig(events+1, 3)
	ps := pressures(t, h, 1, cfg)
	ctx, now, key := context.Background(), time.Now(), "asn:64496"
	for range events {
		if _, err := ps[0].Observe(ctx, key, now); err != nil {
			t.Fatal(err)
		}
	}
	harder := cfg
	harder.Threshold /= 2
	q, err := ps[0].Retune(harder)
	if err != nil {
		t.Fatal(err)
	}
	got, err := q.Extra(ctx, key, now)
	t.Logf("%d events: %d extra bits at half the threshold once retuned, want 3", events, got)
	if err != nil || got != 3 {
		t.Fatalf("Extra once retuned: %d, %v; want 3 (the flood's rate kept)", got, err)
	}
	if got, err := q.Observe(ctx, key, now); err != nil || got != 4 {
		t.Fatalf("one more event through the retuned estimates: %d, %v; want 4", got, err)
	}
	if got, err := ps[0].Extra(ctx, key, now); err != nil || got != 3 {
		t.Fatalf("the first tuning after an event observed through the second: %d, %v; want 3", got, err)
	}
	capped := cfg
	capped.MaxExtraBits = 1
	if q, err = ps[0].Retune(capped); err != nil {
		t.Fatal(err)
	}
	if got, err := q.Extra(ctx, key, now); err != nil || got != 1 {
		t.Fatalf("retuned with a cap of 1 bit: %d, %v; want 1", got, err)
	}
	if _, err := ps[0].Retune(budget.PressureConfig{}); err == nil {
		t.Fatal("retuned without a threshold")
	}
}

// pressureUnreachable floods a network with the store away: every
// Observe fails with store.ErrUnavailable, and the instance's own estimate
// still raises the difficulty.
func pressureUnreachable(t *testing.T, b store.Backend) {
	const events = 20
	cfg := tightConfig(events, 3)
	p, err := b.OpenPressure(context.Background(), siteName(t), cfg)
	if err != nil {
		t.Fatalf("flood estimates must open with the store away: %v", err)
	}
	ref := reference(t, cfg)
	now := time.Now()
	var got, want int
	for range events {
		got, err = p.Observe(context.Background(), "asn:64496", now)
		if !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("Observe with the store away: %v; want store.ErrUnavailable", err)
		}
		want = ref.Observe("asn:64496", now)
	}
	if got != want || want != 3 {
		t.Fatalf("%d events with the store away: %d extra bits; want the local estimate, %d", events, got, want)
	}
}
