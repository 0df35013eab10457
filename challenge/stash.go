package challenge

import (
	"container/heap"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Submission is a request body held while its sender solves a challenge,
// so that a form interrupted by the shield still reaches the backend.
type Submission struct {
	Method      string
	Path        string // path and query, as requested
	ContentType string
	Body        []byte
	Expires     time.Time
	client      [sha256.Size]byte
}

// size is what a submission counts against the stash's byte bound: its body
// and the request line and header it keeps, all of which the sender chose.
func (sub *Submission) size() int {
	return len(sub.Body) + len(sub.Method) + len(sub.Path) + len(sub.ContentType)
}

// StashConfig bounds a Stash.
type StashConfig struct {
	// MaxEntries is the most submissions held at once.
	MaxEntries int
	// MaxBytes is the most bytes held at once, counting each submission's
	// body, method, path and content type.
	MaxBytes int
	// PerOwner is the most submissions one owner (a network's quota key)
	// holds at once; over it, that owner's own oldest goes. Zero means
	// max(8, MaxEntries/64), capped at MaxEntries.
	PerOwner int
}

// OwnerShare returns PerOwner, or its default when it is zero.
func (c StashConfig) OwnerShare() int {
	if c.PerOwner != 0 {
		return c.PerOwner
	}
	return min(max(8, c.MaxEntries/64), c.MaxEntries)
}

// Stash holds submissions, bounded in count and in bytes, and shared fairly
// between owners: the networks (ASNs or prefixes) the submissions came from.
//
// A real signer's submission waits only for the second or so a browser
// takes to solve, so the stash only has to keep it that long. A network
// that posts and never solves must not be able to push it out, so:
//
//   - each owner holds at most PerOwner submissions, its own oldest going
//     first beyond that;
//   - when the stash is full, the submission that goes is the oldest of the
//     owner holding the most: the largest share of either bound, entries
//     or bytes (between owners holding as much, the oldest submission of
//     them all).
//
// An owner therefore never pushes out a submission of an owner holding less
// than itself: a flooding network only churns through its own entries, big
// bodies go before small ones, and a signer holding one small submission
// loses it only when every owner holds as much and more than MaxEntries
// submissions arrive from distinct owners before its browser comes back.
//
// All operations are O(log owners). Memory is bounded by MaxEntries and
// MaxBytes: an owner's bookkeeping goes with its last submission.
type Stash struct {
	mu        sync.Mutex
	cfg       StashConfig
	entries   map[string]*stashEntry
	owners    map[string]*stashOwner
	full      ownerHeap // owners by entries held, most first, then by oldest entry
	bytes     int
	seq       uint64 // insertion counter: a lower seq is an older entry
	evictions uint64
	clock     func() time.Time // tells evictions from expiries; time.Now but in tests
}

type stashEntry struct {
	id         string
	sub        Submission
	size       int
	seq        uint64
	owner      *stashOwner
	prev, next *stashEntry // in the owner's list, oldest first
}

type stashOwner struct {
	key        string
	n, bytes   int
	weight     int64       // its larger share of the stash's bounds (see weigh)
	head, tail *stashEntry // oldest and newest entry
	index      int         // position in Stash.full
}

// ownerHeap orders owners so that the one whose oldest entry goes first
// when the stash is full is at the top: the one holding the largest share
// of either bound, then the one whose oldest entry is oldest.
type ownerHeap []*stashOwner

func (h ownerHeap) Len() int { return len(h) }
func (h ownerHeap) Less(i, j int) bool {
	if h[i].weight != h[j].weight {
		return h[i].weight > h[j].weight
	}
	return h[i].head.seq < h[j].head.seq
}
func (h ownerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *ownerHeap) Push(x any) {
	o := x.(*stashOwner)
	o.index = len(*h)
	*h = append(*h, o)
}
func (h *ownerHeap) Pop() any {
	old := *h
	o := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	o.index = -1
	return o
}

// NewStash returns a stash bounded by cfg.
func NewStash(cfg StashConfig) (*Stash, error) {
	if cfg.MaxEntries <= 0 || cfg.MaxBytes <= 0 || cfg.PerOwner < 0 || cfg.PerOwner > cfg.MaxEntries {
		return nil, fmt.Errorf("submission stash of %d entries, %d bytes, %d per owner: need positive bounds and at most as many per owner as in all",
			cfg.MaxEntries, cfg.MaxBytes, cfg.PerOwner)
	}
	cfg.PerOwner = cfg.OwnerShare()
	return &Stash{
		cfg:     cfg,
		entries: make(map[string]*stashEntry),
		owners:  make(map[string]*stashOwner),
		clock:   time.Now,
	}, nil
}

// clientKey condenses a binding so that only the client who sent a
// submission can release it.
func clientKey(b Binding) [sha256.Size]byte {
	h := sha256.New()
	addr := b.Network.Addr().As16()
	h.Write(addr[:])
	h.Write([]byte{byte(b.Network.Bits() + 1)})
	h.Write(appendBounded(nil, b.Host, maxBoundHost))
	h.Write(appendBounded(nil, b.UserAgent, maxBoundUserAgent))
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

var idLen = base64.RawURLEncoding.EncodedLen(IDSize)

// Put stores sub for client b, counted against owner's share, and returns
// the id that releases it. Storing it may push out older submissions (see
// the type's doc), never sub itself.
func (s *Stash) Put(sub Submission, b Binding, owner string) (string, error) {
	if n := sub.size(); n > s.cfg.MaxBytes {
		return "", fmt.Errorf("submission of %d bytes exceeds the stash's %d", n, s.cfg.MaxBytes)
	}
	sub.client = clientKey(b)
	for {
		var raw [IDSize]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return "", fmt.Errorf("reading random submission id: %w", err)
		}
		id := base64.RawURLEncoding.EncodeToString(raw[:])
		s.mu.Lock()
		if _, taken := s.entries[id]; !taken {
			s.insert(id, sub, owner)
			s.mu.Unlock()
			return id, nil
		}
		s.mu.Unlock()
	}
}

// Restore puts back under id a submission taken from the stash a moment
// ago, for client b and owner, when what should have followed the take
// failed. It is bounded like Put, and fails if id is malformed or held.
func (s *Stash) Restore(id string, sub Submission, b Binding, owner string) error {
	if len(id) != idLen {
		return errors.New("malformed submission id")
	}
	if n := sub.size(); n > s.cfg.MaxBytes {
		return fmt.Errorf("submission of %d bytes exceeds the stash's %d", n, s.cfg.MaxBytes)
	}
	sub.client = clientKey(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, held := s.entries[id]; held {
		return errors.New("submission id already held")
	}
	s.insert(id, sub, owner)
	return nil
}

// insert adds sub as the newest entry, then evicts until the bounds hold.
// The new entry is never the one evicted: it is the newest of all, its
// owner's oldest only when that owner holds nothing else, and the stash
// holds it alone within bounds (its size was checked).
func (s *Stash) insert(id string, sub Submission, owner string) {
	s.seq++
	e := &stashEntry{id: id, sub: sub, size: sub.size(), seq: s.seq}
	o := s.owners[owner]
	if o == nil {
		o = &stashOwner{key: owner}
		s.owners[owner] = o
	}
	e.owner = o
	if o.tail == nil {
		o.head = e
	} else {
		o.tail.next, e.prev = e, o.tail
	}
	o.tail = e
	o.n++
	o.bytes += e.size
	s.weigh(o)
	if o.n == 1 {
		heap.Push(&s.full, o)
	} else {
		heap.Fix(&s.full, o.index)
	}
	s.entries[id] = e
	s.bytes += e.size

	now := s.clock()
	if o.n > s.cfg.PerOwner {
		s.evict(o.head, now)
	}
	for len(s.entries) > s.cfg.MaxEntries || s.bytes > s.cfg.MaxBytes {
		top := s.full[0]
		if top.head == e {
			// The new entry's owner holds the most with it alone: the
			// next owner's oldest goes, one of the heap's two children.
			top = s.full[1]
			if len(s.full) > 2 && s.full.Less(2, 1) {
				top = s.full[2]
			}
		}
		s.evict(top.head, now)
	}
}

// weigh sets o's weight: its larger share of the two bounds, entries or
// bytes, as n/MaxEntries against bytes/MaxBytes cross-multiplied.
func (s *Stash) weigh(o *stashOwner) {
	o.weight = max(int64(o.n)*int64(s.cfg.MaxBytes), int64(o.bytes)*int64(s.cfg.MaxEntries))
}

func (s *Stash) evict(e *stashEntry, now time.Time) {
	if now.Before(e.sub.Expires) {
		s.evictions++
	}
	s.remove(e)
}

func (s *Stash) remove(e *stashEntry) {
	o := e.owner
	if e.prev == nil {
		o.head = e.next
	} else {
		e.prev.next = e.next
	}
	if e.next == nil {
		o.tail = e.prev
	} else {
		e.next.prev = e.prev
	}
	e.prev, e.next, e.owner = nil, nil, nil
	o.n--
	o.bytes -= e.size
	s.weigh(o)
	if o.n == 0 {
		heap.Remove(&s.full, o.index)
		delete(s.owners, o.key)
	} else {
		heap.Fix(&s.full, o.index)
	}
	delete(s.entries, e.id)
	s.bytes -= e.size
}

// lookup returns the entry id if it is held for b and unexpired at now,
// removing it if it has expired. The caller holds s.mu.
func (s *Stash) lookup(id string, b Binding, now time.Time) *stashEntry {
	if len(id) != idLen {
		return nil
	}
	e := s.entries[id]
	if e == nil {
		return nil
	}
	if !now.Before(e.sub.Expires) {
		s.remove(e)
		return nil
	}
	if e.sub.client != clientKey(b) {
		return nil
	}
	return e
}

// Take removes and returns the submission id if it exists, has not
// expired, and belongs to client b. A submission is released at most once.
func (s *Stash) Take(id string, b Binding, now time.Time) (Submission, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.lookup(id, b, now)
	if e == nil {
		return Submission{}, false
	}
	s.remove(e)
	return e.sub, true
}

// Peek returns the submission id without releasing it, if it exists, has
// not expired, and belongs to client b.
func (s *Stash) Peek(id string, b Binding, now time.Time) (Submission, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.lookup(id, b, now)
	if e == nil {
		return Submission{}, false
	}
	return e.sub, true
}

// Len returns the number of submissions held and the bytes they count
// against the bound.
func (s *Stash) Len() (entries, bytes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries), s.bytes
}

// Evictions returns how many submissions were pushed out, by their owner's
// share or by the stash's bounds, before they expired.
func (s *Stash) Evictions() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.evictions
}
