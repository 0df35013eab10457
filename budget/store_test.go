package budget

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ulule/limiter/v3"
	"github.com/ulule/limiter/v3/drivers/store/memory"

	"github.com/rempart/rempart/internal/race"
)

func newTables(t testing.TB, cfg TablesConfig) *Tables {
	t.Helper()
	tables, err := NewTables(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tables
}

func TestNewTablesRejectsBadArguments(t *testing.T) {
	tests := []struct {
		name string
		cfg  TablesConfig
	}{
		{"negative ip keys", TablesConfig{IPKeys: -1}},
		{"negative prefix keys", TablesConfig{PrefixKeys: -1}},
		{"negative asn keys", TablesConfig{ASNKeys: -5}},
		{"negative class keys", TablesConfig{ClassKeys: -1}},
		{"negative shards", TablesConfig{Shards: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := NewTables(tt.cfg); err == nil {
				t.Fatalf("NewTables(%+v) = %v, want an error", tt.cfg, s)
			}
		})
	}
}

func TestNewTablesSizes(t *testing.T) {
	capacity := func(s *shardedLRU[window]) (total int) {
		for i := range s.shards {
			total += s.shards[i].capacity
		}
		return total
	}
	defaults := newTables(t, TablesConfig{})
	want := map[KeyKind]int{KeyIP: 200_000, KeyPrefix: 200_000, KeyASN: 65_536, KeyClass: 1_024}
	for kind, n := range want {
		if got := capacity(defaults.tables[kind]); got != n {
			t.Errorf("default %s table holds %d keys, want %d", kind, got, n)
		}
		if got := len(defaults.tables[kind].shards); got != DefaultShards {
			t.Errorf("default %s table has %d shards, want %d", kind, got, DefaultShards)
		}
	}

	tests := []struct{ keys, shards, wantShards int }{
		{1, 64, 1},
		{5, 64, 5},
		{100, 64, 64},
		{100_001, 64, 64},
		{7, 3, 3},
	}
	for _, tt := range tests {
		s := newTables(t, TablesConfig{ASNKeys: tt.keys, Shards: tt.shards})
		table := s.tables[KeyASN]
		if total := capacity(table); total != tt.keys || len(table.shards) != tt.wantShards {
			t.Errorf("ASNKeys %d, Shards %d: %d shards holding %d keys, want %d shards holding %d",
				tt.keys, tt.shards, len(table.shards), total, tt.wantShards, tt.keys)
		}
	}
}

// TestTablesWindows walks one key through fixed windows on a fake clock.
func TestTablesWindows(t *testing.T) {
	clock := newFakeClock()
	store := newTables(t, TablesConfig{ASNKeys: 10, Clock: clock.Now})
	rate := limiter.Rate{Limit: 3, Period: time.Minute}
	start := clock.Now()
	firstReset := start.Add(time.Minute).Unix()
	charge := []Charge{{Key: "k", Kind: KeyASN, Rate: rate}}

	tests := []struct {
		name      string
		advance   time.Duration // before the operation
		op        string
		allowed   bool  // for take
		remaining int64 // after the operation
		reset     int64
		wantLen   int
	}{
		{"peek of an unknown key", 0, "peek", false, 3, firstReset, 0},
		{"first take opens the window", 0, "take", true, 2, firstReset, 1},
		{"later in the window", 30 * time.Second, "take", true, 1, firstReset, 1},
		{"last of the budget", 0, "take", true, 0, firstReset, 1},
		{"over the limit", 0, "take", false, 0, firstReset, 1},
		{"last nanosecond of the window", 30 * time.Second, "take", false, 0, firstReset, 1},
		{"expired window starts afresh", time.Nanosecond, "take", true, 2, start.Add(2*time.Minute + time.Nanosecond).Unix(), 1},
		{"peek of an expired window frees it", 2 * time.Minute, "peek", false, 3, start.Add(4*time.Minute + time.Nanosecond).Unix(), 0},
		{"take after expiry", 0, "take", true, 2, start.Add(4*time.Minute + time.Nanosecond).Unix(), 1},
	}
	ctx := context.Background()
	for _, tt := range tests {
		clock.Advance(tt.advance)
		if tt.op == "take" {
			res, err := store.TakeAll(ctx, charge, clock.Now())
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if res.Allowed != tt.allowed {
				t.Errorf("%s: allowed %v, want %v", tt.name, res.Allowed, tt.allowed)
			}
			switch {
			case res.Allowed && (res.Exhausted != -1 || !res.Reset.IsZero()):
				t.Errorf("%s: allowed with exhausted %d, reset %v", tt.name, res.Exhausted, res.Reset)
			case !res.Allowed && (res.Exhausted != 0 || res.Reset.Unix() != tt.reset):
				t.Errorf("%s: refused with exhausted %d, reset %d; want 0, %d", tt.name, res.Exhausted, res.Reset.Unix(), tt.reset)
			}
		}
		got, err := store.Peek(ctx, "k", KeyASN, rate)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		// Reached keeps limiter's meaning, a count over the limit, which
		// an all-or-none take never makes.
		want := limiter.Context{Limit: 3, Remaining: tt.remaining, Reset: tt.reset}
		if got != want {
			t.Errorf("%s: peek %+v, want %+v", tt.name, got, want)
		}
		if n := store.Len(KeyASN); n != tt.wantLen {
			t.Errorf("%s: Len = %d, want %d", tt.name, n, tt.wantLen)
		}
	}
}

// TestTablesAllOrNone is the amplification the all-or-none take prevents:
// an address over its own budget must not spend its network's.
func TestTablesAllOrNone(t *testing.T) {
	clock := newFakeClock()
	store := newTables(t, TablesConfig{Clock: clock.Now})
	ctx := context.Background()
	now := clock.Now()
	perIP := limiter.Rate{Limit: 3, Period: time.Hour}
	perASN := limiter.Rate{Limit: 10, Period: time.Hour}
	charges := func(ip string) []Charge {
		return []Charge{
			{Key: "asn:signatures:16509", Kind: KeyASN, Rate: perASN},
			{Key: "ip:signatures:" + ip, Kind: KeyIP, Rate: perIP},
		}
	}
	const tried = 50
	accepted := 0
	for i := range tried {
		res, err := store.TakeAll(ctx, charges("203.0.113.1"), now.Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if res.Allowed {
			accepted++
			continue
		}
		if res.Exhausted != 1 || !res.Reset.Equal(now.Add(time.Hour)) {
			t.Fatalf("try %d refused by charge %d, reset %v; want charge 1 (per ip), reset %v", i, res.Exhausted, res.Reset, now.Add(time.Hour))
		}
	}
	if accepted != 3 {
		t.Errorf("one address: %d of %d accepted, want 3", accepted, tried)
	}
	asn, err := store.Peek(ctx, "asn:signatures:16509", KeyASN, perASN)
	if err != nil {
		t.Fatal(err)
	}
	if asn.Remaining != 7 {
		t.Errorf("the ASN has %d left after one address's %d tries, want 7 (refused tries counted?)", asn.Remaining, tried)
	}
	// The network's other addresses get the 7.
	others := 0
	for i := range 20 {
		res, err := store.TakeAll(ctx, charges("203.0.113."+strconv.Itoa(10+i)), now)
		if err != nil {
			t.Fatal(err)
		}
		if res.Allowed {
			others++
		} else if res.Exhausted != 0 {
			t.Fatalf("other address %d refused by charge %d, want 0 (per asn)", i, res.Exhausted)
		}
	}
	if others != 7 {
		t.Errorf("20 other addresses: %d accepted, want 7", others)
	}
}

func TestTablesExhaustedIsTheLastToReset(t *testing.T) {
	store := newTables(t, TablesConfig{})
	ctx := context.Background()
	now := newFakeClock().Now()
	short := Charge{Key: "a", Kind: KeyIP, Rate: limiter.Rate{Limit: 1, Period: time.Minute}}
	long := Charge{Key: "a", Kind: KeyASN, Rate: limiter.Rate{Limit: 1, Period: time.Hour}} // same key, other table
	if res, err := store.TakeAll(ctx, []Charge{short, long}, now); err != nil || !res.Allowed {
		t.Fatalf("first take: %+v, %v", res, err)
	}
	res, err := store.TakeAll(ctx, []Charge{short, long}, now)
	if err != nil {
		t.Fatal(err)
	}
	if res.Allowed || res.Exhausted != 1 || !res.Reset.Equal(now.Add(time.Hour)) {
		t.Errorf("both exhausted: %+v, want charge 1 resetting at %v", res, now.Add(time.Hour))
	}
	// Once the short one resets, the long one alone refuses.
	res, err = store.TakeAll(ctx, []Charge{long, short}, now.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if res.Allowed || res.Exhausted != 0 {
		t.Errorf("after the minute: %+v, want refused by charge 0", res)
	}
}

// TestTablesSameCounterTwice charges one counter twice in one take: both
// events must fit.
func TestTablesSameCounterTwice(t *testing.T) {
	clock := newFakeClock()
	store := newTables(t, TablesConfig{Clock: clock.Now})
	ctx := context.Background()
	c := Charge{Key: "class:x:hosting", Kind: KeyClass, Rate: limiter.Rate{Limit: 3, Period: time.Hour}}
	twice := []Charge{c, c}
	if res, err := store.TakeAll(ctx, twice, clock.Now()); err != nil || !res.Allowed {
		t.Fatalf("first double take: %+v, %v", res, err)
	}
	res, err := store.TakeAll(ctx, twice, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if res.Allowed || res.Exhausted != 1 {
		t.Fatalf("second double take with 1 left: %+v, want refused by charge 1", res)
	}
	if got, _ := store.Peek(ctx, c.Key, c.Kind, c.Rate); got.Remaining != 1 {
		t.Errorf("%d left, want 1", got.Remaining)
	}
	if res, err := store.TakeAll(ctx, twice[:1], clock.Now()); err != nil || !res.Allowed {
		t.Fatalf("single take with 1 left: %+v, %v", res, err)
	}
}

func TestTablesTakeAllErrors(t *testing.T) {
	clock := newFakeClock()
	store := newTables(t, TablesConfig{Clock: clock.Now})
	ctx := context.Background()
	now := clock.Now()
	good := Charge{Key: "ip:s:192.0.2.1", Kind: KeyIP, Rate: limiter.Rate{Limit: 1, Period: time.Hour}}
	for _, bad := range []Charge{
		{Key: "k", Rate: good.Rate},
		{Key: "k", Kind: KeyClass + 1, Rate: good.Rate},
		{Key: "k", Kind: KeyIP, Rate: limiter.Rate{Limit: 1}},
	} {
		if res, err := store.TakeAll(ctx, []Charge{good, bad}, now); err == nil {
			t.Errorf("TakeAll with %+v = %+v, want an error", bad, res)
		}
	}
	if _, err := store.Peek(ctx, "k", 0, good.Rate); err == nil {
		t.Error("Peek of kind 0: no error")
	}
	// Nothing was counted by the failed takes.
	if got, _ := store.Peek(ctx, good.Key, good.Kind, good.Rate); got.Remaining != 1 {
		t.Errorf("a failed take counted: %+v", got)
	}
	if res, err := store.TakeAll(ctx, nil, now); err != nil || !res.Allowed || res.Exhausted != -1 {
		t.Errorf("TakeAll of nothing: %+v, %v", res, err)
	}
}

// TestTablesManyCharges takes more charges than fit on the stack.
func TestTablesManyCharges(t *testing.T) {
	clock := newFakeClock()
	store := newTables(t, TablesConfig{Shards: 4, Clock: clock.Now})
	ctx := context.Background()
	now := clock.Now()
	charges := make([]Charge, 40)
	for i := range charges {
		charges[i] = Charge{Key: "k" + strconv.Itoa(i), Kind: KeyKind(i%4 + 1), Rate: limiter.Rate{Limit: int64(2 + i), Period: time.Hour}}
	}
	for range 2 {
		if res, err := store.TakeAll(ctx, charges, now); err != nil || !res.Allowed {
			t.Fatalf("take: %+v, %v", res, err)
		}
	}
	res, err := store.TakeAll(ctx, charges, now)
	if err != nil || res.Allowed || res.Exhausted != 0 {
		t.Fatalf("third take: %+v, %v; want refused by charge 0 (limit 2)", res, err)
	}
	for i, c := range charges[1:] {
		got, _ := store.Peek(ctx, c.Key, c.Kind, c.Rate)
		if got.Remaining != c.Rate.Limit-2 {
			t.Errorf("charge %d: %d left, want %d", i+1, got.Remaining, c.Rate.Limit-2)
		}
	}
}

func TestTablesEvictsLeastRecentlyUsed(t *testing.T) {
	clock := newFakeClock()
	store := newTables(t, TablesConfig{IPKeys: 3, Shards: 1, Clock: clock.Now})
	ctx := context.Background()
	rate := limiter.Rate{Limit: 10, Period: time.Hour}
	for _, key := range []string{"a", "b", "c", "a", "d"} { // "a" touched again, so "b" is oldest when "d" comes
		if _, err := store.TakeAll(ctx, []Charge{{Key: key, Kind: KeyIP, Rate: rate}}, clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	// Peek does not refresh a key, so checking in this order is safe.
	for key, wantRemaining := range map[string]int64{"a": 8, "b": 10, "c": 9, "d": 9} {
		got, err := store.Peek(ctx, key, KeyIP, rate)
		if err != nil {
			t.Fatal(err)
		}
		if got.Remaining != wantRemaining {
			t.Errorf("after eviction, %q has %d remaining, want %d", key, got.Remaining, wantRemaining)
		}
	}
	if n := store.Len(KeyIP); n != 3 {
		t.Errorf("Len = %d, want 3", n)
	}
}

// TestTablesRefusedTouchesButDoesNotAdd: a refused take keeps the held
// counters in use (an exhausted network that keeps trying is not the one
// evicted) but adds no key.
func TestTablesRefusedTouchesButDoesNotAdd(t *testing.T) {
	clock := newFakeClock()
	store := newTables(t, TablesConfig{IPKeys: 2, ASNKeys: 3, Shards: 1, Clock: clock.Now})
	ctx := context.Background()
	now := clock.Now()
	one := limiter.Rate{Limit: 1, Period: time.Hour}
	hot := Charge{Key: "asn:s:1", Kind: KeyASN, Rate: one}
	take := func(cs ...Charge) TakeResult {
		t.Helper()
		res, err := store.TakeAll(ctx, cs, now)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	take(hot)
	take(Charge{Key: "asn:s:2", Kind: KeyASN, Rate: one})
	take(Charge{Key: "asn:s:3", Kind: KeyASN, Rate: one})
	// hot is the oldest; a refused take touches it.
	if res := take(Charge{Key: "ip:s:x", Kind: KeyIP, Rate: one}, hot); res.Allowed {
		t.Fatal("exhausted network allowed")
	}
	if n := store.Len(KeyIP); n != 0 {
		t.Errorf("a refused take added %d IP keys", n)
	}
	take(Charge{Key: "asn:s:4", Kind: KeyASN, Rate: one}) // evicts asn:s:2, not hot
	if got, _ := store.Peek(ctx, hot.Key, KeyASN, one); got.Remaining != 0 {
		t.Errorf("the exhausted network was evicted: %+v", got)
	}
	if got, _ := store.Peek(ctx, "asn:s:2", KeyASN, one); got.Remaining != 1 {
		t.Errorf("asn:s:2 should have been evicted: %+v", got)
	}
}

// TestTablesPrefixFloodKeepsASN: a hosting ASN exhausts its budget, then
// 400,000 distinct IPv6 /48 keys, twice the prefix table, flood in; the
// ASN's counter lives in another table, so its cap holds. The control puts
// the same counter in the prefix table, as when one table held every kind:
// the flood evicts it and the ASN gets a fresh budget.
func TestTablesPrefixFloodKeepsASN(t *testing.T) {
	for _, tt := range []struct {
		name  string
		kind  KeyKind
		after int // accepted after the flood
	}{
		{"own table", KeyASN, 0},
		{"control: shared table", KeyPrefix, 10},
	} {
		t.Run(tt.name, func(t *testing.T) {
			store := newTables(t, TablesConfig{})
			ctx := context.Background()
			now := newFakeClock().Now()
			perPrefix := limiter.Rate{Limit: 120, Period: time.Minute}
			asn := Charge{Key: KeyASN.Key("challenges", Client{ASN: 16509}), Kind: tt.kind, Rate: limiter.Rate{Limit: 10, Period: time.Hour}}
			buf := make([]byte, 0, 64)
			prefix := func(i int) Charge {
				var a [16]byte
				a[0], a[1], a[2], a[3], a[4], a[5] = 0x20, 0x01, 0x0d, byte(i>>16), byte(i>>8), byte(i)
				buf = KeyPrefix.AppendKey(buf[:0], "challenges", Client{Prefix: netip.PrefixFrom(netip.AddrFrom16(a), 48)})
				return Charge{Key: string(buf), Kind: KeyPrefix, Rate: perPrefix}
			}
			hosting := func(first int) (accepted int) {
				for i := range 20 {
					res, err := store.TakeAll(ctx, []Charge{asn, prefix(1<<23 + first + i)}, now)
					if err != nil {
						t.Fatal(err)
					}
					if res.Allowed {
						accepted++
					}
				}
				return accepted
			}
			before := hosting(0)
			const flood = 400_000
			for i := range flood {
				if res, err := store.TakeAll(ctx, []Charge{prefix(i)}, now); err != nil || !res.Allowed {
					t.Fatalf("prefix %d: %+v, %v", i, res, err)
				}
			}
			after := hosting(20)
			if n := store.Len(KeyPrefix); n != DefaultPrefixKeys {
				t.Errorf("prefix table holds %d keys, want its cap %d", n, DefaultPrefixKeys)
			}
			t.Logf("ASN around %d /48s: tried 40, accepted %d before and %d after, expected 10 and %d", flood, before, after, tt.after)
			if before != 10 || after != tt.after {
				t.Errorf("ASN accepted %d before the flood and %d after, want 10 and %d", before, after, tt.after)
			}
		})
	}
}

// TestTablesMillionKeys floods a capped table with distinct keys: it must
// never hold more than its cap, keep counting the keys in use, and give an
// evicted key a fresh window.
func TestTablesMillionKeys(t *testing.T) {
	keys, maxKeys := 1_000_000, 100_000
	if testing.Short() {
		keys, maxKeys = 100_000, 10_000
	}
	clock := newFakeClock()
	store := newTables(t, TablesConfig{IPKeys: maxKeys, Clock: clock.Now})
	ctx := context.Background()
	now := clock.Now()
	rate := limiter.Rate{Limit: 10, Period: time.Hour}
	key := func(i int) string { return "ip:flood:" + strconv.Itoa(i) }
	take := func(k string) TakeResult {
		res, err := store.TakeAll(ctx, []Charge{{Key: k, Kind: KeyIP, Rate: rate}}, now)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	for i := range keys {
		k := key(i)
		take(k)
		take(k)
		// Checking the touched shard after each insert is cheap and enough:
		// no other shard changed.
		sh := store.tables[KeyIP].shard(store.tables[KeyIP].key(k))
		sh.mu.Lock()
		n, capacity := sh.len(), sh.capacity
		sh.mu.Unlock()
		if n > capacity {
			t.Fatalf("after %d keys, a shard holds %d keys, over its share %d", i+1, n, capacity)
		}
		if i%10_000 == 0 {
			if n := store.Len(KeyIP); n > maxKeys {
				t.Fatalf("after %d keys, Len = %d, over the cap %d", i+1, n, maxKeys)
			}
		}
	}
	if n := store.Len(KeyIP); n != maxKeys {
		t.Errorf("after the flood, Len = %d, want the cap %d", n, maxKeys)
	}
	// The most recent keys are far fewer than any shard's share: all kept.
	for i := keys - 1000; i < keys; i++ {
		got, err := store.Peek(ctx, key(i), KeyIP, rate)
		if err != nil {
			t.Fatal(err)
		}
		if got.Remaining != 8 {
			t.Fatalf("recent key %d: %d remaining, want 8 (its count lost)", i, got.Remaining)
		}
	}
}

// TestTablesConcurrentNeverExceeds takes, from many goroutines at once,
// events charged to a shared network counter and to per-address counters,
// several goroutines per address, over few shards so that takes share and
// cross locks. Under -race: no limit is ever exceeded, and every accepted
// event is counted on each of its counters, and no refused one.
func TestTablesConcurrentNeverExceeds(t *testing.T) {
	for _, shards := range []int{1, 2, 64} {
		t.Run(fmt.Sprintf("%d shards", shards), func(t *testing.T) {
			const (
				workers   = 16
				addresses = 6
				perWorker = 300
				ipLimit   = 25
				asnLimit  = 100
			)
			clock := newFakeClock() // frozen: every take falls in one window
			store := newTables(t, TablesConfig{Shards: shards, Clock: clock.Now})
			ctx := context.Background()
			now := clock.Now()
			asn := Charge{Key: "asn:s:64500", Kind: KeyASN, Rate: limiter.Rate{Limit: asnLimit, Period: time.Minute}}
			ipCharge := func(a int) Charge {
				return Charge{Key: "ip:s:192.0.2." + strconv.Itoa(a), Kind: KeyIP, Rate: limiter.Rate{Limit: ipLimit, Period: time.Minute}}
			}
			var perAddress [addresses]atomic.Int64
			var total atomic.Int64
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					a := w % addresses
					// Half the workers list the network first, half last: lock
					// order must not depend on charge order.
					charges := []Charge{asn, ipCharge(a), {Key: "class:s:hosting", Kind: KeyClass, Rate: limiter.Rate{Limit: 1 << 40, Period: time.Minute}}}
					if w%2 == 1 {
						charges[0], charges[2] = charges[2], charges[0]
					}
					for range perWorker {
						res, err := store.TakeAll(ctx, charges, now)
						if err != nil {
							t.Error(err)
							return
						}
						if res.Allowed {
							perAddress[a].Add(1)
							total.Add(1)
						}
					}
				})
			}
			wg.Wait()
			tried := workers * perWorker
			t.Logf("tried %d, accepted %d, expected %d", tried, total.Load(), min(asnLimit, addresses*ipLimit))
			if got := total.Load(); got != min(asnLimit, addresses*ipLimit) {
				t.Errorf("accepted %d, want %d", got, min(asnLimit, addresses*ipLimit))
			}
			var counted int64
			for a := range addresses {
				got, _ := store.Peek(ctx, ipCharge(a).Key, KeyIP, ipCharge(a).Rate)
				used := ipLimit - got.Remaining
				if n := perAddress[a].Load(); n > ipLimit || n != used {
					t.Errorf("address %d: %d accepted, %d counted, limit %d", a, n, used, ipLimit)
				}
				counted += used
			}
			got, _ := store.Peek(ctx, asn.Key, KeyASN, asn.Rate)
			if used := asnLimit - got.Remaining; used != counted || used != total.Load() {
				t.Errorf("network counted %d, addresses %d, accepted %d", used, counted, total.Load())
			}
			cls, _ := store.Peek(ctx, "class:s:hosting", KeyClass, limiter.Rate{Limit: 1 << 40, Period: time.Minute})
			if used := 1<<40 - cls.Remaining; used != total.Load() {
				t.Errorf("class counted %d, accepted %d", used, total.Load())
			}
		})
	}
}

// TestTablesTakeAllAllocatesNothing: counting keys already held allocates
// nothing.
func TestTablesTakeAllAllocatesNothing(t *testing.T) {
	if race.Enabled {
		t.Skip("allocations are not counted under the race detector")
	}
	store := newTables(t, TablesConfig{})
	ctx := context.Background()
	now := newFakeClock().Now()
	charges := benchCharges(1)[0]
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := store.TakeAll(ctx, charges, now); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("TakeAll of held keys: %v allocations, want 0", allocs)
	}
}

// storeStep is one step of storeSequence: a take of the keys listed, or a
// peek of the first.
type storeStep struct {
	op        string   // take or peek
	keys      []string // keys of sequenceCounters
	allowed   bool     // for take
	exhausted int      // for a refused take
	remaining int64    // for peek
}

// sequenceCounters are the counters of storeSequence: each with its kind
// and rate, all long enough that no window ends while the sequence runs.
var sequenceCounters = map[string]Charge{
	"a": {Key: "ip:seq:192.0.2.1", Kind: KeyIP, Rate: limiter.Rate{Limit: 2, Period: time.Hour}},
	"b": {Key: "asn:seq:64500", Kind: KeyASN, Rate: limiter.Rate{Limit: 3, Period: time.Hour}},
	"c": {Key: "class:seq:hosting", Kind: KeyClass, Rate: limiter.Rate{Limit: 1, Period: time.Hour}},
	"d": {Key: "prefix:seq:192.0.2.0/24", Kind: KeyPrefix, Rate: limiter.Rate{Limit: 2, Period: time.Hour}},
}

var storeSequence = []storeStep{
	{op: "peek", keys: []string{"a"}, remaining: 2},
	{op: "take", keys: []string{"b", "a"}, allowed: true},
	{op: "take", keys: []string{"b", "a"}, allowed: true},
	{op: "peek", keys: []string{"a"}, remaining: 0},
	{op: "peek", keys: []string{"b"}, remaining: 1},
	{op: "take", keys: []string{"b", "a"}, exhausted: 1},
	{op: "peek", keys: []string{"b"}, remaining: 1}, // the refused take counted nothing
	{op: "take", keys: []string{"b"}, allowed: true},
	{op: "take", keys: []string{"d", "b"}, exhausted: 1},
	{op: "peek", keys: []string{"d"}, remaining: 2},
	{op: "take", keys: []string{"c", "c"}, exhausted: 1},
	{op: "peek", keys: []string{"c"}, remaining: 1},
	{op: "take", keys: []string{"d", "d"}, allowed: true},
	{op: "peek", keys: []string{"d"}, remaining: 0},
	{op: "take", keys: []string{"c"}, allowed: true},
	{op: "take", keys: []string{"c"}, exhausted: 0},
}

// runStoreSequence runs storeSequence through each store side by side and
// checks every one gives the expected answers. A refused take's Reset must
// fall within the exhausted counter's period from the sequence's start.
func runStoreSequence(t *testing.T, stores map[string]Store) {
	t.Helper()
	ctx := context.Background()
	start := time.Now()
	for i, step := range storeSequence {
		charges := make([]Charge, len(step.keys))
		for j, k := range step.keys {
			charges[j] = sequenceCounters[k]
		}
		for name, store := range stores {
			switch step.op {
			case "take":
				res, err := store.TakeAll(ctx, charges, time.Now())
				if err != nil {
					t.Fatalf("step %d (take %v) on %s: %v", i, step.keys, name, err)
				}
				if res.Allowed != step.allowed {
					t.Errorf("step %d (take %v) on %s: allowed %v, want %v", i, step.keys, name, res.Allowed, step.allowed)
					continue
				}
				if res.Allowed {
					continue
				}
				period := charges[step.exhausted].Rate.Period
				earliest, latest := start.Add(period-time.Second), time.Now().Add(period+time.Second)
				if res.Exhausted != step.exhausted || res.Reset.Before(earliest) || res.Reset.After(latest) {
					t.Errorf("step %d (take %v) on %s: exhausted %d, reset %v; want %d, between %v and %v",
						i, step.keys, name, res.Exhausted, res.Reset, step.exhausted, earliest, latest)
				}
			case "peek":
				c := charges[0]
				got, err := store.Peek(ctx, c.Key, c.Kind, c.Rate)
				if err != nil {
					t.Fatalf("step %d (peek %v) on %s: %v", i, step.keys, name, err)
				}
				if got.Limit != c.Rate.Limit || got.Remaining != step.remaining {
					t.Errorf("step %d (peek %v) on %s: limit %d, remaining %d; want %d, %d",
						i, step.keys, name, got.Limit, got.Remaining, c.Rate.Limit, step.remaining)
				}
			}
		}
	}
}

func TestFromLimiterMatchesTables(t *testing.T) {
	// No clean-up interval: no cleaner goroutine, and none is needed here.
	mem := memory.NewStoreWithOptions(limiter.StoreOptions{Prefix: "test"})
	runStoreSequence(t, map[string]Store{"tables": newTables(t, TablesConfig{}), "memory": FromLimiter(mem)})
}

// benchCharges returns n sets of the charges of one signature: per IP, per
// prefix, per ASN and per class, as a policy's budgets make them.
func benchCharges(n int) [][]Charge {
	rate := limiter.Rate{Limit: 1 << 40, Period: time.Minute}
	out := make([][]Charge, n)
	for i := range out {
		c := Client{
			IP:    netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)}),
			ASN:   uint32(64500 + i%64),
			Class: "hosting",
		}
		out[i] = []Charge{
			{Key: KeyIP.Key("signatures", c), Kind: KeyIP, Rate: rate},
			{Key: KeyPrefix.Key("signatures", c), Kind: KeyPrefix, Rate: rate},
			{Key: KeyASN.Key("signatures", c), Kind: KeyASN, Rate: rate},
			{Key: KeyClass.Key("signatures", c), Kind: KeyClass, Rate: rate},
		}
	}
	return out
}

func BenchmarkTablesTakeAll(b *testing.B) {
	sets := benchCharges(1024)
	ctx := context.Background()
	now := newFakeClock().Now()

	b.Run("serial", func(b *testing.B) {
		store := newTables(b, TablesConfig{})
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := store.TakeAll(ctx, sets[i%len(sets)], now); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		store := newTables(b, TablesConfig{})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := store.TakeAll(ctx, sets[i%len(sets)], now); err != nil {
					b.Error(err)
					return
				}
				i += 7 // goroutines start together; stride so they do not march in step
			}
		})
	})
}

// BenchmarkTablesMillionKeys sends a million distinct IP keys (cycling when
// b.N is larger) through a table of 100,000, one take per op, building each
// key afresh as a request would (that string is the one allocation per op).
// It reports the peak heap in use above the starting point and the heap
// still live at the end, both in MiB.
func BenchmarkTablesMillionKeys(b *testing.B) {
	const distinct = 1_000_000
	store := newTables(b, TablesConfig{IPKeys: 100_000})
	rate := limiter.Rate{Limit: 100, Period: time.Hour}
	ctx := context.Background()
	now := newFakeClock().Now()
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
	charges := make([]Charge, 1)
	i := 0
	for b.Loop() {
		buf = strconv.AppendInt(append(buf[:0], "ip:flood:"...), int64(i%distinct), 10)
		charges[0] = Charge{Key: string(buf), Kind: KeyIP, Rate: rate}
		if _, err := store.TakeAll(ctx, charges, now); err != nil {
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
	b.ReportMetric(float64(store.Len(KeyIP)), "keys")
}
