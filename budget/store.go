package budget

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ulule/limiter/v3"
	"github.com/ulule/limiter/v3/drivers/store/common"
)

// Charge is one counter that an event is counted against: the key of a
// budget's counter (made by KeyKind.Key), the kind of that key, which says
// which table holds it, and the budget's rate.
type Charge struct {
	Key  string
	Kind KeyKind
	Rate limiter.Rate
}

// TakeResult is the outcome of Store.TakeAll.
type TakeResult struct {
	// Allowed reports whether every charge was within its rate, and so
	// counted one event.
	Allowed bool
	// Exhausted is the index, in the charges given, of the charge that
	// refused the event; -1 when Allowed. When several are exhausted it is
	// the one whose window ends last (the first of them on a tie): the
	// event cannot pass before then.
	Exhausted int
	// Reset is when the exhausted charge's window ends; zero when Allowed.
	Reset time.Time
}

// Store keeps the counters of budgets.
type Store interface {
	// TakeAll counts one event against every charge, all or none: when
	// each charge's counter is below its rate's limit, it counts one event
	// on each (a key charged twice counts twice) and reports Allowed;
	// otherwise it counts nothing and reports which charge is exhausted.
	// A refused event thus costs no budget: an address over its own budget
	// does not use up its network's. The caller may reuse charges once
	// TakeAll returns: a store keeps none of it.
	TakeAll(ctx context.Context, charges []Charge, now time.Time) (TakeResult, error)
	// Peek returns key's budget without counting anything.
	Peek(ctx context.Context, key string, kind KeyKind, rate limiter.Rate) (limiter.Context, error)
}

// DefaultShards is how many shards each of a Tables' tables uses unless
// told otherwise: enough that a few dozen cores seldom contend for a lock.
const DefaultShards = 64

// How many keys each table of a Tables holds by default. Per-IP and
// per-prefix counters are many and evict each other under a flood of
// addresses; there are fewer than 2^16 ASNs in routing tables at once, so
// that table holds every network that matters; classes are a handful per
// budget.
const (
	DefaultIPKeys     = 200_000
	DefaultPrefixKeys = 200_000
	DefaultASNKeys    = 65_536
	DefaultClassKeys  = 1_024
)

// TablesConfig sizes a Tables. Zero fields take their defaults.
type TablesConfig struct {
	// IPKeys, PrefixKeys, ASNKeys and ClassKeys bound the keys of each
	// kind held (DefaultIPKeys, DefaultPrefixKeys, DefaultASNKeys and
	// DefaultClassKeys).
	IPKeys, PrefixKeys, ASNKeys, ClassKeys int
	// Shards is how many independently locked shards each table is split
	// into (DefaultShards; never more than the table's keys).
	Shards int
	// Clock is what Peek reads the time from (time.Now); TakeAll is given
	// the time by its caller.
	Clock func() time.Time
}

// Tables is the in-memory Store: one bounded LRU table per kind of key, so
// that a flood of per-IP or per-prefix keys, which evict each other, never
// evicts the few per-ASN or per-class counters that bound a network, and
// with them the network's count.
//
// Counters have the fixed-window semantics of limiter's memory store: a
// window opens at a key's first counted event and lasts one rate period; an
// expired window is reset when next touched. Nothing runs in the
// background, and counting keys already held allocates nothing. A Tables
// is safe for concurrent use; TakeAll is atomic across its charges: it
// locks the shards holding them, each once, in a fixed order.
type Tables struct {
	tables [KeyClass + 1]*shardedLRU[window] // indexed by KeyKind
	clock  func() time.Time
}

var _ Store = (*Tables)(nil)

// window is one key's counter in its current fixed window.
type window struct {
	count int64
	// expiresAt is the end of the window in Unix nanoseconds; zero for an
	// entry that has not been counted yet.
	expiresAt int64
}

// expired reports whether the window is over, with the same comparison as
// limiter's memory store.
func (w *window) expired(now int64) bool {
	return w.expiresAt == 0 || now > w.expiresAt
}

// NewTables returns a Tables sized by cfg.
func NewTables(cfg TablesConfig) (*Tables, error) {
	if cfg.Shards == 0 {
		cfg.Shards = DefaultShards
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	sizes := [KeyClass + 1]int{
		KeyIP:     cmpOr(cfg.IPKeys, DefaultIPKeys),
		KeyPrefix: cmpOr(cfg.PrefixKeys, DefaultPrefixKeys),
		KeyASN:    cmpOr(cfg.ASNKeys, DefaultASNKeys),
		KeyClass:  cmpOr(cfg.ClassKeys, DefaultClassKeys),
	}
	t := &Tables{clock: cfg.Clock}
	for kind := KeyIP; kind <= KeyClass; kind++ {
		table, err := newShardedLRU[window](sizes[kind], cfg.Shards)
		if err != nil {
			return nil, fmt.Errorf("budget tables: %s keys: %w", kind, err)
		}
		t.tables[kind] = table
	}
	return t, nil
}

func cmpOr(n, def int) int {
	if n == 0 {
		return def
	}
	return n
}

// Len returns the number of keys of kind held, never more than the table's
// size.
func (t *Tables) Len(kind KeyKind) int {
	if !kind.valid() {
		return 0
	}
	return t.tables[kind].Len()
}

// maxStackCharges is how many charges TakeAll handles without allocating.
const maxStackCharges = 8

// TakeAll implements Store. It touches, as recently used, the counters of a
// refused event that are held, so that a network that keeps knocking on an
// exhausted budget stays counted, but adds none.
func (t *Tables) TakeAll(_ context.Context, charges []Charge, now time.Time) (TakeResult, error) {
	if len(charges) == 0 {
		return TakeResult{Allowed: true, Exhausted: -1}, nil
	}
	var shardBuf [maxStackCharges]*lruShard[window]
	var keyBuf [maxStackCharges]lruKey
	var lockBuf [maxStackCharges]shardLock
	shards, keys, locks := shardBuf[:0], keyBuf[:0], lockBuf[:0]
	if len(charges) > maxStackCharges {
		shards = make([]*lruShard[window], 0, len(charges))
		keys = make([]lruKey, 0, len(charges))
		locks = make([]shardLock, 0, len(charges))
	}
	for i := range charges {
		c := &charges[i]
		if !c.Kind.valid() {
			return TakeResult{}, fmt.Errorf("budget charge %d (%q): invalid key kind %d", i, c.Key, c.Kind)
		}
		if c.Rate.Period <= 0 {
			return TakeResult{}, fmt.Errorf("budget charge %d (%q): rate period must be positive, got %v", i, c.Key, c.Rate.Period)
		}
		table := t.tables[c.Kind]
		k := table.key(c.Key)
		idx := table.shardIndex(k)
		sh := &table.shards[idx]
		shards = append(shards, sh)
		keys = append(keys, k)
		locks = addLock(locks, shardLock{order: uint64(c.Kind)<<32 | uint64(idx), mu: &sh.mu})
	}
	for _, l := range locks {
		l.mu.Lock()
	}
	res := take(charges, keys, shards, now.UnixNano())
	for i := len(locks) - 1; i >= 0; i-- {
		locks[i].mu.Unlock()
	}
	return res, nil
}

// take is TakeAll with the shards of the charges locked; keys are the
// charges' digests.
func take(charges []Charge, keys []lruKey, shards []*lruShard[window], now int64) TakeResult {
	res := TakeResult{Allowed: true, Exhausted: -1}
	var resetAt int64
	for i := range charges {
		c := &charges[i]
		var count int64
		expiresAt := now + int64(c.Rate.Period)
		if w, ok := shards[i].get(keys[i]); ok && !w.expired(now) {
			count, expiresAt = w.count, w.expiresAt
		}
		count += int64(earlierCharges(charges, i))
		if count < c.Rate.Limit {
			continue
		}
		if res.Allowed || expiresAt > resetAt {
			res.Allowed, res.Exhausted, resetAt = false, i, expiresAt
		}
	}
	if !res.Allowed {
		res.Reset = time.Unix(0, resetAt)
		return res
	}
	for i := range charges {
		c := &charges[i]
		w, _ := shards[i].getOrAdd(keys[i])
		if w.expired(now) {
			w.count = 0
			w.expiresAt = now + int64(c.Rate.Period)
		}
		w.count++
	}
	return res
}

// earlierCharges returns how many of charges[:i] are charges[i]'s counter.
func earlierCharges(charges []Charge, i int) int {
	n := 0
	for j := range i {
		if charges[j].Kind == charges[i].Kind && charges[j].Key == charges[i].Key {
			n++
		}
	}
	return n
}

// shardLock is a shard's mutex and its place in the one order in which
// every TakeAll takes locks, so that two never wait for each other.
type shardLock struct {
	order uint64 // kind << 32 | shard index
	mu    *sync.Mutex
}

// addLock inserts l into locks, kept sorted by order, unless it is there.
func addLock(locks []shardLock, l shardLock) []shardLock {
	i := len(locks)
	for i > 0 && locks[i-1].order > l.order {
		i--
	}
	if i > 0 && locks[i-1].order == l.order {
		return locks
	}
	locks = append(locks, shardLock{})
	copy(locks[i+1:], locks[i:])
	locks[i] = l
	return locks
}

// Peek implements Store. It does not refresh the key's place in the LRU
// order; a key whose window is over is dropped, which frees its slot and
// gives the same answer as resetting it.
func (t *Tables) Peek(_ context.Context, key string, kind KeyKind, rate limiter.Rate) (limiter.Context, error) {
	if !kind.valid() {
		return limiter.Context{}, fmt.Errorf("budget peek %q: invalid key kind %d", key, kind)
	}
	now := t.clock()
	var count int64
	expiresAt := now.Add(rate.Period).UnixNano()
	table := t.tables[kind]
	k := table.key(key)
	sh := table.shard(k)
	sh.mu.Lock()
	if w, ok := sh.peek(k); ok {
		if w.expired(now.UnixNano()) {
			sh.remove(k)
		} else {
			count, expiresAt = w.count, w.expiresAt
		}
	}
	sh.mu.Unlock()
	return common.GetContextFromState(now, rate, time.Unix(0, expiresAt), count), nil
}

// FromLimiter adapts a limiter.Store, such as limiter's Redis store shared
// by several instances, to a Store. Keys of all kinds share the store's one
// namespace (keys made by KeyKind.Key never collide across kinds), and the
// store's own clock applies: TakeAll's now is not used.
//
// Its TakeAll peeks every charge, then, when all are within their rates,
// increments each. That is all-or-none for one instance, but not atomic
// across instances: two instances may both see the last unit of a budget
// free. An increment that finds its budget already over refuses the event,
// so the limit holds, but the charges incremented before it stay counted.
// A Lua-scripted Redis store will make it atomic.
func FromLimiter(s limiter.Store) Store {
	return limiterStore{s}
}

type limiterStore struct{ store limiter.Store }

func (s limiterStore) TakeAll(ctx context.Context, charges []Charge, _ time.Time) (TakeResult, error) {
	res := TakeResult{Allowed: true, Exhausted: -1}
	for i := range charges {
		c := &charges[i]
		lc, err := s.store.Peek(ctx, c.Key, c.Rate)
		if err != nil {
			return TakeResult{}, fmt.Errorf("budget %q: %w", c.Key, err)
		}
		if lc.Remaining > int64(earlierCharges(charges, i)) {
			continue
		}
		if reset := time.Unix(lc.Reset, 0); res.Allowed || reset.After(res.Reset) {
			res = TakeResult{Exhausted: i, Reset: reset}
		}
	}
	if !res.Allowed {
		return res, nil
	}
	for i := range charges {
		c := &charges[i]
		lc, err := s.store.Increment(ctx, c.Key, 1, c.Rate)
		if err != nil {
			return TakeResult{}, fmt.Errorf("budget %q: %w", c.Key, err)
		}
		if lc.Reached {
			// Another instance took the last of it since the peek.
			return TakeResult{Exhausted: i, Reset: time.Unix(lc.Reset, 0)}, nil
		}
	}
	return res, nil
}

func (s limiterStore) Peek(ctx context.Context, key string, _ KeyKind, rate limiter.Rate) (limiter.Context, error) {
	return s.store.Peek(ctx, key, rate)
}
