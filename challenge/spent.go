package challenge

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Spent remembers how often each token id was used, so that a solved
// challenge or a pass whose credits are gone is refused when presented
// again. It is bounded: at most Size ids are kept, least recently used out
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
// unspent token is simply challenged again. Size the record to hold what is spent within a token's
// lifetime and the floor never moves.
type Spent struct {
	mu        sync.Mutex
	uses      *simplelru.LRU[[IDSize]byte, spentEntry]
	floor     int64 // unix seconds; unknown ids issued at or before it are refused
	now       int64 // unix seconds of the current operation, read by onEvict
	evictions uint64
}

type spentEntry struct {
	issued  int64 // unix seconds, as tokens carry it
	expires int64 // unix seconds
	uses    int
}

// NewSpent returns a record of at most size ids.
func NewSpent(size int) (*Spent, error) {
	s := &Spent{floor: minTime}
	lru, err := simplelru.NewLRU(size, s.onEvict)
	if err != nil {
		return nil, fmt.Errorf("spent-token record of size %d: %w", size, err)
	}
	s.uses = lru
	return s, nil
}

// minTime is below any issue time: the floor before any eviction.
const minTime = math.MinInt64

func (s *Spent) onEvict(_ [IDSize]byte, e spentEntry) {
	if e.expires <= s.now {
		return // expired: it cannot be presented again
	}
	s.evictions++
	if e.issued > s.floor {
		s.floor = e.issued
	}
}

// Use spends one of limit uses of id, issued at issued and expiring at
// expires. It reports false, spending nothing, when the id has expired at
// now, has already been used limit times, or cannot be proven unused (see
// the type's doc).
func (s *Spent) Use(id [IDSize]byte, limit int, issued, expires, now time.Time) bool {
	if !now.Before(expires) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now.Unix()
	e, known := s.uses.Get(id)
	if !known {
		if issued.Unix() <= s.floor {
			return false
		}
		e = spentEntry{issued: issued.Unix(), expires: expires.Unix()}
	}
	if e.uses >= limit {
		return false
	}
	e.uses++
	s.uses.Add(id, e)
	return true
}

// Exhausted reports whether id has been used limit times already. An id
// Spent does not know is not exhausted: only spending fails closed.
func (s *Spent) Exhausted(id [IDSize]byte, limit int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, known := s.uses.Peek(id)
	return known && e.uses >= limit
}

// Len returns the number of ids recorded.
func (s *Spent) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.uses.Len()
}

// Evictions returns how many ids were forgotten before they expired, each
// of which may have raised the floor.
func (s *Spent) Evictions() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.evictions
}
