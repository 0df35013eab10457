package budget

import (
	"fmt"
	"hash/maphash"
	"math/bits"
	"sync"
)

// shardedLRU spreads keys over small LRU tables, each behind its own mutex,
// so that requests for different keys rarely wait for each other and the set
// as a whole never holds more than its capacity.
//
// Each shard is a fixed array of slots threaded on an intrusive doubly
// linked list, with an open-addressed index from key to slot (4 bytes a
// position, at most three-quarters full; Go's maps cost about six times
// that here, as deletions leave them larger): a slot is reused in place
// when its key is evicted or removed, so that once a shard has filled, a
// flood of new keys allocates nothing here. Callers do their
// read-modify-write under the shard's lock.
//
// Keys are held as 128-bit digests (two hashes of the key under seeds drawn
// at start), not as strings: 16 bytes in place of a string header and its
// bytes, no pointer for the garbage collector to follow, and no copy of
// the caller's key kept. Two keys collide with probability 2^-128, and the
// seeds are not known outside the process, so no one can make them.
type shardedLRU[V any] struct {
	seeds  [2]maphash.Seed
	shards []lruShard[V]
}

// lruKey is a key's digest.
type lruKey [2]uint64

// none marks the end of a slot list.
const none = -1

type lruShard[V any] struct {
	mu       sync.Mutex
	index    []int32      // slot + 1 by the key's second word; 0 is empty
	shift    uint         // 64 - log2(len(index))
	n        int          // keys held
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
	key        lruKey
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
	s := &shardedLRU[V]{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}, shards: make([]lruShard[V], shards)}
	for i := range s.shards {
		// Share the capacity out exactly, so that the total is capacity.
		size := capacity / shards
		if i < capacity%shards {
			size++
		}
		sh := &s.shards[i]
		sh.capacity = size
		sh.head, sh.tail, sh.free = none, none, none
	}
	return s, nil
}

// key returns key's digest.
func (s *shardedLRU[V]) key(key string) lruKey {
	return lruKey{maphash.String(s.seeds[0], key), maphash.String(s.seeds[1], key)}
}

// shardIndex returns the index of the shard that holds k.
func (s *shardedLRU[V]) shardIndex(k lruKey) int {
	return int(k[0] % uint64(len(s.shards)))
}

// shard returns the shard that holds k.
func (s *shardedLRU[V]) shard(k lruKey) *lruShard[V] {
	return &s.shards[s.shardIndex(k)]
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

func (sh *lruShard[V]) len() int { return sh.n }

// home is where key starts probing in the index.
func (sh *lruShard[V]) home(key lruKey) int { return int(key[1] >> sh.shift) }

// find returns key's slot.
func (sh *lruShard[V]) find(key lruKey) (int32, bool) {
	if len(sh.index) == 0 {
		return 0, false
	}
	mask := len(sh.index) - 1
	for at := sh.home(key); ; at = (at + 1) & mask {
		i := sh.index[at]
		if i == 0 {
			return 0, false
		}
		if sh.slots[i-1].key == key {
			return i - 1, true
		}
	}
}

// indexSlot records that slot i holds its key.
func (sh *lruShard[V]) indexSlot(i int32) {
	mask := len(sh.index) - 1
	at := sh.home(sh.slots[i].key)
	for sh.index[at] != 0 {
		at = (at + 1) & mask
	}
	sh.index[at] = i + 1
}

// unindexSlot forgets slot i's key, moving back the keys after it in its
// probe run so that none becomes unreachable (linear probing's deletion
// without tombstones).
func (sh *lruShard[V]) unindexSlot(i int32) {
	mask := len(sh.index) - 1
	at := sh.home(sh.slots[i].key)
	for sh.index[at] != i+1 {
		at = (at + 1) & mask
	}
	for j := (at + 1) & mask; sh.index[j] != 0; j = (j + 1) & mask {
		home := sh.home(sh.slots[sh.index[j]-1].key)
		// Move j's key into the hole unless its home lies in the cyclic
		// range (hole, j]: then it is reachable without the hole.
		if (j > at && (home <= at || home > j)) || (j < at && home <= at && home > j) {
			sh.index[at] = sh.index[j]
			at = j
		}
	}
	sh.index[at] = 0
}

// growIndex makes the index large enough for n keys, at most
// three-quarters full, re-indexing the keys held.
func (sh *lruShard[V]) growIndex(n int) {
	size := 1 << bits.Len(uint(n*4/3))
	if size <= len(sh.index) {
		return
	}
	sh.index = make([]int32, size)
	sh.shift = uint(64 - bits.TrailingZeros(uint(size)))
	for i := sh.head; i != none; i = sh.slots[i].next {
		sh.indexSlot(i)
	}
}

// peek returns key's entry without changing its place in the LRU order.
func (sh *lruShard[V]) peek(key lruKey) (*V, bool) {
	i, ok := sh.find(key)
	if !ok {
		return nil, false
	}
	return &sh.slots[i].value, true
}

// get returns key's entry and marks it most recently used.
func (sh *lruShard[V]) get(key lruKey) (*V, bool) {
	i, ok := sh.find(key)
	if !ok {
		return nil, false
	}
	sh.toFront(i)
	return &sh.slots[i].value, true
}

// getOrAdd returns key's entry and marks it most recently used. A missing
// key gets a zeroed entry; when the shard is full, the least recently used
// entry makes room and its slot is reused.
func (sh *lruShard[V]) getOrAdd(key lruKey) (entry *V, added bool) {
	if i, ok := sh.find(key); ok {
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
		sh.unindexSlot(i)
		sh.unlink(i)
		sh.n--
	}
	slot := &sh.slots[i]
	var zero V
	slot.key, slot.value = key, zero
	sh.pushFront(i)
	sh.n++
	if len(sh.index) == 0 || sh.n > len(sh.index)*3/4 {
		sh.growIndex(sh.n) // indexes the new key too
	} else {
		sh.indexSlot(i)
	}
	return &slot.value, true
}

// remove forgets key, if held, and frees its slot.
func (sh *lruShard[V]) remove(key lruKey) {
	i, ok := sh.find(key)
	if !ok {
		return
	}
	sh.unindexSlot(i)
	sh.unlink(i)
	sh.n--
	slot := &sh.slots[i]
	var zero V
	slot.key, slot.value = lruKey{}, zero
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
