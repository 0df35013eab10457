package challenge

import (
	"bytes"
	"net/netip"
	"testing"
	"time"
)

func TestStashTakeOnce(t *testing.T) {
	s, err := NewStash(10, 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	sub := Submission{Method: "POST", Path: "/sign", ContentType: "application/x-www-form-urlencoded", Body: []byte("name=a&email=b"), Expires: testNow.Add(time.Minute)}
	key, err := s.Put(sub, testClient)
	if err != nil {
		t.Fatal(err)
	}
	other := NewBinding(netip.MustParseAddr("198.51.100.1"), 24, 48, testClient.UserAgent, testClient.Host)
	if _, ok := s.Take(key, other, testNow); ok {
		t.Fatal("another client took the submission")
	}
	got, ok := s.Take(key, testClient, testNow)
	if !ok || !bytes.Equal(got.Body, sub.Body) || got.Path != "/sign" || got.ContentType != sub.ContentType {
		t.Fatalf("Take = %+v, %v", got, ok)
	}
	if _, ok := s.Take(key, testClient, testNow); ok {
		t.Fatal("submission taken twice")
	}
	if n, size := s.Len(); n != 0 || size != 0 {
		t.Fatalf("Len = %d entries, %d bytes after take", n, size)
	}
}

func TestStashExpiry(t *testing.T) {
	s, _ := NewStash(10, 1<<10)
	key, _ := s.Put(Submission{Body: []byte("x"), Expires: testNow.Add(time.Minute)}, testClient)
	if _, ok := s.Take(key, testClient, testNow.Add(time.Minute)); ok {
		t.Fatal("expired submission released")
	}
}

func TestStashBounds(t *testing.T) {
	s, _ := NewStash(3, 100)
	exp := testNow.Add(time.Minute)
	var keys []string
	for range 5 {
		k, err := s.Put(Submission{Body: bytes.Repeat([]byte("a"), 40), Expires: exp}, testClient)
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
	if _, err := s.Put(Submission{Body: make([]byte, 101)}, testClient); err == nil {
		t.Error("body larger than the whole stash accepted")
	}
	if _, ok := s.Take("short", testClient, testNow); ok {
		t.Error("malformed key released something")
	}
}
