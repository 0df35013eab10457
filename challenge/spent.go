package challenge

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"sync"
	"time"
)

// Spent remembers how often each token id was used, so that a solved
// challenge or a pass whose credits are gone is refused when presented
// again. It is bounded: at most Size ids are kept, the oldest recorded out
// first.
//
// A bounded record cannot forget an unexpired id without risk of replay, so
// Spent fails closed: when it evicts an id that has not expired yet, it
// raises a floor to that id's issue time, and from then on refuses to spend
// any id it does not know that was issued at or before the floor. Every id
// evicted unexpired was issued at or before the floor, so none can be
// replayed; tokens issued after the eviction are unaffected, whatever their
// lifetime (a fresh one-hour pass is not refused because a day pass issued
// earlier was evicted), except those issued in the same second as the
// evicted id, as tokens carry whole seconds; a client holding an older
// unspent token is simply challenged again. Size the record to hold what is
// spent within a token's lifetime and the floor never moves.
//
// An id that expired goes without raising the floor, so expiry is checked
// against the latest time any caller gave, not only the caller's own: a
// request reads its clock when it starts, and one whose body came slowly
// would otherwise still find unexpired, and so unspent, a token the record
// forgot as expired since.
//
// A million ids cost about 36 MiB: each is a fixed-size record (the id, two
// times in seconds and a count, 28 bytes) in a ring, in the order they were
// first spent, found through an open-addressed table of 4-byte positions
// kept at most three-quarters full. Nothing is allocated per id; both grow
// by doubling up to the size, so a record sized for a flood costs memory
// only once the flood comes.
type Spent struct {
	mu        sync.Mutex
	size      int
	ring      []spentEntry // grows to size, then the oldest is overwritten
	next      int          // where the next id goes once the ring is full
	index     []uint32     // ring position + 1 by hash of the id; 0 is empty
	shift     uint         // 64 - log2(len(index))
	floor     int64        // unix seconds; unknown ids issued at or before it are refused
	latest    time.Time    // the latest now given: expiry is checked against it
	evictions uint64
}

type spentEntry struct {
	id      [IDSize]byte
	issued  uint32 // unix seconds, as tokens carry it
	expires uint32 // unix seconds
	uses    uint32
}

// maxSpentSize bounds a record's size: ring positions are 32 bits.
const maxSpentSize = 1 << 30

// NewSpent returns a record of at most size ids.
func NewSpent(size int) (*Spent, error) {
	if size <= 0 || size > maxSpentSize {
		return nil, fmt.Errorf("spent-token record of size %d: want 1 to %d", size, maxSpentSize)
	}
	return &Spent{size: size, floor: minTime}, nil
}

// minTime is below any issue time: the floor before any eviction.
const minTime = math.MinInt64

// unixSeconds is t in unix seconds, within what an entry holds.
func unixSeconds(t time.Time) uint32 {
	return uint32(min(max(t.Unix(), 0), math.MaxUint32))
}

// expirySeconds is t in unix seconds rounded up: an expiry a fraction of a
// second past a whole second (a proof's, with a noscript_wait of 1.5s) must
// not be taken for passed by the eviction while Use still takes the id for
// unexpired.
func expirySeconds(t time.Time) uint32 {
	if t.Nanosecond() > 0 {
		t = t.Add(time.Second)
	}
	return unixSeconds(t)
}

// Use spends one of limit uses of id, issued at issued and expiring at
// expires. It reports false, spending nothing, when the id has expired at
// now or at the latest now given before, has already been used limit
// times, or cannot be proven unused (see the type's doc).
func (s *Spent) Use(id [IDSize]byte, limit int, issued, expires, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Before(s.latest) {
		now = s.latest
	} else {
		s.latest = now
	}
	if !now.Before(expires) {
		return false
	}
	if pos, ok := s.find(id); ok {
		e := &s.ring[pos]
		if int64(e.uses) >= int64(limit) {
			return false
		}
		e.uses++
		return true
	}
	if issued.Unix() <= s.floor || limit < 1 {
		return false
	}
	s.add(spentEntry{id: id, issued: unixSeconds(issued), expires: expirySeconds(expires), uses: 1}, now.Unix())
	return true
}

// Exhausted reports whether id has been used limit times already. An id
// Spent does not know is not exhausted: only spending fails closed.
func (s *Spent) Exhausted(id [IDSize]byte, limit int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	pos, ok := s.find(id)
	return ok && int64(s.ring[pos].uses) >= int64(limit)
}

// Len returns the number of ids recorded.
func (s *Spent) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ring)
}

// Evictions returns how many ids were forgotten before they expired, each
// of which may have raised the floor.
func (s *Spent) Evictions() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.evictions
}

// The methods below are called with s.mu held.

// slot is where id's hash starts probing in the index: the top bits of
// its words multiplied by an odd constant (Fibonacci hashing), so that ids
// that differ only in a few bits, as a test's or a benchmark's do, spread
// over the index as random ones do.
func (s *Spent) slot(id [IDSize]byte) int {
	h := (binary.LittleEndian.Uint64(id[:8]) ^ bits.RotateLeft64(binary.LittleEndian.Uint64(id[8:]), 32)) * 0x9e3779b97f4a7c15
	return int(h >> s.shift)
}

// find returns id's position in the ring.
func (s *Spent) find(id [IDSize]byte) (int, bool) {
	if len(s.index) == 0 {
		return 0, false
	}
	mask := len(s.index) - 1
	for i := s.slot(id); ; i = (i + 1) & mask {
		p := s.index[i]
		if p == 0 {
			return 0, false
		}
		if s.ring[p-1].id == id {
			return int(p - 1), true
		}
	}
}

// add records e, evicting the oldest entry when the ring is full.
func (s *Spent) add(e spentEntry, now int64) {
	if len(s.ring) < s.size {
		if len(s.ring) == cap(s.ring) {
			grown := make([]spentEntry, len(s.ring), min(max(2*cap(s.ring), 64), s.size))
			copy(grown, s.ring)
			s.ring = grown
		}
		s.ring = append(s.ring, e)
		if want := indexSize(len(s.ring)); want > len(s.index) {
			s.rehash(want)
		} else {
			s.insert(len(s.ring) - 1)
		}
		return
	}
	pos := s.next
	s.next = (s.next + 1) % s.size
	old := &s.ring[pos]
	if int64(old.expires) > now {
		s.evictions++
		s.floor = max(s.floor, int64(old.issued))
	}
	s.delete(pos)
	*old = e
	s.insert(pos)
}

// indexSize is the index's length for n entries: a power of two at least
// 4n/3, so that it stays at most three-quarters full.
func indexSize(n int) int {
	return 1 << bits.Len(uint(n*4/3))
}

// rehash rebuilds the index at length n.
func (s *Spent) rehash(n int) {
	s.index = make([]uint32, n)
	s.shift = uint(64 - bits.TrailingZeros(uint(n)))
	for pos := range s.ring {
		s.insert(pos)
	}
}

// insert indexes the ring entry at pos.
func (s *Spent) insert(pos int) {
	mask := len(s.index) - 1
	i := s.slot(s.ring[pos].id)
	for s.index[i] != 0 {
		i = (i + 1) & mask
	}
	s.index[i] = uint32(pos + 1)
}

// delete removes the ring entry at pos from the index, moving back the
// entries after it in its probe run so that none becomes unreachable
// (linear probing's deletion without tombstones).
func (s *Spent) delete(pos int) {
	mask := len(s.index) - 1
	i := s.slot(s.ring[pos].id)
	for s.index[i] != uint32(pos+1) {
		i = (i + 1) & mask
	}
	for j := (i + 1) & mask; s.index[j] != 0; j = (j + 1) & mask {
		home := s.slot(s.ring[s.index[j]-1].id)
		// Move j's entry into the hole at i unless its home lies in the
		// cyclic range (i, j]: then it is reachable without passing i.
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			s.index[i] = s.index[j]
			i = j
		}
	}
	s.index[i] = 0
}
