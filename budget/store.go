package budget

import (
	"context"
	"fmt"
	"time"

	"github.com/ulule/limiter/v3"
	"github.com/ulule/limiter/v3/drivers/store/common"
)

// DefaultShards is how many shards an LRUStore uses unless told otherwise:
// enough that a few dozen cores seldom contend for the same lock.
const DefaultShards = 64

// LRUStore is a limiter.Store with the fixed-window semantics of limiter's
// memory store (a window opens at a key's first increment and lasts one
// rate period; an expired window is reset when next touched) but holding at
// most a fixed number of keys, evicting the least recently used. It starts
// no goroutine. See the package documentation for what eviction means.
//
// Like limiter's memory store, it ignores the context: nothing it does
// blocks on I/O.
type LRUStore struct {
	windows *shardedLRU[window]
	now     func() time.Time
}

var _ limiter.Store = (*LRUStore)(nil)

// window is one key's counter in its current fixed window.
type window struct {
	count int64
	// expiresAt is the end of the window in Unix nanoseconds; zero for an
	// entry that has not been counted yet.
	expiresAt int64
}

// expired reports whether the window is over, with the same comparison as
// limiter's memory store.
func (w *window) expired(now time.Time) bool {
	return w.expiresAt == 0 || now.UnixNano() > w.expiresAt
}

// StoreOption configures an LRUStore.
type StoreOption func(*storeOptions)

type storeOptions struct {
	shards int
	now    func() time.Time
}

// WithShards sets how many independently locked shards the store uses
// (DefaultShards by default; never more than maxKeys).
func WithShards(n int) StoreOption {
	return func(o *storeOptions) { o.shards = n }
}

// WithClock replaces time.Now, so that tests can move through windows
// without sleeping.
func WithClock(now func() time.Time) StoreOption {
	return func(o *storeOptions) { o.now = now }
}

// NewLRUStore returns a store holding at most maxKeys keys.
func NewLRUStore(maxKeys int, opts ...StoreOption) (*LRUStore, error) {
	o := storeOptions{shards: DefaultShards, now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if o.now == nil {
		return nil, fmt.Errorf("budget store: clock must not be nil")
	}
	windows, err := newShardedLRU[window](maxKeys, o.shards)
	if err != nil {
		return nil, fmt.Errorf("budget store: %w", err)
	}
	return &LRUStore{windows: windows, now: o.now}, nil
}

// Len returns the number of keys held, never more than the maxKeys given to
// NewLRUStore.
func (s *LRUStore) Len() int {
	return s.windows.Len()
}

// Get counts one more event for key and returns its budget.
func (s *LRUStore) Get(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	return s.Increment(ctx, key, 1, rate)
}

// Increment counts count more events for key and returns its budget.
func (s *LRUStore) Increment(_ context.Context, key string, count int64, rate limiter.Rate) (limiter.Context, error) {
	now := s.now()
	sh := s.windows.shard(key)
	sh.mu.Lock()
	w, _ := sh.getOrAdd(key)
	if w.expired(now) {
		w.count = 0
		w.expiresAt = now.Add(rate.Period).UnixNano()
	}
	w.count += count
	total, expiresAt := w.count, w.expiresAt
	sh.mu.Unlock()
	return common.GetContextFromState(now, rate, time.Unix(0, expiresAt), total), nil
}

// Peek returns key's budget without counting anything or refreshing the
// key's place in the LRU order.
func (s *LRUStore) Peek(_ context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	now := s.now()
	var count int64
	expiresAt := now.Add(rate.Period).UnixNano()
	sh := s.windows.shard(key)
	sh.mu.Lock()
	if w, ok := sh.table.Peek(key); ok {
		if w.expired(now) {
			// Same answer as resetting it, and the slot is free for another key.
			sh.table.Remove(key)
		} else {
			count, expiresAt = w.count, w.expiresAt
		}
	}
	sh.mu.Unlock()
	return common.GetContextFromState(now, rate, time.Unix(0, expiresAt), count), nil
}

// Reset forgets key's count: its next increment opens a fresh window.
func (s *LRUStore) Reset(_ context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	now := s.now()
	sh := s.windows.shard(key)
	sh.mu.Lock()
	sh.table.Remove(key)
	sh.mu.Unlock()
	return common.GetContextFromState(now, rate, now.Add(rate.Period), 0), nil
}
