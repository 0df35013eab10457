package budget

import (
	"math"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestNewPressureRejectsBadConfig(t *testing.T) {
	good := PressureConfig{Threshold: 60, HalfLife: time.Minute, MaxExtraBits: 4, MaxNetworks: 100}
	tests := []struct {
		name   string
		change func(*PressureConfig)
	}{
		{"no threshold", func(c *PressureConfig) { c.Threshold = 0 }},
		{"negative threshold", func(c *PressureConfig) { c.Threshold = -1 }},
		{"NaN threshold", func(c *PressureConfig) { c.Threshold = math.NaN() }},
		{"infinite threshold", func(c *PressureConfig) { c.Threshold = math.Inf(1) }},
		{"negative half-life", func(c *PressureConfig) { c.HalfLife = -time.Second }},
		{"negative extra bits", func(c *PressureConfig) { c.MaxExtraBits = -1 }},
		{"too many extra bits", func(c *PressureConfig) { c.MaxExtraBits = 25 }},
		{"negative networks", func(c *PressureConfig) { c.MaxNetworks = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.change(&cfg)
			if p, err := NewPressure(cfg); err == nil {
				t.Fatalf("NewPressure(%+v) = %v, want an error", cfg, p)
			}
		})
	}
	if _, err := NewPressure(good); err != nil {
		t.Fatalf("NewPressure(%+v): %v", good, err)
	}
}

func TestNewPressureDefaults(t *testing.T) {
	p, err := NewPressure(PressureConfig{Threshold: 60})
	if err != nil {
		t.Fatal(err)
	}
	if p.halfLife != DefaultHalfLife {
		t.Errorf("half-life %v, want the default %v", p.halfLife, DefaultHalfLife)
	}
	capacity := 0
	for i := range p.networks.shards {
		capacity += p.networks.shards[i].capacity
	}
	if capacity != DefaultMaxNetworks {
		t.Errorf("room for %d networks, want the default %d", capacity, DefaultMaxNetworks)
	}
}

// steadyFlood observes events from key at a steady perMinute rate for d,
// starting at start, and returns the instant of the last event and the
// extra bits Observe returned for it.
func steadyFlood(p *Pressure, key string, start time.Time, perMinute float64, d time.Duration) (last time.Time, extra int) {
	interval := time.Duration(float64(time.Minute) / perMinute)
	for at := start; at.Before(start.Add(d)); at = at.Add(interval) {
		extra = p.Observe(key, at)
		last = at
	}
	return last, extra
}

// TestPressureRises floods a network at a steady multiple of the threshold
// for many half-lives and checks the extra bits it earns.
func TestPressureRises(t *testing.T) {
	const threshold = 60.0 // events per minute
	tests := []struct {
		multiple float64
		want     int
	}{
		{0.5, 0},
		{1, 0},
		{1.9, 0},
		{2, 1},
		{3, 1},
		{4, 2},
		{7.9, 2},
		{8, 3},
		{16, 3}, // capped
		{100, 3},
	}
	for _, tt := range tests {
		t.Run(strconv.FormatFloat(tt.multiple, 'g', -1, 64)+"x", func(t *testing.T) {
			p, err := NewPressure(PressureConfig{Threshold: threshold, HalfLife: time.Minute, MaxExtraBits: 3, MaxNetworks: 10})
			if err != nil {
				t.Fatal(err)
			}
			perMinute := tt.multiple * threshold
			last, extra := steadyFlood(p, "asn:sign:64500", newFakeClock().Now(), perMinute, 20*time.Minute)
			if extra != tt.want {
				t.Errorf("Observe returned %d extra bits, want %d", extra, tt.want)
			}
			if got := p.Extra("asn:sign:64500", last); got != tt.want {
				t.Errorf("Extra = %d, want %d", got, tt.want)
			}
			// Just after an event the estimate is slightly above the true
			// rate, by about half the events' spacing over the time constant.
			if got := p.Rate("asn:sign:64500", last); got < perMinute*0.999 || got > perMinute*1.02 {
				t.Errorf("Rate = %.2f/min, want about %.2f/min", got, perMinute)
			}
		})
	}
}

// TestPressureCalms stops a flood at 4× the threshold and checks that the
// estimate halves every half-life and the extra bits fall back to zero.
func TestPressureCalms(t *testing.T) {
	const threshold = 60.0
	halfLife := 2 * time.Minute
	tests := []struct {
		quiet time.Duration
		want  int
	}{
		{0, 2},
		{halfLife / 2, 1}, // about 2.8× the threshold
		{halfLife, 1},     // just above 2×
		{3 * halfLife / 2, 0},
		{3 * halfLife, 0},
		{30 * halfLife, 0},
	}
	p, err := NewPressure(PressureConfig{Threshold: threshold, HalfLife: halfLife, MaxExtraBits: 5, MaxNetworks: 10})
	if err != nil {
		t.Fatal(err)
	}
	const key = "prefix:sign:192.0.2.0/24"
	last, _ := steadyFlood(p, key, newFakeClock().Now(), 4*threshold, 40*time.Minute)
	peak := p.Rate(key, last)
	for _, tt := range tests {
		at := last.Add(tt.quiet)
		if got := p.Extra(key, at); got != tt.want {
			t.Errorf("after %v quiet: %d extra bits, want %d", tt.quiet, got, tt.want)
		}
		want := peak * math.Exp2(-float64(tt.quiet)/float64(halfLife))
		if got := p.Rate(key, at); math.Abs(got-want) > 1e-9*peak {
			t.Errorf("after %v quiet: rate %.6g/min, want %.6g/min", tt.quiet, got, want)
		}
	}
	// Once calm, one more event is just one event.
	if got := p.Observe(key, last.Add(30*halfLife)); got != 0 {
		t.Errorf("first event after the calm: %d extra bits, want 0", got)
	}
}

func TestPressureReadsDoNotRecord(t *testing.T) {
	p, err := NewPressure(PressureConfig{Threshold: 1, MaxExtraBits: 8})
	if err != nil {
		t.Fatal(err)
	}
	now := newFakeClock().Now()
	for range 1000 {
		if got := p.Extra("unknown", now); got != 0 {
			t.Fatalf("Extra of an unknown network = %d, want 0", got)
		}
	}
	if got := p.Rate("unknown", now); got != 0 {
		t.Errorf("Rate of an unknown network = %v, want 0", got)
	}
	if n := p.Len(); n != 0 {
		t.Errorf("reads made %d networks tracked, want 0", n)
	}
	p.Observe("known", now)
	once := p.Rate("known", now)
	for range 1000 {
		p.Extra("known", now)
	}
	if got := p.Rate("known", now); got != once {
		t.Errorf("after reads, rate %v, want %v as after one event", got, once)
	}
}

func TestPressureClockGoingBackwards(t *testing.T) {
	p, err := NewPressure(PressureConfig{Threshold: 1, MaxNetworks: 10})
	if err != nil {
		t.Fatal(err)
	}
	now := newFakeClock().Now()
	p.Observe("n", now)
	one := p.Rate("n", now)
	// An event stamped earlier (another goroutine read the clock first)
	// still counts, and neither it nor a read from the past inflates the
	// estimate by undoing decay.
	p.Observe("n", now.Add(-time.Minute))
	if got, want := p.Rate("n", now), 2*one; math.Abs(got-want) > 1e-12 {
		t.Errorf("rate %v after two events at the same instant, want %v", got, want)
	}
	if got := p.Rate("n", now.Add(-time.Hour)); got != p.Rate("n", now) {
		t.Errorf("rate read in the past %v, want the latest %v", got, p.Rate("n", now))
	}
}

func TestPressureIsBounded(t *testing.T) {
	const maxNetworks = 100
	p, err := NewPressure(PressureConfig{Threshold: 1, MaxExtraBits: 4, MaxNetworks: maxNetworks})
	if err != nil {
		t.Fatal(err)
	}
	now := newFakeClock().Now()
	for i := range 10_000 {
		p.Observe("asn:sign:"+strconv.Itoa(i), now)
		if n := p.Len(); n > maxNetworks {
			t.Fatalf("after %d networks, %d tracked, over the cap %d", i+1, n, maxNetworks)
		}
	}
	if n := p.Len(); n != maxNetworks {
		t.Errorf("%d networks tracked, want the cap %d", n, maxNetworks)
	}
	if got := p.Rate("asn:sign:0", now); got != 0 {
		t.Errorf("the first network, long evicted, still has rate %v", got)
	}
}

// TestPressureConcurrent checks under -race that no event is lost.
func TestPressureConcurrent(t *testing.T) {
	const workers, perWorker = 8, 1000
	p, err := NewPressure(PressureConfig{Threshold: 1, HalfLife: time.Hour, MaxExtraBits: 4, MaxNetworks: 1000})
	if err != nil {
		t.Fatal(err)
	}
	now := newFakeClock().Now() // frozen: nothing decays
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				p.Observe("hot", now)
				p.Observe("cold:"+strconv.Itoa(w*perWorker+i), now)
			}
		})
	}
	wg.Wait()
	want := workers * perWorker * p.perEvent
	if got := p.Rate("hot", now); math.Abs(got-want) > 1e-9*want {
		t.Errorf("hot network rate %v, want %v (%d events)", got, want, workers*perWorker)
	}
	if n := p.Len(); n > 1000 {
		t.Errorf("%d networks tracked, over the cap 1000", n)
	}
}

func BenchmarkPressureObserve(b *testing.B) {
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = KeyASN.Key("signatures", Client{ASN: uint32(64500 + i)})
	}
	start := newFakeClock().Now()
	newPressure := func(b *testing.B) *Pressure {
		p, err := NewPressure(PressureConfig{Threshold: 60, MaxExtraBits: 8, MaxNetworks: 10_000})
		if err != nil {
			b.Fatal(err)
		}
		return p
	}
	b.Run("serial", func(b *testing.B) {
		p := newPressure(b)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			p.Observe(keys[i%len(keys)], start.Add(time.Duration(i)*time.Millisecond))
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		p := newPressure(b)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				p.Observe(keys[i%len(keys)], start.Add(time.Duration(i)*time.Millisecond))
				i += 7
			}
		})
	})
}

// TestPressureSet replaces an estimate with a shared one: it earns bits
// as an observed rate would, decays from its moment, and the next event
// adds to it.
func TestPressureSet(t *testing.T) {
	p, err := NewPressure(PressureConfig{Threshold: 10, MaxExtraBits: 6})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		rate float64
		want int
	}{{0, 0}, {19.9, 0}, {20, 1}, {80, 3}, {1e9, 6}, {15, 0}} {
		if got := p.Set("asn:1", tc.rate, now); got != tc.want {
			t.Errorf("Set(%v) = %d extra bits, want %d", tc.rate, got, tc.want)
		}
	}
	p.Set("asn:1", 80, now)
	if got := p.Rate("asn:1", now.Add(p.HalfLife())); got != 40 {
		t.Errorf("one half-life after Set(80): rate %v, want 40", got)
	}
	if got := p.Observe("asn:1", now); got != 3 {
		t.Errorf("an event after Set(80): %d extra bits, want 3", got)
	}
	if got := p.Rate("asn:1", now); got != 80+p.PerEvent() {
		t.Errorf("an event after Set(80): rate %v, want %v", got, 80+p.PerEvent())
	}
}
