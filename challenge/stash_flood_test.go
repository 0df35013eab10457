package challenge

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The stash's defaults as the module sets them: 4,096 bodies, 32 MiB.
var floodConfig = StashConfig{MaxEntries: 4096, MaxBytes: 32 << 20}

// checkStash verifies the stash's bookkeeping against its entries: counts,
// bytes, owners, the heap order, and the bounds.
func checkStash(t *testing.T, s *Stash) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.entries) > s.cfg.MaxEntries || s.bytes > s.cfg.MaxBytes {
		t.Fatalf("stash over its bounds: %d entries, %d bytes", len(s.entries), s.bytes)
	}
	total, bytes := 0, 0
	for key, o := range s.owners {
		if o.key != key || o.n == 0 || o.n > s.cfg.PerOwner || s.full[o.index] != o {
			t.Fatalf("owner %q: n %d, index %d", key, o.n, o.index)
		}
		n, ownerBytes := 0, 0
		var prev *stashEntry
		for e := o.head; e != nil; e = e.next {
			if e.owner != o || e.prev != prev || s.entries[e.id] != e || (prev != nil && prev.seq >= e.seq) {
				t.Fatalf("owner %q: entry list broken at %q", key, e.id)
			}
			n++
			bytes += e.size
			ownerBytes += e.size
			prev = e
		}
		if n != o.n || o.tail != prev || ownerBytes != o.bytes {
			t.Fatalf("owner %q counts %d entries and %d bytes, lists %d and %d", key, o.n, o.bytes, n, ownerBytes)
		}
		if w := max(int64(n)*int64(s.cfg.MaxBytes), int64(ownerBytes)*int64(s.cfg.MaxEntries)); o.weight != w {
			t.Fatalf("owner %q weighs %d, holds %d", key, o.weight, w)
		}
		total += n
	}
	if total != len(s.entries) || bytes != s.bytes || len(s.full) != len(s.owners) {
		t.Fatalf("owners hold %d entries, %d bytes; stash counts %d, %d; heap %d of %d owners",
			total, bytes, len(s.entries), s.bytes, len(s.full), len(s.owners))
	}
	for i := 1; i < len(s.full); i++ {
		if s.full.Less(i, (i-1)/2) {
			t.Fatalf("owner heap out of order at %d", i)
		}
	}
}

var signer = NewBinding(netip.MustParseAddr("192.0.2.10"), 24, 48, "Mozilla/5.0 Signer", "petition.example")

// floodBinding is the binding of flood client i: distinct networks, so that
// none can release another's submission.
func floodBinding(i int) Binding {
	return NewBinding(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1}), 24, 48, "flood", "petition.example")
}

// One network posting 600 bodies of 64 KiB (what pushed out every held
// signature in 0.2 s with the single LRU) churns through its own share only:
// the signer's submission, put before the flood, is still released.
func TestStashFloodOneOwner(t *testing.T) {
	s := newTestStash(t, floodConfig)
	exp := testNow.Add(time.Minute)
	body := []byte("name=Ada&email=ada%40example.org")
	key, err := s.Put(Submission{Method: "POST", Path: "/sign", Body: body, Expires: exp}, signer, "asn:64501")
	if err != nil {
		t.Fatal(err)
	}
	const tried = 600
	accepted := 0
	for range tried {
		if _, err := s.Put(Submission{Method: "POST", Path: "/sign", Body: make([]byte, 64<<10), Expires: exp}, floodBinding(0), "asn:64500"); err == nil {
			accepted++
		}
	}
	checkStash(t, s)
	entries, bytes := s.Len()
	perOwner := s.cfg.PerOwner
	t.Logf("flood: tried %d, accepted %d; stash holds %d entries, %d bytes; %d evicted (share of %d per owner)",
		tried, accepted, entries, bytes, s.Evictions(), perOwner)
	if accepted != tried {
		t.Fatalf("accepted %d of %d flood puts, expected all (each pushes out the flooder's own oldest)", accepted, tried)
	}
	if entries != perOwner+1 || s.Evictions() != uint64(tried-perOwner) {
		t.Fatalf("stash holds %d entries with %d evictions, expected the flooder's share of %d plus the signer's, %d evictions",
			entries, s.Evictions(), perOwner, tried-perOwner)
	}
	got, ok := s.Take(key, signer, testNow.Add(time.Second))
	taken := 0
	if ok && string(got.Body) == string(body) {
		taken = 1
	}
	t.Logf("signer: held 1, taken %d, expected 1", taken)
	if taken != 1 {
		t.Fatal("the signer's held submission was pushed out by another network's flood")
	}
}

// Many flooding networks, each at its full share of 64 KiB bodies, fill
// the 32 MiB: what goes is always theirs, never the lone signer's.
func TestStashFloodManyOwnersBytes(t *testing.T) {
	s := newTestStash(t, floodConfig)
	exp := testNow.Add(time.Minute)
	key, err := s.Put(Submission{Body: []byte("name=Ada"), Expires: exp}, signer, "asn:64501")
	if err != nil {
		t.Fatal(err)
	}
	const owners, each = 40, 100
	tried, accepted := 0, 0
	for i := range each {
		for o := range owners {
			tried++
			if _, err := s.Put(Submission{Body: make([]byte, 64<<10), Expires: exp}, floodBinding(o), fmt.Sprintf("asn:%d", 65000+o)); err == nil {
				accepted++
			}
			if i%10 == 0 && o == 0 {
				checkStash(t, s)
			}
		}
	}
	checkStash(t, s)
	entries, bytes := s.Len()
	t.Logf("flood of %d networks: tried %d, accepted %d; stash holds %d entries, %d of %d bytes; %d evicted",
		owners, tried, accepted, entries, bytes, floodConfig.MaxBytes, s.Evictions())
	if accepted != tried {
		t.Fatalf("accepted %d of %d", accepted, tried)
	}
	if bytes > floodConfig.MaxBytes || bytes < floodConfig.MaxBytes-(64<<10) {
		t.Fatalf("stash holds %d bytes, want just under %d", bytes, floodConfig.MaxBytes)
	}
	_, ok := s.Take(key, signer, testNow.Add(time.Second))
	t.Logf("signer: held 1, taken %v, expected true", ok)
	if !ok {
		t.Fatal("the signer's held submission was pushed out by the flood")
	}
}

// 4,000 networks holding one submission each fit beside a signer in the
// default stash; past its 4,096 entries, those holding as many as the
// signer (one) go oldest first, so the signer keeps its submission as long
// as fewer than 4,096 one-entry networks arrive while its browser solves,
// and whatever any network holding more posts.
func TestStashFloodManySingleOwners(t *testing.T) {
	s := newTestStash(t, floodConfig)
	exp := testNow.Add(time.Minute)
	const owners = 4000
	half := owners / 2
	for o := range half {
		if _, err := s.Put(Submission{Body: make([]byte, 1<<10), Expires: exp}, floodBinding(o), fmt.Sprintf("net:%d", o)); err != nil {
			t.Fatal(err)
		}
	}
	key, err := s.Put(Submission{Body: []byte("name=Ada"), Expires: exp}, signer, "asn:64501")
	if err != nil {
		t.Fatal(err)
	}
	for o := half; o < owners; o++ {
		if _, err := s.Put(Submission{Body: make([]byte, 1<<10), Expires: exp}, floodBinding(o), fmt.Sprintf("net:%d", o)); err != nil {
			t.Fatal(err)
		}
	}
	checkStash(t, s)
	entries, _ := s.Len()
	t.Logf("%d one-entry networks: stash holds %d entries, %d evicted", owners, entries, s.Evictions())
	if entries != owners+1 || s.Evictions() != 0 {
		t.Fatalf("stash holds %d entries after %d evictions, want %d and none", entries, s.Evictions(), owners+1)
	}
	// One network now floods on top: it has the most entries, so it pays.
	const tried = 1000
	accepted := 0
	for range tried {
		if _, err := s.Put(Submission{Body: make([]byte, 1<<10), Expires: exp}, floodBinding(owners), "asn:64500"); err == nil {
			accepted++
		}
	}
	checkStash(t, s)
	_, ok := s.Take(key, signer, testNow.Add(time.Second))
	taken := 0
	if ok {
		taken = 1
	}
	t.Logf("then one network: tried %d, accepted %d, %d evicted; signer: held 1, taken %d, expected 1", tried, accepted, s.Evictions(), taken)
	if accepted != tried || taken != 1 {
		t.Fatal("the signer's held submission was pushed out")
	}
	for o := range owners {
		if s.owners[fmt.Sprintf("net:%d", o)] == nil {
			t.Fatalf("network %d, holding one entry, lost it to a network holding more", o)
		}
	}
}

// The limit of fairness by count: when every network holds one submission,
// the oldest goes first. In a stash of 1,024 entries, 4,000 one-entry
// networks push out a signer who put before the last 1,023 of them, not one
// who put after.
func TestStashManySingleOwnersSmallStash(t *testing.T) {
	s := newTestStash(t, StashConfig{MaxEntries: 1024, MaxBytes: 32 << 20})
	exp := testNow.Add(time.Minute)
	const owners = 4000
	var early, late string
	for o := range owners {
		switch o {
		case 0:
			early, _ = s.Put(Submission{Body: []byte("early"), Expires: exp}, signer, "asn:64501")
		case owners - 1000:
			late, _ = s.Put(Submission{Body: []byte("late"), Expires: exp}, signer, "asn:64502")
		}
		if _, err := s.Put(Submission{Body: make([]byte, 1<<10), Expires: exp}, floodBinding(o), fmt.Sprintf("net:%d", o)); err != nil {
			t.Fatal(err)
		}
	}
	checkStash(t, s)
	_, earlyOK := s.Take(early, signer, testNow)
	_, lateOK := s.Take(late, signer, testNow)
	t.Logf("%d one-entry networks in 1,024 entries: signer before them kept %v (expected false), signer 1,000 before the end kept %v (expected true); %d evicted",
		owners, earlyOK, lateOK, s.Evictions())
	if earlyOK || !lateOK {
		t.Fatal("one-entry owners were not pushed out oldest first")
	}
}

// Pushing out never picks an owner holding less than another: a random
// mix of owners and sizes keeps the bookkeeping sound, and every eviction
// falls on an owner holding the largest share of the bounds (entries or
// bytes), or the next largest when the largest is the putter holding only
// its new entry.
func TestStashEvictsFromLargestOwner(t *testing.T) {
	cfg := StashConfig{MaxEntries: 50, MaxBytes: 4000, PerOwner: 10}
	s := newTestStash(t, cfg)
	exp := testNow.Add(time.Minute)
	rnd := uint32(1)
	next := func(n int) int {
		rnd ^= rnd << 13
		rnd ^= rnd >> 17
		rnd ^= rnd << 5
		return int(rnd % uint32(n))
	}
	weight := func(n, bytes int) int64 {
		return max(int64(n)*int64(cfg.MaxBytes), int64(bytes)*int64(cfg.MaxEntries))
	}
	type held struct {
		owner string
		size  int
		seq   uint64
	}
	var keys []string
	for i := range 5000 {
		owner := fmt.Sprintf("o%d", next(12))
		before := map[string]held{}
		for id, e := range s.entries {
			before[id] = held{owner: e.owner.key, size: e.size, seq: e.seq}
		}
		if next(4) == 0 && len(keys) > 0 {
			k := keys[next(len(keys))]
			_, wasHeld := before[k]
			if _, ok := s.Take(k, testClient, testNow); ok != wasHeld {
				t.Fatalf("step %d: Take(%q) = %v, held %v", i, k, ok, wasHeld)
			}
			continue
		}
		k, err := s.Put(Submission{Body: make([]byte, 1+next(400)), Expires: exp}, testClient, owner)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
		if s.entries[k] == nil {
			t.Fatalf("step %d: the new entry of %s was pushed out", i, owner)
		}
		// Each owner that lost entries lost its youngest evicted one while
		// holding, with it, at least what every other owner holds now
		// (theirs only fell since), the putter excepted when it holds the
		// new entry alone.
		lastLost := map[string]held{}
		for id, h := range before {
			if s.entries[id] == nil && h.seq > lastLost[h.owner].seq {
				lastLost[h.owner] = h
			}
		}
		for o, lost := range lastLost {
			n, bytes := 0, 0
			if st := s.owners[o]; st != nil {
				n, bytes = st.n, st.bytes
			}
			was := weight(n+1, bytes+lost.size)
			for p, st := range s.owners {
				if p == o || p == owner && st.n == 1 {
					continue
				}
				if st.weight > was {
					t.Fatalf("step %d: putting for %s, owner %s lost an entry holding weight %d while %s holds %d",
						i, owner, o, was, p, st.weight)
				}
			}
		}
		checkStash(t, s)
	}
	t.Logf("5,000 random steps: %d evictions, bookkeeping sound", s.Evictions())
}

// Take releases a submission exactly once, whatever the number of
// goroutines racing for it (run with -race).
func TestStashTakeExactlyOnceConcurrent(t *testing.T) {
	const goroutines, rounds = 32, 100
	s := newTestStash(t, StashConfig{MaxEntries: 64, MaxBytes: 1 << 20})
	exp := testNow.Add(time.Minute)
	total := 0
	for r := range rounds {
		key, err := s.Put(Submission{Body: []byte("name=a"), Expires: exp}, testClient, "asn:64500")
		if err != nil {
			t.Fatal(err)
		}
		var wins atomic.Int32
		var start, done sync.WaitGroup
		start.Add(1)
		for g := range goroutines {
			done.Add(1)
			go func() {
				defer done.Done()
				start.Wait()
				// Others put, peek and restore meanwhile.
				if g%4 == 3 {
					s.Put(Submission{Body: []byte("x"), Expires: exp}, floodBinding(g), "asn:64999")
				}
				s.Peek(key, testClient, testNow)
				if _, ok := s.Take(key, testClient, testNow); ok {
					wins.Add(1)
				}
			}()
		}
		start.Done()
		done.Wait()
		if n := wins.Load(); n != 1 {
			t.Fatalf("round %d: %d of %d goroutines took the submission, want 1", r, n, goroutines)
		}
		total += int(wins.Load())
	}
	checkStash(t, s)
	t.Logf("%d rounds of %d goroutines: tried %d takes, accepted %d, expected %d", rounds, goroutines, rounds*goroutines, total, rounds)
}

// A take whose follow-up fails is undone with Restore, and then only one of
// the racing goroutines releases it again.
func TestStashRestoreConcurrent(t *testing.T) {
	const goroutines = 32
	s := newTestStash(t, StashConfig{MaxEntries: 64, MaxBytes: 1 << 20})
	exp := testNow.Add(time.Minute)
	key, err := s.Put(Submission{Body: []byte("name=a"), Expires: exp}, testClient, "asn:64500")
	if err != nil {
		t.Fatal(err)
	}
	// The first restoreUntil-1 winners restore what they took, as if their
	// credit spend had failed. At most one goroutine holds the submission at
	// a time, and the takes balance the restores.
	const restoreUntil = 500
	var holding, wins, restores atomic.Int32
	var wg sync.WaitGroup
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for wins.Load() < restoreUntil {
				sub, ok := s.Take(key, testClient, testNow)
				if !ok {
					continue
				}
				if holding.Add(1) != 1 {
					t.Error("two goroutines hold the submission at once")
				}
				n := wins.Add(1)
				holding.Add(-1)
				if n < restoreUntil {
					if err := s.Restore(key, sub, testClient, "asn:64500"); err != nil {
						t.Error(err)
					}
					restores.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	held := 0
	if _, ok := s.Peek(key, testClient, testNow); ok {
		held = 1
	}
	t.Logf("%d takes, %d restores, held at the end: %d; expected %d, %d, 0", wins.Load(), restores.Load(), held, restoreUntil, restoreUntil-1)
	if int(wins.Load()) != int(restores.Load())+1-held || wins.Load() != restoreUntil || held != 0 {
		t.Fatalf("%d takes for %d restores and %d held: a submission was released twice", wins.Load(), restores.Load(), held)
	}
	checkStash(t, s)
}
