package budget

import (
	"fmt"
	"hash/maphash"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// shardedLRU spreads keys over small LRU tables, each behind its own mutex,
// so that requests for different keys rarely wait for each other and the set
// as a whole never holds more than its capacity.
//
// It uses simplelru rather than lru.Cache: callers need a read-modify-write
// under one lock anyway, and lru.Cache would take a second, useless one.
// (The expirable LRU is out of the question: it starts a goroutine that
// cannot be stopped.)
type shardedLRU[V any] struct {
	seed   maphash.Seed
	shards []lruShard[V]
}

type lruShard[V any] struct {
	mu       sync.Mutex
	table    *simplelru.LRU[string, *V]
	capacity int
	// Pad each shard to a 64-byte cache line so that locking one shard does
	// not slow down the cores working on its neighbours.
	_ [40]byte
}

// newShardedLRU returns a set of at most capacity entries over at most
// shards shards (fewer when capacity is smaller, so that each holds one).
func newShardedLRU[V any](capacity, shards int) (*shardedLRU[V], error) {
	if capacity <= 0 {
		return nil, fmt.Errorf("capacity must be positive, got %d", capacity)
	}
	if shards <= 0 {
		return nil, fmt.Errorf("shard count must be positive, got %d", shards)
	}
	shards = min(shards, capacity)
	s := &shardedLRU[V]{seed: maphash.MakeSeed(), shards: make([]lruShard[V], shards)}
	for i := range s.shards {
		// Share the capacity out exactly, so that the total is capacity.
		size := capacity / shards
		if i < capacity%shards {
			size++
		}
		table, err := simplelru.NewLRU[string, *V](size, nil)
		if err != nil {
			return nil, err
		}
		s.shards[i].table = table
		s.shards[i].capacity = size
	}
	return s, nil
}

// shard returns the shard that holds key.
func (s *shardedLRU[V]) shard(key string) *lruShard[V] {
	return &s.shards[maphash.String(s.seed, key)%uint64(len(s.shards))]
}

// Len returns the number of entries held.
func (s *shardedLRU[V]) Len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += sh.table.Len()
		sh.mu.Unlock()
	}
	return n
}

// getOrAdd returns key's entry and marks it most recently used. A missing
// key gets a zeroed entry; when the shard is full, the least recently used
// entry makes room and its memory is reused, so a flood of new keys does not
// allocate entries. The caller holds sh.mu.
func (sh *lruShard[V]) getOrAdd(key string) (entry *V, added bool) {
	if entry, ok := sh.table.Get(key); ok {
		return entry, false
	}
	if sh.table.Len() >= sh.capacity {
		_, entry, _ = sh.table.RemoveOldest()
		var zero V
		*entry = zero
	} else {
		entry = new(V)
	}
	sh.table.Add(key, entry)
	return entry, true
}
