package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/store"
)

// Stash holds submissions in Redis, one hash per submission (client key,
// owner, data) expiring with it, and one sorted set per owner and one for
// the site, by expiry, that bound what each owner and the site hold: over
// its share an owner's oldest goes, over the site's bounds (MaxEntries,
// MaxBytes) the oldest of the owner holding the largest share of either
// bound, as in challenge.Stash, so that a flood from many networks, of
// entries or of bytes, never pushes out the submission of one holding
// less; a sorted set ranks the owners, with each owner's bytes in a hash.
// The site's bytes are one counter, with each submission's size and owner
// in one hash that outlives the submission: Put first forgets what has
// expired, so the counters never stay inflated.
// Take checks the client and deletes in one script, so a submission is
// released once whichever instance the browser comes back to.
//
// When Redis does not answer, a submission is held in this instance's
// memory (bounded like the stash) and moved to Redis as soon as it
// answers; until then only this instance can release it.
type Stash struct {
	b     *Backend
	keys  siteKeys
	cfg   challenge.StashConfig
	local *localStash
}

var idLen = base64.RawURLEncoding.EncodedLen(challenge.IDSize)

func (s *Stash) entryKey(id string) string    { return s.keys.base + "s:" + id }
func (s *Stash) allKey() string               { return s.keys.base + "sa" }
func (s *Stash) ownerPrefix() string          { return s.keys.base + "so:" }
func (s *Stash) ownerKey(owner string) string { return s.ownerPrefix() + owner }

func (s *Stash) bytesKey() string { return s.keys.base + "sb" }
func (s *Stash) indexKey() string { return s.keys.base + "si" }

// ownersKey ranks the owners by share and age (see stashLua); it was "sw"
// when the score was a count, whose members a site upgraded leaves to
// expire unread.
func (s *Stash) ownersKey() string { return s.keys.base + "sr" }
func (s *Stash) sizesKey() string  { return s.keys.base + "sz" }

// shareWeights returns what an entry and a byte weigh in an owner's share
// of the stash, max(entries × perEntry, bytes × perByte): entries/MaxEntries
// against bytes/MaxBytes cross-multiplied, reduced by their greatest common
// divisor so that the products stay exact in Lua's doubles (with the
// defaults, 8192 and 1).
func shareWeights(cfg challenge.StashConfig) (perEntry, perByte int) {
	a, b := cfg.MaxBytes, cfg.MaxEntries
	for b != 0 {
		a, b = b, a%b
	}
	if a == 0 {
		return 1, 1
	}
	return cfg.MaxBytes / a, cfg.MaxEntries / a
}

// size is what a submission counts against MaxBytes, as in
// challenge.Stash: its body and the request line and header it keeps.
func size(sub challenge.Submission) int {
	return len(sub.Body) + len(sub.Method) + len(sub.Path) + len(sub.ContentType)
}

func (s *Stash) check(sub challenge.Submission) error {
	if n := size(sub); n > s.cfg.MaxBytes {
		return fmt.Errorf("submission of %d bytes exceeds the stash's %d", n, s.cfg.MaxBytes)
	}
	return nil
}

// Put holds sub for client b under a fresh id; when Redis does not
// answer, it is held in memory instead, under an id that says so (see
// localID).
func (s *Stash) Put(ctx context.Context, sub challenge.Submission, b challenge.Binding, owner string) (string, error) {
	if err := s.check(sub); err != nil {
		return "", err
	}
	client := challenge.BindingKey(b)
	for {
		id, err := newID(false, time.Time{})
		if err != nil {
			return "", err
		}
		err = s.putRedis(ctx, id, sub, client, owner, time.Now())
		if errors.Is(err, errHeld) {
			continue
		}
		if errors.Is(err, store.ErrUnavailable) {
			if id, err = newID(true, sub.Expires); err != nil {
				return "", err
			}
			if s.local.put(id, localEntry{client: client, owner: owner, sub: sub}) {
				return id, nil
			}
			return "", fmt.Errorf("redis store: holding a submission in memory while Redis is away: the memory stash refused it")
		}
		if err != nil {
			return "", err
		}
		return id, nil
	}
}

// localMark starts the raw id of a submission held in one instance's
// memory while Redis was away; the four bytes after it are the
// submission's expiry (unix seconds). Until then, an instance that finds
// no such id in Redis answers that the store is unavailable (the client
// retries, and finds it once its instance has moved it to Redis), not
// that it is gone.
const localMark = 0xff

// newID returns a random submission id; local ids carry localMark and the
// expiry, other ids never start with localMark.
func newID(local bool, expires time.Time) (string, error) {
	var raw [challenge.IDSize]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("reading random submission id: %w", err)
	}
	if local {
		raw[0] = localMark
		binary.BigEndian.PutUint32(raw[1:5], uint32(max(expires.Unix(), 0)))
	} else if raw[0] == localMark {
		raw[0] = 0
	}
	return base64.RawURLEncoding.EncodeToString(raw[:]), nil
}

// heldElsewhere reports whether id names a submission held in another
// instance's memory that may not have reached Redis yet at now.
func heldElsewhere(id string, now time.Time) bool {
	raw, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil || len(raw) != challenge.IDSize || raw[0] != localMark {
		return false
	}
	return now.Unix() < int64(binary.BigEndian.Uint32(raw[1:5]))
}

var errHeld = errors.New("submission id already held")

// Restore puts sub back under id.
func (s *Stash) Restore(ctx context.Context, id string, sub challenge.Submission, b challenge.Binding, owner string) error {
	if len(id) != idLen {
		return errors.New("malformed submission id")
	}
	if err := s.check(sub); err != nil {
		return err
	}
	return s.put(ctx, id, sub, challenge.BindingKey(b), owner, time.Now())
}

// put holds sub under id in Redis or, when Redis does not answer, in
// memory. The caller's cancellation is an error, not a reason to hold
// locally.
func (s *Stash) put(ctx context.Context, id string, sub challenge.Submission, client [32]byte, owner string, now time.Time) error {
	err := s.putRedis(ctx, id, sub, client, owner, now)
	if err == nil || !errors.Is(err, store.ErrUnavailable) {
		return err
	}
	if s.local.put(id, localEntry{client: client, owner: owner, sub: sub}) {
		return nil
	}
	return err
}

func (s *Stash) putRedis(ctx context.Context, id string, sub challenge.Submission, client [32]byte, owner string, now time.Time) error {
	if !now.Before(sub.Expires) {
		return nil // expired already: holding it would release nothing
	}
	perEntry, perByte := shareWeights(s.cfg)
	v, err := s.b.call(ctx, "holding a submission", stashPutScript,
		[]string{s.entryKey(id), s.ownerKey(owner), s.allKey(), s.bytesKey(), s.indexKey(), s.ownersKey(), s.sizesKey()},
		client[:], owner, encodeSubmission(sub), sub.Expires.UnixMilli(), now.UnixMilli(),
		s.cfg.PerOwner, s.cfg.MaxEntries, s.ownerPrefix(), size(sub), s.cfg.MaxBytes, perEntry, perByte)
	if err != nil {
		return err
	}
	if n, _ := v.(int64); n == 0 {
		return errHeld
	}
	return nil
}

// Peek returns the submission id if it is held for b and unexpired.
func (s *Stash) Peek(ctx context.Context, id string, b challenge.Binding, now time.Time) (challenge.Submission, bool, error) {
	return s.get(ctx, id, b, now, false)
}

// Take releases the submission id to b, once.
func (s *Stash) Take(ctx context.Context, id string, b challenge.Binding, now time.Time) (challenge.Submission, bool, error) {
	return s.get(ctx, id, b, now, true)
}

func (s *Stash) get(ctx context.Context, id string, b challenge.Binding, now time.Time, take bool) (challenge.Submission, bool, error) {
	if len(id) != idLen {
		return challenge.Submission{}, false, ctx.Err()
	}
	client := challenge.BindingKey(b)
	if sub, ok := s.local.get(id, client, now, take); ok {
		return sub, true, nil
	}
	script, keys, what := stashPeekScript, []string{s.entryKey(id)}, "reading a held submission"
	if take {
		script, keys, what = stashTakeScript, []string{s.entryKey(id), s.allKey(), s.bytesKey(), s.indexKey(), s.ownersKey(), s.sizesKey()}, "releasing a held submission"
	}
	args := []any{client[:]}
	if take {
		perEntry, perByte := shareWeights(s.cfg)
		args = append(args, s.ownerPrefix(), perEntry, perByte)
	}
	v, err := s.b.call(ctx, what, script, keys, args...)
	if err != nil {
		return challenge.Submission{}, false, err
	}
	if v == nil {
		if heldElsewhere(id, now) {
			return challenge.Submission{}, false, fmt.Errorf("redis store: %s: %w: held in another instance's memory, not yet in Redis", what, store.ErrUnavailable)
		}
		return challenge.Submission{}, false, nil
	}
	data, ok := v.(string)
	if !ok {
		return challenge.Submission{}, false, fmt.Errorf("redis store: %s: unexpected reply %T", what, v)
	}
	sub, err := decodeSubmission([]byte(data))
	if err != nil {
		return challenge.Submission{}, false, fmt.Errorf("redis store: %s: %w", what, err)
	}
	if !now.Before(sub.Expires) {
		return challenge.Submission{}, false, nil
	}
	return sub, true, nil
}

// startFlushing moves submissions held in memory to Redis as soon as it
// answers, until the returned stop is called.
func (s *Stash) startFlushing() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				s.local.flush(func(id string, e localEntry) error {
					return s.putRedis(ctx, id, e.sub, e.client, e.owner, time.Now())
				})
			}
		}
	}()
	return func() { cancel(); <-done }
}

// localStash holds submissions in memory while Redis does not answer,
// bounded like the stash, oldest out first.
type localStash struct {
	mu       sync.Mutex
	cfg      challenge.StashConfig
	entries  map[string]*localEntry
	order    []string // ids, oldest first; taken ids are skipped lazily
	bytes    int
	flushing sync.Mutex // held while an entry moves to Redis
}

type localEntry struct {
	client [32]byte
	owner  string
	sub    challenge.Submission
}

func (e *localEntry) size() int { return size(e.sub) }

func newLocalStash(cfg challenge.StashConfig) (*localStash, error) {
	if cfg.MaxEntries <= 0 || cfg.MaxBytes <= 0 {
		return nil, fmt.Errorf("submission stash of %d entries, %d bytes: need positive bounds", cfg.MaxEntries, cfg.MaxBytes)
	}
	return &localStash{cfg: cfg, entries: make(map[string]*localEntry)}, nil
}

func (l *localStash) put(id string, e localEntry) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, held := l.entries[id]; held || e.size() > l.cfg.MaxBytes {
		return false
	}
	l.entries[id] = &e
	l.order = append(l.order, id)
	l.bytes += e.size()
	for len(l.entries) > l.cfg.MaxEntries || l.bytes > l.cfg.MaxBytes {
		l.removeLocked(l.order[0])
		l.order = l.order[1:]
	}
	if len(l.order) > 2*len(l.entries)+16 {
		l.compactLocked()
	}
	return true
}

func (l *localStash) removeLocked(id string) {
	if e, ok := l.entries[id]; ok {
		l.bytes -= e.size()
		delete(l.entries, id)
	}
}

func (l *localStash) compactLocked() {
	kept := l.order[:0]
	for _, id := range l.order {
		if _, ok := l.entries[id]; ok {
			kept = append(kept, id)
		}
	}
	clear(l.order[len(kept):])
	l.order = kept
}

// get returns (and with take, removes) the entry id if it is held here for
// client and unexpired.
func (l *localStash) get(id string, client [32]byte, now time.Time, take bool) (challenge.Submission, bool) {
	if l.held() == 0 {
		return challenge.Submission{}, false
	}
	if take {
		// An entry on its way to Redis is found there once it arrives.
		l.flushing.Lock()
		defer l.flushing.Unlock()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.entries[id]
	if !ok {
		return challenge.Submission{}, false
	}
	if !now.Before(e.sub.Expires) {
		l.removeLocked(id)
		return challenge.Submission{}, false
	}
	if e.client != client {
		return challenge.Submission{}, false
	}
	if take {
		l.removeLocked(id)
	}
	return e.sub, true
}

// flush moves entries to Redis with move, oldest first, stopping at the
// first failure.
func (l *localStash) flush(move func(string, localEntry) error) {
	l.mu.Lock()
	n := len(l.entries)
	l.mu.Unlock()
	if n == 0 {
		return
	}
	l.flushing.Lock()
	defer l.flushing.Unlock()
	l.mu.Lock()
	l.compactLocked()
	ids := append([]string(nil), l.order...)
	l.mu.Unlock()
	for _, id := range ids {
		l.mu.Lock()
		e, ok := l.entries[id]
		l.mu.Unlock()
		if !ok {
			continue
		}
		if err := move(id, *e); err != nil && !errors.Is(err, errHeld) {
			return
		}
		l.mu.Lock()
		l.removeLocked(id)
		l.mu.Unlock()
	}
}

// held returns how many submissions are held in memory.
func (l *localStash) held() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

// Interface guards
var _ store.Stash = (*Stash)(nil)
