package challenge

import (
	"fmt"
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
// raises a floor to that id's expiry, and from then on refuses to spend any
// id it does not know whose expiry is at or below the floor. Tokens issued
// after the eviction expire later and are unaffected; a client holding an
// older unspent token is simply challenged again. Size the record to hold
// what can be issued within a token's lifetime and the floor never moves.
type Spent struct {
	mu    sync.Mutex
	uses  *simplelru.LRU[[IDSize]byte, spentEntry]
	floor int64 // unix seconds; unknown ids expiring at or before it are refused
	now   int64 // the time of the current operation, read by onEvict
}

type spentEntry struct {
	uses    int
	expires int64
}

// NewSpent returns a record of at most size ids.
func NewSpent(size int) (*Spent, error) {
	s := &Spent{}
	lru, err := simplelru.NewLRU(size, s.onEvict)
	if err != nil {
		return nil, fmt.Errorf("spent-token record of size %d: %w", size, err)
	}
	s.uses = lru
	return s, nil
}

func (s *Spent) onEvict(_ [IDSize]byte, e spentEntry) {
	if e.expires > s.now && e.expires > s.floor {
		s.floor = e.expires
	}
}

// Use spends one of limit uses of id, which expires at expires. It reports
// false, spending nothing, when the id has already been used limit times or
// cannot be proven unused (see the type's doc).
func (s *Spent) Use(id [IDSize]byte, limit int, expires, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now.Unix()
	e, known := s.uses.Get(id)
	if !known {
		if expires.Unix() <= s.floor {
			return false
		}
		e = spentEntry{expires: expires.Unix()}
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
