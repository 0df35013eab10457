package budget

import (
	"fmt"
	"hash/maphash"
	"sync"
)

// shardedLRU spreads keys over small LRU tables, each behind its own mutex,
// so that requests for different keys rarely wait for each other and the set
// as a whole never holds more than its capacity.
//
// Each shard is a fixed array of slots threaded on an intrusive doubly
// linked list, with a map from key to slot: a slot is reused in place when
// its key is evicted or removed, so that once a shard has filled, a flood of
// new keys allocates nothing here (the map reuses the slots of deleted
// keys). Callers do their read-modify-write under the shard's lock.
type shardedLRU[V any] struct {
	seed   maphash.Seed
	shards []lruShard[V]
}

// none marks the end of a slot list.
const none = -1

type lruShard[V any] struct {
	mu       sync.Mutex
	index    map[string]int32
	slots    []lruSlot[V] // grows up to capacity, never beyond
	head     int32        // most recently used, or none
	tail     int32        // least recently used, or none
	free     int32        // first slot freed by remove, chained by next, or none
	capacity int
	// Keep a cache line between the fields of neighbouring shards, so that
	// locking one shard does not slow down the cores working on another.
	_ [64]byte
}

type lruSlot[V any] struct {
	key        string
	prev, next int32
	value      V
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
	if capacity/shards >= 1<<31-1 {
		return nil, fmt.Errorf("capacity %d too large", capacity)
	}
	s := &shardedLRU[V]{seed: maphash.MakeSeed(), shards: make([]lruShard[V], shards)}
	for i := range s.shards {
		// Share the capacity out exactly, so that the total is capacity.
		size := capacity / shards
		if i < capacity%shards {
			size++
		}
		sh := &s.shards[i]
		sh.capacity = size
		sh.index = make(map[string]int32)
		sh.head, sh.tail, sh.free = none, none, none
	}
	return s, nil
}

// shardIndex returns the index of the shard that holds key.
func (s *shardedLRU[V]) shardIndex(key string) int {
	return int(maphash.String(s.seed, key) % uint64(len(s.shards)))
}

// shard returns the shard that holds key.
func (s *shardedLRU[V]) shard(key string) *lruShard[V] {
	return &s.shards[s.shardIndex(key)]
}

// Len returns the number of entries held.
func (s *shardedLRU[V]) Len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += sh.len()
		sh.mu.Unlock()
	}
	return n
}

// The methods below are called with sh.mu held.

func (sh *lruShard[V]) len() int { return len(sh.index) }

// peek returns key's entry without changing its place in the LRU order.
func (sh *lruShard[V]) peek(key string) (*V, bool) {
	i, ok := sh.index[key]
	if !ok {
		return nil, false
	}
	return &sh.slots[i].value, true
}

// get returns key's entry and marks it most recently used.
func (sh *lruShard[V]) get(key string) (*V, bool) {
	i, ok := sh.index[key]
	if !ok {
		return nil, false
	}
	sh.toFront(i)
	return &sh.slots[i].value, true
}

// getOrAdd returns key's entry and marks it most recently used. A missing
// key gets a zeroed entry; when the shard is full, the least recently used
// entry makes room and its slot is reused.
func (sh *lruShard[V]) getOrAdd(key string) (entry *V, added bool) {
	if i, ok := sh.index[key]; ok {
		sh.toFront(i)
		return &sh.slots[i].value, false
	}
	var i int32
	switch {
	case sh.free != none:
		i = sh.free
		sh.free = sh.slots[i].next
	case len(sh.slots) < sh.capacity:
		if len(sh.slots) == cap(sh.slots) {
			// Grow by doubling up to the capacity, so that a table sized
			// for a flood costs memory only once the flood comes.
			grown := make([]lruSlot[V], len(sh.slots), min(max(2*cap(sh.slots), 8), sh.capacity))
			copy(grown, sh.slots)
			sh.slots = grown
		}
		i = int32(len(sh.slots))
		sh.slots = sh.slots[:i+1]
	default:
		i = sh.tail
		delete(sh.index, sh.slots[i].key)
		sh.unlink(i)
	}
	slot := &sh.slots[i]
	var zero V
	slot.key, slot.value = key, zero
	sh.index[key] = i
	sh.pushFront(i)
	return &slot.value, true
}

// remove forgets key, if held, and frees its slot.
func (sh *lruShard[V]) remove(key string) {
	i, ok := sh.index[key]
	if !ok {
		return
	}
	delete(sh.index, key)
	sh.unlink(i)
	slot := &sh.slots[i]
	var zero V
	slot.key, slot.value = "", zero
	slot.prev, slot.next = none, sh.free
	sh.free = i
}

func (sh *lruShard[V]) toFront(i int32) {
	if sh.head == i {
		return
	}
	sh.unlink(i)
	sh.pushFront(i)
}

func (sh *lruShard[V]) unlink(i int32) {
	slot := &sh.slots[i]
	if slot.prev != none {
		sh.slots[slot.prev].next = slot.next
	} else {
		sh.head = slot.next
	}
	if slot.next != none {
		sh.slots[slot.next].prev = slot.prev
	} else {
		sh.tail = slot.prev
	}
	slot.prev, slot.next = none, none
}

func (sh *lruShard[V]) pushFront(i int32) {
	slot := &sh.slots[i]
	slot.prev, slot.next = none, sh.head
	if sh.head != none {
		sh.slots[sh.head].prev = i
	} else {
		sh.tail = i
	}
	sh.head = i
}
