package challenge

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
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

// Stash holds submissions, bounded in count and in bytes. When full it
// drops the oldest first: a real signer's submission waits only for the
// second or so a browser takes to solve, so under a flood the entries
// dropped are the ones no browser came back for.
type Stash struct {
	mu       sync.Mutex
	entries  *simplelru.LRU[string, *Submission]
	bytes    int
	maxBytes int
}

// NewStash returns a stash of at most maxEntries submissions and maxBytes
// bytes of bodies.
func NewStash(maxEntries, maxBytes int) (*Stash, error) {
	s := &Stash{maxBytes: maxBytes}
	l, err := simplelru.NewLRU(maxEntries, func(_ string, sub *Submission) { s.bytes -= len(sub.Body) })
	if err != nil {
		return nil, fmt.Errorf("submission stash of %d entries: %w", maxEntries, err)
	}
	s.entries = l
	return s, nil
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

// Put stores sub for client b and returns the id that releases it.
func (s *Stash) Put(sub Submission, b Binding) (string, error) {
	if len(sub.Body) > s.maxBytes {
		return "", fmt.Errorf("submission of %d bytes exceeds the stash's %d", len(sub.Body), s.maxBytes)
	}
	var raw [IDSize]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("reading random submission id: %w", err)
	}
	id := base64.RawURLEncoding.EncodeToString(raw[:])
	sub.client = clientKey(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.bytes+len(sub.Body) > s.maxBytes {
		s.entries.RemoveOldest()
	}
	s.entries.Add(id, &sub)
	s.bytes += len(sub.Body)
	return id, nil
}

// Take removes and returns the submission id if it exists, has not
// expired, and belongs to client b. A submission is released at most once.
func (s *Stash) Take(id string, b Binding, now time.Time) (Submission, bool) {
	if len(id) != base64.RawURLEncoding.EncodedLen(IDSize) {
		return Submission{}, false
	}
	key := clientKey(b)
	s.mu.Lock()
	sub, ok := s.entries.Peek(id)
	if ok && sub.client == key {
		s.entries.Remove(id)
	} else {
		ok = false
	}
	s.mu.Unlock()
	if !ok || !now.Before(sub.Expires) {
		return Submission{}, false
	}
	return *sub, true
}

// Peek returns the submission id without releasing it, if it belongs to b.
func (s *Stash) Peek(id string, b Binding) (Submission, bool) {
	key := clientKey(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, ok := s.entries.Peek(id)
	if !ok || sub.client != key {
		return Submission{}, false
	}
	return *sub, true
}

// Len returns the number of submissions held and their total body size.
func (s *Stash) Len() (entries, bytes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.entries.Len(), s.bytes
}
