package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/rempart/rempart/budget"
	"github.com/rempart/rempart/internal/shieldtest"
)

// TestClusterFloodPressureShared floods one network with challenges spread
// round robin over the three instances: its difficulty must rise as fast
// as on one instance, every instance counting the others' challenges
// through Redis. Counted per instance, it would rise three times slower.
func TestClusterFloodPressureShared(t *testing.T) {
	const (
		base      = 8
		perMinute = 30
		floods    = 300
	)
	startClusterWith(t, `flood {
			threshold 30/min
			max_extra_bits 6
			half_life 1m
		}`)
	// What one instance seeing every challenge would ask, fed with the
	// same moments.
	ref, err := budget.NewPressure(budget.PressureConfig{Threshold: perMinute, HalfLife: time.Minute, MaxExtraBits: 6})
	if err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, "flood") // no pass ever: every request is a challenge
	var seen, want int
	firstSeen, firstWant := map[int]int{}, map[int]int{}
	matched := 0
	for i := range floods {
		a := cl.must(http.MethodGet, instanceURL(i%instances)+"/", nil)
		want = base + ref.Observe("flood", time.Now())
		p, err := shieldtest.ParsePage([]byte(a.body))
		if err != nil {
			t.Fatalf("challenge %d: %d %s: %v", i+1, a.status, a.action, err)
		}
		seen = p.Puzzle.Difficulty
		if seen == want {
			matched++
		}
		if _, ok := firstSeen[seen]; !ok {
			firstSeen[seen] = i + 1
		}
		if _, ok := firstWant[want]; !ok {
			firstWant[want] = i + 1
		}
	}
	for bits := base + 1; bits <= want; bits++ {
		t.Logf("difficulty %d: first asked at challenge %d, expected %d on one instance (%d if each instance counted only its own)",
			bits, firstSeen[bits], firstWant[bits], instances*firstWant[bits])
	}
	t.Logf("%d challenges spread over %d instances: difficulty %d at the end (+%d), expected %d (+%d); %d of %d challenges at the expected difficulty",
		floods, instances, seen, seen-base, want, want-base, matched, floods)
	if seen != want || want != base+2 {
		t.Fatalf("the flood's difficulty is %d, want %d", seen, want)
	}
	for bits := base + 1; bits <= want; bits++ {
		// A challenge or two of slack at each step: the server's clock
		// reads a moment after the test's.
		if firstSeen[bits] == 0 || firstSeen[bits] > firstWant[bits]+2 {
			t.Fatalf("difficulty %d first asked at challenge %d, want by %d", bits, firstSeen[bits], firstWant[bits]+2)
		}
	}
}
