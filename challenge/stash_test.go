package challenge

import (
	"bytes"
	"net/netip"
	"testing"
	"time"
)

// newTestStash returns a stash whose clock is testNow, so that Evictions
// tells pushed-out entries from expired ones whatever the date.
func newTestStash(t testing.TB, cfg StashConfig) *Stash {
	t.Helper()
	s, err := NewStash(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.clock = func() time.Time { return testNow }
	return s
}

func TestNewStashConfig(t *testing.T) {
	for _, cfg := range []StashConfig{
		{MaxEntries: 0, MaxBytes: 10},
		{MaxEntries: 10, MaxBytes: 0},
		{MaxEntries: -1, MaxBytes: 10},
		{MaxEntries: 10, MaxBytes: 10, PerOwner: -1},
		{MaxEntries: 10, MaxBytes: 10, PerOwner: 11},
	} {
		if _, err := NewStash(cfg); err == nil {
			t.Errorf("NewStash(%+v) accepted", cfg)
		}
	}
	for _, c := range []struct{ entries, perOwner, want int }{
		{4096, 0, 64},
		{100, 0, 8},
		{3, 0, 3},
		{1 << 20, 0, 1 << 14},
		{100, 5, 5},
		{100, 100, 100},
	} {
		s, err := NewStash(StashConfig{MaxEntries: c.entries, MaxBytes: 1 << 20, PerOwner: c.perOwner})
		if err != nil {
			t.Fatal(err)
		}
		if s.cfg.PerOwner != c.want {
			t.Errorf("MaxEntries %d, PerOwner %d: per-owner bound %d, want %d", c.entries, c.perOwner, s.cfg.PerOwner, c.want)
		}
	}
}

func TestStashTakeOnce(t *testing.T) {
	s := newTestStash(t, StashConfig{MaxEntries: 10, MaxBytes: 1 << 10})
	sub := Submission{Method: "POST", Path: "/sign", ContentType: "application/x-www-form-urlencoded", Body: []byte("name=a&email=b"), Expires: testNow.Add(time.Minute)}
	key, err := s.Put(sub, testClient, "asn:64500")
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != idLen {
		t.Fatalf("id %q is not %d characters", key, idLen)
	}
	other := NewBinding(netip.MustParseAddr("198.51.100.1"), 24, 48, testClient.UserAgent, testClient.Host)
	if _, ok := s.Peek(key, other, testNow); ok {
		t.Fatal("another client peeked at the submission")
	}
	if _, ok := s.Take(key, other, testNow); ok {
		t.Fatal("another client took the submission")
	}
	if got, ok := s.Peek(key, testClient, testNow); !ok || !bytes.Equal(got.Body, sub.Body) {
		t.Fatalf("Peek = %+v, %v", got, ok)
	}
	got, ok := s.Take(key, testClient, testNow)
	if !ok || !bytes.Equal(got.Body, sub.Body) || got.Method != "POST" || got.Path != "/sign" || got.ContentType != sub.ContentType || !got.Expires.Equal(sub.Expires) {
		t.Fatalf("Take = %+v, %v", got, ok)
	}
	if _, ok := s.Take(key, testClient, testNow); ok {
		t.Fatal("submission taken twice")
	}
	if _, ok := s.Peek(key, testClient, testNow); ok {
		t.Fatal("taken submission still peekable")
	}
	if n, size := s.Len(); n != 0 || size != 0 {
		t.Fatalf("Len = %d entries, %d bytes after take", n, size)
	}
	if len(s.owners) != 0 || len(s.full) != 0 {
		t.Fatalf("owner bookkeeping left after the last entry: %d owners, %d in the heap", len(s.owners), len(s.full))
	}
	if n := s.Evictions(); n != 0 {
		t.Fatalf("Evictions = %d, want 0", n)
	}
}

func TestStashExpiry(t *testing.T) {
	s := newTestStash(t, StashConfig{MaxEntries: 10, MaxBytes: 1 << 10})
	exp := testNow.Add(time.Minute)
	k1, _ := s.Put(Submission{Body: []byte("x"), Expires: exp}, testClient, "a")
	k2, _ := s.Put(Submission{Body: []byte("y"), Expires: exp}, testClient, "a")
	if _, ok := s.Peek(k1, testClient, exp.Add(-time.Nanosecond)); !ok {
		t.Fatal("unexpired submission not peekable")
	}
	if _, ok := s.Peek(k1, testClient, exp); ok {
		t.Fatal("expired submission peeked")
	}
	if _, ok := s.Take(k2, testClient, exp); ok {
		t.Fatal("expired submission released")
	}
	if _, ok := s.Take(k1, testClient, testNow); ok {
		t.Fatal("expired submission released after its expiry was seen")
	}
	if n, size := s.Len(); n != 0 || size != 0 {
		t.Fatalf("expired submissions kept: %d entries, %d bytes", n, size)
	}
	if n := s.Evictions(); n != 0 {
		t.Fatalf("expiries counted as %d evictions", n)
	}
}

func TestStashBounds(t *testing.T) {
	s := newTestStash(t, StashConfig{MaxEntries: 3, MaxBytes: 100})
	exp := testNow.Add(time.Minute)
	var keys []string
	for range 5 {
		k, err := s.Put(Submission{Body: bytes.Repeat([]byte("a"), 40), Expires: exp}, testClient, "a")
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
		if n, size := s.Len(); n > 3 || size > 100 {
			t.Fatalf("stash holds %d entries, %d bytes: over its bounds", n, size)
		}
	}
	// The newest two fit in 100 bytes; the oldest were dropped first.
	if _, ok := s.Take(keys[0], testClient, testNow); ok {
		t.Error("oldest submission kept over the newest")
	}
	if _, ok := s.Take(keys[4], testClient, testNow); !ok {
		t.Error("newest submission dropped")
	}
	if n := s.Evictions(); n != 3 {
		t.Errorf("Evictions = %d, want 3", n)
	}
	if _, err := s.Put(Submission{Body: make([]byte, 101)}, testClient, "a"); err == nil {
		t.Error("body larger than the whole stash accepted")
	}
	if _, err := s.Put(Submission{Path: string(make([]byte, 60)), Body: make([]byte, 41)}, testClient, "a"); err == nil {
		t.Error("path and body larger than the whole stash accepted")
	}
	if _, ok := s.Take("short", testClient, testNow); ok {
		t.Error("malformed key released something")
	}
}

// The byte bound counts what the sender chose besides the body: a long path
// cannot make a small entry hold much memory.
func TestStashCountsPathBytes(t *testing.T) {
	s := newTestStash(t, StashConfig{MaxEntries: 100, MaxBytes: 1000})
	exp := testNow.Add(time.Minute)
	for i := range 20 {
		if _, err := s.Put(Submission{Method: "POST", Path: "/" + string(bytes.Repeat([]byte("p"), 299)), ContentType: "x", Body: []byte("b"), Expires: exp}, testClient, "a"); err != nil {
			t.Fatal(err)
		}
		n, size := s.Len()
		if size > 1000 {
			t.Fatalf("after %d puts: %d entries, %d bytes over the 1000-byte bound", i+1, n, size)
		}
	}
	if n, size := s.Len(); n != 3 || size != 3*306 {
		t.Fatalf("Len = %d entries, %d bytes, want 3 entries of 306 bytes", n, size)
	}
}

func TestStashPerOwner(t *testing.T) {
	s := newTestStash(t, StashConfig{MaxEntries: 100, MaxBytes: 1 << 20, PerOwner: 3})
	exp := testNow.Add(time.Minute)
	var keys []string
	for range 5 {
		k, err := s.Put(Submission{Body: []byte("x"), Expires: exp}, testClient, "a")
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	other, _ := s.Put(Submission{Body: []byte("y"), Expires: exp}, testClient, "b")
	if n, _ := s.Len(); n != 4 {
		t.Fatalf("Len = %d, want 3 of owner a and 1 of owner b", n)
	}
	for i, k := range keys {
		_, ok := s.Peek(k, testClient, testNow)
		if want := i >= 2; ok != want {
			t.Errorf("owner a's entry %d held: %v, want %v", i, ok, want)
		}
	}
	if _, ok := s.Peek(other, testClient, testNow); !ok {
		t.Error("owner b's entry pushed out by owner a's share")
	}
	if n := s.Evictions(); n != 2 {
		t.Errorf("Evictions = %d, want 2", n)
	}
}

func TestStashRestore(t *testing.T) {
	s := newTestStash(t, StashConfig{MaxEntries: 4, MaxBytes: 1 << 10, PerOwner: 2})
	exp := testNow.Add(time.Minute)
	sub := Submission{Method: "POST", Path: "/sign", ContentType: "text/plain", Body: []byte("name=a"), Expires: exp}
	key, err := s.Put(sub, testClient, "asn:64500")
	if err != nil {
		t.Fatal(err)
	}
	got, ok := s.Take(key, testClient, testNow)
	if !ok {
		t.Fatal("Take failed")
	}
	if err := s.Restore(key, got, testClient, "asn:64500"); err != nil {
		t.Fatal(err)
	}
	if err := s.Restore(key, got, testClient, "asn:64500"); err == nil {
		t.Fatal("id restored while held")
	}
	if err := s.Restore("short", got, testClient, "asn:64500"); err == nil {
		t.Fatal("malformed id restored")
	}
	if err := s.Restore(key[:idLen-1]+"A", Submission{Body: make([]byte, 1025)}, testClient, "x"); err == nil {
		t.Fatal("oversized submission restored")
	}
	other := NewBinding(netip.MustParseAddr("198.51.100.1"), 24, 48, testClient.UserAgent, testClient.Host)
	if _, ok := s.Take(key, other, testNow); ok {
		t.Fatal("another client took the restored submission")
	}
	again, ok := s.Take(key, testClient, testNow)
	if !ok || !bytes.Equal(again.Body, sub.Body) || again.Path != sub.Path || again.Method != sub.Method || !again.Expires.Equal(exp) {
		t.Fatalf("Take after Restore = %+v, %v", again, ok)
	}
	if _, ok := s.Take(key, testClient, testNow); ok {
		t.Fatal("restored submission taken twice")
	}

	// Restore is bounded like Put: the owner's share still holds.
	var keys []string
	for range 2 {
		k, _ := s.Put(sub, testClient, "asn:64500")
		keys = append(keys, k)
	}
	if err := s.Restore(key, sub, testClient, "asn:64500"); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Len(); n != 2 {
		t.Fatalf("Len = %d after restoring over a full share of 2", n)
	}
	if _, ok := s.Peek(keys[0], testClient, testNow); ok {
		t.Fatal("restore did not push out its owner's oldest")
	}
	if _, ok := s.Peek(key, testClient, testNow); !ok {
		t.Fatal("restored submission pushed out")
	}
}
