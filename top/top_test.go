package top

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/rempart/rempart/internal/fuzzguard"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{{Capacity: -1}, {Capacity: maxCapacity + 1}, {HalfLife: time.Millisecond}} {
		if _, err := New[string](cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

// A flood hides among many one-off keys: every key sending more than
// total/capacity must be listed, ranked by what it sent.
func TestHeavyHittersAreFoundAmongNoise(t *testing.T) {
	tests := []struct {
		name     string
		capacity int
		heavy    []int // events per heavy key per round
		noise    int   // one-off keys per round
	}{
		{"one flood", 16, []int{50}, 200},
		{"three floods", 32, []int{40, 20, 10}, 300},
		{"small list", 8, []int{300, 200}, 500},
	}
	// Admission is random: every seed must find them.
	const seeds = 40
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			runs := 0
			for seed := uint64(1); seed <= seeds; seed++ {
				tr, err := New[string](Config{Capacity: tc.capacity, HalfLife: time.Hour, Seed: seed})
				if err != nil {
					t.Fatal(err)
				}
				rng := rand.New(rand.NewPCG(seed, 2))
				now := t0
				for round := 0; round < 20; round++ {
					var events []string
					for i, n := range tc.heavy {
						for range n {
							events = append(events, fmt.Sprintf("heavy-%d", i))
						}
					}
					for range tc.noise {
						events = append(events, fmt.Sprintf("noise-%d", rng.Uint64()))
					}
					rng.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
					for _, k := range events {
						tr.Add(k, 0, now, nil)
					}
					now = now.Add(time.Second)
				}
				if tr.Len() > tc.capacity {
					t.Fatalf("seed %d: tracks %d keys, capacity %d", seed, tr.Len(), tc.capacity)
				}
				got := tr.Top(len(tc.heavy), -1, now)
				found := 0
				for i := range tc.heavy {
					if got[i].Key == fmt.Sprintf("heavy-%d", i) {
						found++
					}
				}
				if found != len(tc.heavy) {
					t.Fatalf("seed %d: heavy keys tried %d, found in rank order %d, expected %d: top = %+v", seed, len(tc.heavy), found, len(tc.heavy), got)
				}
				runs++
			}
			t.Logf("%d seeds, heavy keys found in rank order in %d, expected %d", seeds, runs, seeds)
		})
	}
}

// A flood of one-off keys seldom displaces a tracked key (each would have
// cost a replacement and a sift), while Admit always tracks its key.
func TestAdmissionSparesOneOffKeys(t *testing.T) {
	tr, _ := New[uint32](Config{Capacity: 64, HalfLife: time.Minute, Seed: 7})
	now := t0
	for i := range 64 { // fill the list with steady keys
		for range 20 {
			tr.Add(uint32(i), 0, now, nil)
		}
	}
	const flood = 100000
	admitted := 0
	for i := range flood {
		now = now.Add(10 * time.Microsecond) // 100,000 events a second
		key := uint32(1000 + i)
		tr.Add(key, 1, now, nil)
		tr.mu.Lock()
		_, held := tr.byKey[key]
		tr.mu.Unlock()
		if held {
			admitted++
		}
	}
	t.Logf("one-off keys tried %d, admitted %d (space saving would admit all %d)", flood, admitted, flood)
	if admitted == 0 || admitted > flood/10 {
		t.Fatalf("one-off keys tried %d, admitted %d, want some but at most a tenth", flood, admitted)
	}
	prev := tr.Admit(1<<31, 2, now, func(i *Info) { i.Budget = "signatures.asn" })
	if prev != (Info{}) {
		t.Fatalf("a new key's previous info: %+v", prev)
	}
	if again := tr.Add(1<<31, 2, now, nil); again.Budget != "signatures.asn" {
		t.Fatalf("an admitted key is not tracked: info %+v", again)
	}
}

func TestWeightsDecayAndKindsRank(t *testing.T) {
	tr, err := New[string](Config{Capacity: 8, HalfLife: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		tr.Add("a", 1, t0, func(i *Info) { i.Org = "A" })
	}
	for range 10 {
		tr.Add("b", 2, t0, func(i *Info) { i.Budget = "per asn" })
	}
	if prev := tr.Add("b", 3, t0, nil); prev.Budget != "per asn" {
		t.Fatalf("Add returned %+v, want the Info before", prev)
	}
	got := tr.Top(-1, -1, t0.Add(2*time.Minute))
	if len(got) != 2 || got[0].Key != "a" || math.Abs(got[0].Weight-25) > 1e-9 {
		t.Fatalf("after two half-lives: %+v, want a at 25", got)
	}
	if got[1].Info.Budget != "per asn" {
		t.Fatalf("b lost its last budget: %+v", got[1].Info)
	}
	byKind := tr.Top(-1, 2, t0)
	if len(byKind) != 1 || byKind[0].Key != "b" || byKind[0].ByKind[2] != 10 {
		t.Fatalf("ranked by kind 2: %+v, want only b with 10", byKind)
	}
}

// Weights stay finite over a very long run: the scale is renormalised.
func TestLongRunStaysFinite(t *testing.T) {
	tr, err := New[string](Config{Capacity: 2, HalfLife: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	now := t0
	for i := range 5000 {
		tr.Add(fmt.Sprint(i%3), i%Kinds, now, nil)
		now = now.Add(time.Second)
	}
	for _, e := range tr.Top(-1, -1, now) {
		if math.IsInf(e.Weight, 0) || math.IsNaN(e.Weight) || e.Weight <= 0 || e.Weight > 3 {
			t.Fatalf("weight %v after 5000 half-lives of one event a second", e.Weight)
		}
	}
}

// checkHeap reports where the heap of t breaks its order or its indexes.
func (t *Tracker[K]) checkHeap() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.byKey) != len(t.heap) {
		return fmt.Errorf("%d keys mapped, %d in the heap", len(t.byKey), len(t.heap))
	}
	for i, sl := range t.heap {
		e := sl.e
		if e.index != i || t.byKey[e.key] != e {
			return fmt.Errorf("entry %d: index %d, mapped %v", i, e.index, t.byKey[e.key] == e)
		}
		if i > 0 && t.heap[(i-1)/2].weight > sl.weight {
			return fmt.Errorf("entry %d (weight %g) lighter than its parent (%g)", i, sl.weight, t.heap[(i-1)/2].weight)
		}
	}
	return nil
}

// The lightest key is the one a new key replaces: the heap must keep it
// at its root through every kind of update (a tracked key, a new key in
// room, a new key replacing the lightest), with time standing, creeping
// (the reused scale) and jumping.
func TestHeapKeepsTheLightestOnTop(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tr, _ := New[uint32](Config{Capacity: 64, HalfLife: time.Second})
	now := t0
	for i := range 20000 {
		switch rng.IntN(4) {
		case 0:
			now = now.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
		case 1:
			now = now.Add(time.Duration(rng.IntN(1000)) * time.Microsecond)
		}
		key := uint32(rng.IntN(200))
		if rng.IntN(2) == 0 {
			key = uint32(rng.IntN(8)) // heavy hitters
		}
		tr.Add(key, rng.IntN(Kinds), now, nil)
		if err := tr.checkHeap(); err != nil {
			t.Fatalf("after %d events: %v", i+1, err)
		}
	}
}

func BenchmarkAdd(b *testing.B) {
	tr, _ := New[uint32](Config{})
	now := t0
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		tr.Add(uint32(i%4096), i%9, now, nil)
	}
}

// BenchmarkAddNewKeys is a flood of distinct networks: every event is a
// key the tracker does not hold, which replaces the lightest.
func BenchmarkAddNewKeys(b *testing.B) {
	tr, _ := New[uint32](Config{})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		tr.Add(uint32(i), 2, t0.Add(time.Duration(i)*time.Microsecond), nil)
	}
}

// FuzzTracker drives a Tracker with events from the input and checks that
// it stays bounded and its weights sane.
func FuzzTracker(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 255, 7, 7, 7})
	f.Add([]byte("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbbbbbbcd"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzguard.WithinInput(t, fuzzguard.DefaultLimit, data, func() {
			tr, err := New[byte](Config{Capacity: 4, HalfLife: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			now := t0
			for i := 0; i+1 < len(data); i += 2 {
				key, step := data[i]%16, data[i+1]
				// Time moves forward a lot, a little, or back.
				now = now.Add(time.Duration(int(step)-64) * 500 * time.Millisecond)
				tr.Add(key, int(step%20)-2, now, nil)
				if tr.Len() > 4 {
					t.Fatalf("tracks %d keys, capacity 4", tr.Len())
				}
				if err := tr.checkHeap(); err != nil {
					t.Fatal(err)
				}
			}
			for _, e := range tr.Top(-1, -1, now) {
				if math.IsNaN(e.Weight) || math.IsInf(e.Weight, 0) || e.Weight < 0 || e.Error > e.Weight+1e-9 {
					t.Fatalf("entry %+v", e)
				}
			}
		})
	})
}

// AddN counts as many events as n calls of Add, by kind and in all, and
// keeps the Info its set gave.
func TestAddNCountsNEvents(t *testing.T) {
	for _, n := range []int{1, 2, 8, 100} {
		one, err := New[string](Config{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		many, _ := New[string](Config{Seed: 1})
		for i := range n {
			one.Add("flood", 2, t0.Add(time.Duration(i)), nil)
		}
		many.AddN("flood", 2, n, t0, false, func(i *Info) { i.Budget = "challenges.prefix" })
		a, b := one.Top(1, 2, t0)[0], many.Top(1, 2, t0)[0]
		if math.Abs(a.Weight-b.Weight) > 1e-6*a.Weight || math.Abs(a.ByKind[2]-b.ByKind[2]) > 1e-6*a.Weight {
			t.Errorf("n=%d: %d Adds weigh %.6f (kind %.6f), AddN %.6f (kind %.6f)", n, n, a.Weight, a.ByKind[2], b.Weight, b.ByKind[2])
		}
		if b.Info.Budget != "challenges.prefix" {
			t.Errorf("n=%d: Info %+v", n, b.Info)
		}
	}
}
