package challenge

import (
	"testing"
	"time"
)

func id(n byte) [IDSize]byte { return [IDSize]byte{n} }

func TestSpentUse(t *testing.T) {
	s, err := NewSpent(10)
	if err != nil {
		t.Fatal(err)
	}
	exp := testNow.Add(time.Hour)
	if !s.Use(id(1), 1, exp, testNow) {
		t.Fatal("first use refused")
	}
	if s.Use(id(1), 1, exp, testNow) {
		t.Fatal("second use of a single-use id accepted")
	}
	for i := range 3 {
		if !s.Use(id(2), 3, exp, testNow) {
			t.Fatalf("use %d of 3 refused", i+1)
		}
	}
	if s.Use(id(2), 3, exp, testNow) || !s.Exhausted(id(2), 3) {
		t.Fatal("fourth use of a 3-use id accepted")
	}
	if s.Exhausted(id(3), 1) {
		t.Fatal("unknown id reported exhausted")
	}
	if s.Use(id(4), 0, exp, testNow) {
		t.Fatal("id with no uses accepted")
	}
}

func TestSpentFailsClosedWhenFull(t *testing.T) {
	s, err := NewSpent(2)
	if err != nil {
		t.Fatal(err)
	}
	early, late := testNow.Add(time.Minute), testNow.Add(2*time.Minute)
	s.Use(id(1), 1, early, testNow)
	s.Use(id(2), 1, early, testNow)
	s.Use(id(3), 1, late, testNow) // evicts id 1, unexpired: the floor rises to early
	if s.Len() != 2 {
		t.Fatalf("Len = %d, want 2", s.Len())
	}
	if s.Use(id(1), 1, early, testNow) {
		t.Fatal("evicted, spent id accepted again")
	}
	if s.Use(id(9), 1, early, testNow) {
		t.Fatal("unknown id expiring at the floor accepted")
	}
	if !s.Use(id(10), 1, late.Add(time.Second), testNow) {
		t.Fatal("new id expiring after the floor refused")
	}
}

func TestSpentExpiredEvictionKeepsFloor(t *testing.T) {
	s, err := NewSpent(1)
	if err != nil {
		t.Fatal(err)
	}
	s.Use(id(1), 1, testNow.Add(time.Minute), testNow)
	// Evicting an expired id cannot enable a replay: the floor stays.
	later := testNow.Add(2 * time.Minute)
	s.Use(id(2), 1, later.Add(time.Minute), later)
	if !s.Use(id(3), 1, later.Add(30*time.Second), later) {
		t.Fatal("floor rose on evicting an expired id")
	}
}
