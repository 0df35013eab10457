package challenge

import (
	"encoding/binary"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func id(n byte) [IDSize]byte { return [IDSize]byte{n} }

func TestSpentUse(t *testing.T) {
	s, err := NewSpent(10)
	if err != nil {
		t.Fatal(err)
	}
	exp := testNow.Add(time.Hour)
	if !s.Use(id(1), 1, testNow, exp, testNow) {
		t.Fatal("first use refused")
	}
	if s.Use(id(1), 1, testNow, exp, testNow) {
		t.Fatal("second use of a single-use id accepted")
	}
	for i := range 3 {
		if !s.Use(id(2), 3, testNow, exp, testNow) {
			t.Fatalf("use %d of 3 refused", i+1)
		}
	}
	if s.Use(id(2), 3, testNow, exp, testNow) || !s.Exhausted(id(2), 3) {
		t.Fatal("fourth use of a 3-use id accepted")
	}
	if s.Exhausted(id(3), 1) {
		t.Fatal("unknown id reported exhausted")
	}
	if s.Use(id(4), 0, testNow, exp, testNow) {
		t.Fatal("id with no uses accepted")
	}
	if s.Use(id(5), 1, testNow, exp, exp) {
		t.Fatal("expired id accepted")
	}
	if s.Len() != 2 {
		t.Fatalf("Len = %d, want 2", s.Len())
	}
	if _, err := NewSpent(0); err == nil {
		t.Fatal("record of size 0 accepted")
	}
}

func TestSpentFailsClosedWhenFull(t *testing.T) {
	s, err := NewSpent(2)
	if err != nil {
		t.Fatal(err)
	}
	early, late := testNow.Add(-time.Minute), testNow
	exp := testNow.Add(time.Hour)
	s.Use(id(1), 1, early, exp, testNow)
	s.Use(id(2), 1, early, exp, testNow)
	s.Use(id(3), 1, late, exp, testNow) // evicts id 1, unexpired: the floor rises to early
	if s.Len() != 2 || s.Evictions() != 1 {
		t.Fatalf("Len = %d, Evictions = %d, want 2 and 1", s.Len(), s.Evictions())
	}
	if s.Use(id(1), 1, early, exp, testNow) {
		t.Fatal("evicted, spent id accepted again")
	}
	if s.Use(id(9), 1, early, exp, testNow) {
		t.Fatal("unknown id issued at the floor accepted")
	}
	if s.Use(id(9), 1, early.Add(-time.Hour), exp, testNow) {
		t.Fatal("unknown id issued before the floor accepted")
	}
	if !s.Use(id(10), 1, early.Add(time.Second), exp, testNow) {
		t.Fatal("new id issued after the floor refused")
	}
	// Whatever the floor does afterwards, no id spent once is spent again.
	spent := map[byte]time.Time{1: early, 2: early, 3: late, 10: early.Add(time.Second)}
	for i := byte(11); i < 60; i++ {
		issued := testNow.Add(time.Duration(i%7) * time.Second)
		if s.Use(id(i), 1, issued, exp, testNow) {
			spent[i] = issued
		}
	}
	for i, issued := range spent {
		if s.Use(id(i), 1, issued, exp, testNow.Add(time.Minute)) {
			t.Fatalf("id %d spent again", i)
		}
	}
	t.Logf("%d ids spent, %d evicted unexpired, none spent twice", len(spent), s.Evictions())
}

// A caller's clock may be behind the record's latest (a request reads it
// before its body comes, slowly): an id the record forgot as expired must
// not look unexpired, and so unspent, to it.
func TestSpentExpiryGoesByTheLatestClock(t *testing.T) {
	for _, size := range []int{1, 2, 64} {
		s, err := NewSpent(size)
		if err != nil {
			t.Fatal(err)
		}
		exp := testNow.Add(5 * time.Minute)
		later := exp.Add(time.Hour)
		tried, accepted := 0, 0
		for i := range size {
			s.Use(id(byte(i)), 1, testNow, exp, testNow)
		}
		// Later spends turn the ring over: the first ids go out expired.
		for i := range size {
			s.Use(id(byte(100+i)), 1, later, later.Add(time.Hour), later)
		}
		for i := range size {
			tried++
			if s.Use(id(byte(i)), 1, testNow, exp, testNow.Add(time.Minute)) {
				accepted++
			}
		}
		t.Logf("size %d: spent ids replayed with a clock behind: tried %d / accepted %d / expected 0", size, tried, accepted)
		if accepted != 0 {
			t.Errorf("size %d: %d spent ids accepted again", size, accepted)
		}
	}
}

// An expiry a fraction of a second past a whole second (a proof's, with a
// noscript_wait of 1.5s): the record must not forget the id as expired,
// raising no floor, while Use still takes it for unexpired.
func TestSpentFractionalExpiry(t *testing.T) {
	s, err := NewSpent(1)
	if err != nil {
		t.Fatal(err)
	}
	exp := testNow.Add(1500 * time.Millisecond)
	if !s.Use(id(1), 1, testNow, exp, testNow) {
		t.Fatal("first use refused")
	}
	at := testNow.Add(1200 * time.Millisecond) // past exp's whole second, before exp
	s.Use(id(2), 1, testNow.Add(time.Second), at.Add(time.Hour), at)
	accepted := 0
	if s.Use(id(1), 1, testNow, exp, at) {
		accepted++
	}
	t.Logf("id evicted in its expiry's last second, spent again: tried 1 / accepted %d / expected 0", accepted)
	if accepted != 0 {
		t.Fatal("spent id accepted again")
	}
}

// A day pass evicted from the record must not lock out a one-hour pass issued
// after it: the floor follows issue times, not expiries.
func TestSpentFloorByIssueTime(t *testing.T) {
	s, err := NewSpent(1)
	if err != nil {
		t.Fatal(err)
	}
	dayIssued := testNow.Add(-time.Hour)
	if !s.Use(id(1), 1, dayIssued, dayIssued.Add(24*time.Hour), testNow) {
		t.Fatal("day pass refused")
	}
	// Spending a fresh pass evicts the unexpired day pass.
	if !s.Use(id(2), 1, testNow, testNow.Add(time.Hour), testNow) {
		t.Fatal("fresh one-hour pass refused after the day pass was evicted")
	}
	if s.Evictions() != 1 {
		t.Fatalf("Evictions = %d, want 1", s.Evictions())
	}
	if s.Use(id(1), 1, dayIssued, dayIssued.Add(24*time.Hour), testNow) {
		t.Fatal("evicted day pass spent again")
	}
	// Another fresh pass, shorter than the day pass, issued after it.
	if !s.Use(id(3), 1, testNow.Add(time.Second), testNow.Add(time.Hour), testNow.Add(time.Second)) {
		t.Fatal("second fresh pass refused")
	}
}

func TestSpentExpiredEvictionKeepsFloor(t *testing.T) {
	s, err := NewSpent(1)
	if err != nil {
		t.Fatal(err)
	}
	s.Use(id(1), 1, testNow, testNow.Add(time.Minute), testNow)
	// Evicting an expired id cannot enable a replay: the floor stays.
	later := testNow.Add(2 * time.Minute)
	s.Use(id(2), 1, later, later.Add(time.Minute), later)
	if s.Evictions() != 0 {
		t.Fatalf("expired id counted as %d evictions", s.Evictions())
	}
	if !s.Use(id(3), 1, testNow, later.Add(30*time.Second), later) {
		t.Fatal("floor rose on evicting an expired id")
	}
	// That use evicted id 2, unexpired: now the floor is its issue time.
	if s.Evictions() != 1 || s.Use(id(4), 1, later, later.Add(time.Minute), later) {
		t.Fatalf("Evictions = %d; an id issued with the evicted one was accepted", s.Evictions())
	}
}

func TestSpentConcurrentSingleUse(t *testing.T) {
	const goroutines, rounds = 32, 200
	s, err := NewSpent(1024)
	if err != nil {
		t.Fatal(err)
	}
	exp := testNow.Add(time.Hour)
	for r := range rounds {
		var k [IDSize]byte
		k[0], k[1] = byte(r), byte(r>>8)
		var wins atomic.Int32
		var start, done sync.WaitGroup
		start.Add(1)
		for range goroutines {
			done.Add(1)
			go func() {
				defer done.Done()
				start.Wait()
				if s.Use(k, 1, testNow, exp, testNow) {
					wins.Add(1)
				}
			}()
		}
		start.Done()
		done.Wait()
		if n := wins.Load(); n != 1 {
			t.Fatalf("round %d: %d of %d goroutines spent a single-use id, want 1", r, n, goroutines)
		}
	}
	t.Logf("%d rounds of %d goroutines: exactly one spend each", rounds, goroutines)
}

// TestSpentAgainstModel spends random ids, many sharing their index slot,
// on records of a few sizes, and checks every answer against a plain model
// of the record: a first-in first-out list of ids with their uses and the
// floor.
func TestSpentAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{1, 2, 3, 7, 64, 100} {
		s, err := NewSpent(size)
		if err != nil {
			t.Fatal(err)
		}
		type entry struct {
			id              [IDSize]byte
			issued, expires int64
			uses            int
		}
		var model []entry // oldest first
		floor := int64(minTime)
		var evictions uint64
		var ids [][IDSize]byte
		for step := range 20000 {
			now := testNow.Add(time.Duration(step) * time.Second)
			var id [IDSize]byte
			if len(ids) > 0 && rng.IntN(3) == 0 {
				id = ids[rng.IntN(len(ids))]
			} else {
				// Few distinct low bytes: the index's probe runs collide.
				binary.LittleEndian.PutUint64(id[:8], uint64(rng.IntN(8)))
				binary.LittleEndian.PutUint64(id[8:], rng.Uint64())
				ids = append(ids, id)
			}
			issued := now.Add(-time.Duration(rng.IntN(600)) * time.Second)
			expires := issued.Add(time.Duration(1+rng.IntN(1200)) * time.Second)
			limit := 1 + rng.IntN(3)
			want := false
			at := slices.IndexFunc(model, func(e entry) bool { return e.id == id })
			switch {
			case !now.Before(expires):
			case at >= 0:
				if model[at].uses < limit {
					model[at].uses++
					want = true
				}
			case issued.Unix() > floor:
				want = true
				if len(model) == size {
					if old := model[0]; old.expires > now.Unix() {
						evictions++
						floor = max(floor, old.issued)
					}
					model = model[1:]
				}
				model = append(model, entry{id: id, issued: issued.Unix(), expires: expires.Unix(), uses: 1})
			}
			if got := s.Use(id, limit, issued, expires, now); got != want {
				t.Fatalf("size %d step %d: Use = %v, model says %v", size, step, got, want)
			}
			if s.Len() != len(model) || s.Evictions() != evictions {
				t.Fatalf("size %d step %d: Len %d, Evictions %d; model %d, %d", size, step, s.Len(), s.Evictions(), len(model), evictions)
			}
			if step%97 == 0 {
				for _, e := range model {
					if s.Exhausted(e.id, e.uses) != true || s.Exhausted(e.id, e.uses+1) {
						t.Fatalf("size %d step %d: Exhausted disagrees with the model for %x (%d uses)", size, step, e.id, e.uses)
					}
				}
			}
		}
	}
}

// BenchmarkSpentMillion spends a million distinct ids in a record of a
// million and reports the heap it holds: the memory of single-use records
// per million ids.
func BenchmarkSpentMillion(b *testing.B) {
	const ids = 1_000_000
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		s, _ := NewSpent(ids)
		var id [IDSize]byte
		for i := range ids {
			binary.LittleEndian.PutUint64(id[:8], uint64(i)*0x9e3779b97f4a7c15)
			binary.LittleEndian.PutUint64(id[8:], uint64(i))
			s.Use(id, 1, testNow, testNow.Add(time.Hour), testNow)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB/million")
		runtime.KeepAlive(s)
	}
}
