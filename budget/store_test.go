package budget

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ulule/limiter/v3"
	"github.com/ulule/limiter/v3/drivers/store/memory"
)

func TestNewLRUStoreRejectsBadArguments(t *testing.T) {
	tests := []struct {
		name    string
		maxKeys int
		opts    []StoreOption
	}{
		{"zero keys", 0, nil},
		{"negative keys", -1, nil},
		{"zero shards", 10, []StoreOption{WithShards(0)}},
		{"nil clock", 10, []StoreOption{WithClock(nil)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := NewLRUStore(tt.maxKeys, tt.opts...); err == nil {
				t.Fatalf("NewLRUStore(%d) = %v, want an error", tt.maxKeys, s)
			}
		})
	}
}

func TestNewLRUStoreCapacityIsExact(t *testing.T) {
	tests := []struct{ maxKeys, shards, wantShards int }{
		{1, 64, 1},
		{5, 64, 5},
		{100, 64, 64},
		{100_001, 64, 64},
		{7, 3, 3},
	}
	for _, tt := range tests {
		s, err := NewLRUStore(tt.maxKeys, WithShards(tt.shards))
		if err != nil {
			t.Fatal(err)
		}
		total := 0
		for i := range s.windows.shards {
			total += s.windows.shards[i].capacity
		}
		if total != tt.maxKeys || len(s.windows.shards) != tt.wantShards {
			t.Errorf("NewLRUStore(%d, WithShards(%d)): %d shards holding %d keys, want %d shards holding %d",
				tt.maxKeys, tt.shards, len(s.windows.shards), total, tt.wantShards, tt.maxKeys)
		}
	}
}

// TestLRUStoreWindows walks one key through fixed windows on a fake clock.
func TestLRUStoreWindows(t *testing.T) {
	clock := newFakeClock()
	store, err := NewLRUStore(10, WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	rate := limiter.Rate{Limit: 3, Period: time.Minute}
	start := clock.Now()
	firstReset := start.Add(time.Minute).Unix()

	tests := []struct {
		name      string
		advance   time.Duration // before the operation
		op        string
		count     int64
		remaining int64
		reached   bool
		reset     int64
		wantLen   int
	}{
		{"peek of an unknown key", 0, "peek", 0, 3, false, firstReset, 0},
		{"first increment opens the window", 0, "incr", 1, 2, false, firstReset, 1},
		{"later in the window", 30 * time.Second, "incr", 2, 0, false, firstReset, 1},
		{"over the limit", 0, "incr", 1, 0, true, firstReset, 1},
		{"peek counts nothing", 0, "peek", 0, 0, true, firstReset, 1},
		{"last nanosecond of the window", 30 * time.Second, "incr", 0, 0, true, firstReset, 1},
		{"expired window starts afresh", time.Nanosecond, "incr", 1, 2, false, start.Add(2*time.Minute + time.Nanosecond).Unix(), 1},
		{"peek of an expired window frees it", 2 * time.Minute, "peek", 0, 3, false, start.Add(4*time.Minute + time.Nanosecond).Unix(), 0},
		{"increment after expiry", 0, "incr", 2, 1, false, start.Add(4*time.Minute + time.Nanosecond).Unix(), 1},
		{"reset forgets the count", 10 * time.Second, "reset", 0, 3, false, start.Add(4*time.Minute + 10*time.Second + time.Nanosecond).Unix(), 0},
		{"increment after reset opens a new window", 10 * time.Second, "incr", 1, 2, false, start.Add(4*time.Minute + 20*time.Second + time.Nanosecond).Unix(), 1},
	}
	ctx := context.Background()
	for _, tt := range tests {
		clock.Advance(tt.advance)
		var got limiter.Context
		switch tt.op {
		case "incr":
			got, err = store.Increment(ctx, "k", tt.count, rate)
		case "peek":
			got, err = store.Peek(ctx, "k", rate)
		case "reset":
			got, err = store.Reset(ctx, "k", rate)
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		want := limiter.Context{Limit: 3, Remaining: tt.remaining, Reset: tt.reset, Reached: tt.reached}
		if got != want {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, want)
		}
		if n := store.Len(); n != tt.wantLen {
			t.Errorf("%s: Len() = %d, want %d", tt.name, n, tt.wantLen)
		}
	}
}

func TestLRUStoreEvictsLeastRecentlyUsed(t *testing.T) {
	store, err := NewLRUStore(3, WithShards(1))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rate := limiter.Rate{Limit: 10, Period: time.Hour}
	for _, key := range []string{"a", "b", "c", "a", "d"} { // "a" touched again, so "b" is oldest when "d" comes
		if _, err := store.Get(ctx, key, rate); err != nil {
			t.Fatal(err)
		}
	}
	// Peek does not refresh a key, so checking in this order is safe.
	for key, wantRemaining := range map[string]int64{"a": 8, "b": 10, "c": 9, "d": 9} {
		got, err := store.Peek(ctx, key, rate)
		if err != nil {
			t.Fatal(err)
		}
		if got.Remaining != wantRemaining {
			t.Errorf("after eviction, %q has %d remaining, want %d", key, got.Remaining, wantRemaining)
		}
	}
	if n := store.Len(); n != 3 {
		t.Errorf("Len() = %d, want 3", n)
	}
}

// sequenceRate is the rate of sequenceSteps: a limit of 5 in a window long
// enough that no window expires while the sequence runs.
var sequenceRate = limiter.Rate{Formatted: "5/h", Limit: 5, Period: time.Hour}

// windowEffect says what a step does to its key's window, to know which
// instants its Reset must fall between.
type windowEffect int

const (
	keepsWindow windowEffect = iota // Reset is the end of the key's current window
	opensWindow                     // Reset is the end of a window opened by this step
	noWindow                        // Reset is one period from now (no count held)
)

type sequenceStep struct {
	op        string // get, peek, incr or reset
	key       string
	count     int64 // for incr
	remaining int64
	reached   bool
	window    windowEffect
}

var sequenceSteps = []sequenceStep{
	{"peek", "a", 0, 5, false, noWindow},
	{"get", "a", 0, 4, false, opensWindow},
	{"get", "a", 0, 3, false, keepsWindow},
	{"incr", "a", 2, 1, false, keepsWindow},
	{"peek", "a", 0, 1, false, keepsWindow},
	{"get", "b", 0, 4, false, opensWindow},
	{"incr", "a", 1, 0, false, keepsWindow}, // exactly at the limit: not reached yet
	{"get", "a", 0, 0, true, keepsWindow},
	{"reset", "a", 0, 5, false, noWindow},
	{"peek", "a", 0, 5, false, noWindow},
	{"get", "a", 0, 4, false, opensWindow},
	{"peek", "b", 0, 4, false, keepsWindow},
	{"incr", "c", 7, 0, true, opensWindow},
	{"incr", "b", 0, 4, false, keepsWindow},
	{"get", "c", 0, 0, true, keepsWindow},
}

// runSequence runs sequenceSteps through each store, side by side through
// limiter.New, and checks every store gives the expected budgets. Stores
// compute Reset from their own clock reading, so Reset is checked to lie
// between the instants bracketing the step that set it.
func runSequence(t *testing.T, stores map[string]limiter.Store) {
	t.Helper()
	ctx := context.Background()
	limiters := make(map[string]*limiter.Limiter, len(stores))
	for name, store := range stores {
		limiters[name] = limiter.New(store, sequenceRate)
	}
	windowOpened := map[string]time.Time{}
	for i, step := range sequenceSteps {
		before := time.Now()
		results := make(map[string]limiter.Context, len(limiters))
		for name, l := range limiters {
			var got limiter.Context
			var err error
			switch step.op {
			case "get":
				got, err = l.Get(ctx, step.key)
			case "peek":
				got, err = l.Peek(ctx, step.key)
			case "incr":
				got, err = l.Increment(ctx, step.key, step.count)
			case "reset":
				got, err = l.Reset(ctx, step.key)
			}
			if err != nil {
				t.Fatalf("step %d (%s %q) on %s: %v", i, step.op, step.key, name, err)
			}
			results[name] = got
		}
		after := time.Now()

		from := before
		switch step.window {
		case opensWindow:
			windowOpened[step.key] = before
		case keepsWindow:
			from = windowOpened[step.key]
		}
		// A millisecond of slack below: Redis reports the time left in whole milliseconds.
		earliest := from.Add(sequenceRate.Period - time.Millisecond).Unix()
		latest := after.Add(sequenceRate.Period).Unix()
		for name, got := range results {
			if got.Limit != sequenceRate.Limit || got.Remaining != step.remaining || got.Reached != step.reached {
				t.Errorf("step %d (%s %q) on %s: got limit %d, remaining %d, reached %v; want %d, %d, %v",
					i, step.op, step.key, name, got.Limit, got.Remaining, got.Reached,
					sequenceRate.Limit, step.remaining, step.reached)
			}
			if got.Reset < earliest || got.Reset > latest {
				t.Errorf("step %d (%s %q) on %s: reset at %d, want between %d and %d",
					i, step.op, step.key, name, got.Reset, earliest, latest)
			}
		}
	}
}

func TestLRUStoreMatchesMemoryStore(t *testing.T) {
	lru, err := NewLRUStore(100)
	if err != nil {
		t.Fatal(err)
	}
	// No clean-up interval: no cleaner goroutine, and none is needed here.
	mem := memory.NewStoreWithOptions(limiter.StoreOptions{Prefix: "test"})
	runSequence(t, map[string]limiter.Store{"lru": lru, "memory": mem})
}

// TestLRUStoreMillionKeys floods a capped store with distinct keys: it must
// never hold more than its cap, keep counting the keys in use, and give an
// evicted key a fresh window.
func TestLRUStoreMillionKeys(t *testing.T) {
	keys, maxKeys := 1_000_000, 100_000
	if testing.Short() {
		keys, maxKeys = 100_000, 10_000
	}
	store, err := NewLRUStore(maxKeys)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rate := limiter.Rate{Limit: 10, Period: time.Hour}
	key := func(i int) string { return "ip:flood:" + strconv.Itoa(i) }

	for i := range keys {
		k := key(i)
		if _, err := store.Increment(ctx, k, 2, rate); err != nil {
			t.Fatal(err)
		}
		// Checking the touched shard after each insert is cheap and enough:
		// no other shard changed.
		sh := store.windows.shard(k)
		sh.mu.Lock()
		n, capacity := sh.table.Len(), sh.capacity
		sh.mu.Unlock()
		if n > capacity {
			t.Fatalf("after %d keys, a shard holds %d keys, over its share %d", i+1, n, capacity)
		}
		if i%10_000 == 0 {
			if n := store.Len(); n > maxKeys {
				t.Fatalf("after %d keys, Len() = %d, over the cap %d", i+1, n, maxKeys)
			}
		}
	}
	if n := store.Len(); n != maxKeys {
		t.Errorf("after the flood, Len() = %d, want the cap %d", n, maxKeys)
	}

	// The most recent keys are far fewer than any shard's share: all kept.
	for i := keys - 1000; i < keys; i++ {
		got, err := store.Peek(ctx, key(i), rate)
		if err != nil {
			t.Fatal(err)
		}
		if got.Remaining != 8 {
			t.Fatalf("recent key %d: %d remaining, want 8 (its count lost)", i, got.Remaining)
		}
	}
	// The oldest were pushed out by 900,000 newer keys: they start afresh.
	for i := range 1000 {
		got, err := store.Increment(ctx, key(i), 1, rate)
		if err != nil {
			t.Fatal(err)
		}
		if got.Remaining != 9 {
			t.Fatalf("evicted key %d: %d remaining after one more event, want 9 (a fresh window)", i, got.Remaining)
		}
	}
	if n := store.Len(); n > maxKeys {
		t.Errorf("Len() = %d, over the cap %d", n, maxKeys)
	}
}

// TestLRUStoreConcurrent checks under -race that concurrent increments are
// neither lost nor let the store grow past its cap.
func TestLRUStoreConcurrent(t *testing.T) {
	const (
		workers   = 8
		perWorker = 2000
		maxKeys   = 500
	)
	clock := newFakeClock() // frozen: every increment falls in one window
	store, err := NewLRUStore(maxKeys, WithShards(8), WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rate := limiter.Rate{Limit: 1 << 40, Period: time.Minute}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				if _, err := store.Get(ctx, "hot", rate); err != nil {
					t.Error(err)
					return
				}
				if _, err := store.Get(ctx, fmt.Sprintf("cold:%d:%d", w, i), rate); err != nil {
					t.Error(err)
					return
				}
				if n := store.Len(); n > maxKeys {
					t.Errorf("Len() = %d, over the cap %d", n, maxKeys)
					return
				}
			}
		})
	}
	wg.Wait()
	got, err := store.Peek(ctx, "hot", rate)
	if err != nil {
		t.Fatal(err)
	}
	// "hot" is touched every other call, so it is never the oldest of its shard.
	if counted := rate.Limit - got.Remaining; counted != workers*perWorker {
		t.Errorf("hot key counted %d events, want %d", counted, workers*perWorker)
	}
}

func BenchmarkLRUStoreIncrement(b *testing.B) {
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = KeyASN.Key("signatures", Client{ASN: uint32(64500 + i)})
	}
	rate := limiter.Rate{Limit: 1 << 40, Period: time.Minute}
	ctx := context.Background()

	b.Run("serial", func(b *testing.B) {
		store, err := NewLRUStore(10_000)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := store.Increment(ctx, keys[i%len(keys)], 1, rate); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		store, err := NewLRUStore(10_000)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := store.Increment(ctx, keys[i%len(keys)], 1, rate); err != nil {
					b.Error(err)
					return
				}
				i += 7 // goroutines start together; stride so they do not march in step
			}
		})
	})
}

// benchmarkMillionKeys sends a million distinct keys (cycling when b.N is
// larger) through store, one increment per op, building each key afresh as
// a request would. It reports the peak heap in use above the starting point
// and the heap still live at the end, both in MiB.
func benchmarkMillionKeys(b *testing.B, store limiter.Store) {
	const distinct = 1_000_000
	rate := limiter.Rate{Limit: 100, Period: time.Hour}
	ctx := context.Background()
	var stats runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&stats)
	base := stats.HeapInuse
	peak := base
	sample := func() {
		runtime.ReadMemStats(&stats)
		peak = max(peak, stats.HeapInuse)
	}

	b.ReportAllocs()
	buf := make([]byte, 0, 32)
	i := 0
	for b.Loop() {
		buf = strconv.AppendInt(append(buf[:0], "ip:flood:"...), int64(i%distinct), 10)
		if _, err := store.Increment(ctx, string(buf), 1, rate); err != nil {
			b.Fatal(err)
		}
		i++
		if i%(1<<16) == 0 {
			b.StopTimer()
			sample()
			b.StartTimer()
		}
	}
	b.StopTimer()
	sample()
	runtime.GC()
	runtime.ReadMemStats(&stats)
	live := stats.HeapInuse
	runtime.KeepAlive(store)

	const mib = 1 << 20
	b.ReportMetric(float64(peak-base)/mib, "peak-heap-MiB")
	b.ReportMetric(float64(max(live, base)-base)/mib, "live-heap-MiB")
}

func BenchmarkLRUStoreMillionKeys(b *testing.B) {
	store, err := NewLRUStore(100_000)
	if err != nil {
		b.Fatal(err)
	}
	benchmarkMillionKeys(b, store)
	b.ReportMetric(float64(store.Len()), "keys")
}

// BenchmarkMemoryStoreMillionKeys is the same flood through limiter's own
// memory store, for comparison. Its cleaner is off (and would not run within
// its default 30 s anyway): the store simply keeps every key.
func BenchmarkMemoryStoreMillionKeys(b *testing.B) {
	benchmarkMillionKeys(b, memory.NewStoreWithOptions(limiter.StoreOptions{Prefix: limiter.DefaultPrefix}))
}
