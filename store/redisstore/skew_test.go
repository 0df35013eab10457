package redisstore_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/store"
	"github.com/rempart/rempart/store/redisstore"
	"github.com/rempart/rempart/store/redisstore/redistest"
)

// skewPort is the redis-server of the clock-skew tests.
const skewPort = conformancePort + 8

// skewStash bounds the stash of the clock-skew tests' sites, which hold
// nothing.
var skewStash = challenge.StashConfig{MaxEntries: 16, MaxBytes: 1 << 20}

// skewSites opens site on n instances of one deployment, marked long ago:
// its floor is far behind every token of the test.
func skewSites(t *testing.T, srv *redistest.Server, site string, n int) []*store.Site {
	t.Helper()
	out := make([]*store.Site, n)
	for i := range out {
		out[i] = stashSite(t, srv, site, skewStash)
	}
	if err := srv.Client(t).Set(context.Background(), redisstore.DefaultPrefix+"{"+site+"}:floor", "0", 0).Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func skewID(t *testing.T) (id [challenge.IDSize]byte) {
	if _, err := rand.Read(id[:]); err != nil {
		t.Fatal(err)
	}
	return id
}

// An instance whose clock is behind Redis's takes a token for unexpired
// that Redis takes for expired: Redis must still know it was spent, or
// every replay of it buys a fresh pass. The tokens here have expired on
// Redis's clock already, so nothing waits for an expiry.
func TestClockSkewReplayNearExpiry(t *testing.T) {
	srv := redistest.Start(t, skewPort)
	ctx := context.Background()
	for _, tc := range []struct {
		name       string
		behind     time.Duration // the instance's clock behind Redis's
		expiredAgo time.Duration // on Redis's clock, when first spent
		want       int           // spends accepted: the first only, or none
	}{
		{"3s behind, expired 1s ago", 3 * time.Second, time.Second, 1},
		{"30s behind, expired 20s ago", 30 * time.Second, 20 * time.Second, 1},
		// Past the allowance Redis keeps no record: the token is refused.
		{"beyond the allowance", redisstore.ClockSkew + time.Minute, redisstore.ClockSkew + 10*time.Second, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			site := skewSites(t, srv, "replay", 1)[0]
			const tries = 20
			accepted := 0
			id := skewID(t)
			expires := time.Now().Add(-tc.expiredAgo)
			issued := expires.Add(-5 * time.Minute)
			for range tries {
				now := time.Now().Add(-tc.behind) // the instance's clock
				if ok, err := site.Challenges.Use(ctx, id, 1, issued, expires, now); err != nil {
					t.Fatal(err)
				} else if ok {
					accepted++
				}
			}
			t.Logf("%s: spends of one proof tried %d, accepted %d, expected %d", tc.name, tries, accepted, tc.want)
			if accepted != tc.want {
				t.Errorf("accepted %d, want %d", accepted, tc.want)
			}
		})
	}
}

// After Redis loses a site's records, tokens spent before are refused
// whichever instance first notices the loss and whatever its clock: the
// floor comes from Redis's clock, plus the allowance for the instances
// whose clocks ran ahead when they issued.
func TestClockSkewFloorAfterLoss(t *testing.T) {
	srv := redistest.Start(t, skewPort)
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		issuer  time.Duration // the issuing instance's clock against Redis's
		spender time.Duration // the clock of the instance spending first after the loss
		reopen  bool          // an instance starts after the loss, before any spend
	}{
		{"spent first by an instance 5s behind", 0, -5 * time.Second, false},
		{"issued by an instance 4s ahead", 4 * time.Second, 0, false},
		{"issued 4s ahead, instance started after the loss", 4 * time.Second, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const tries = 10
			accepted := 0
			for range tries {
				a := skewSites(t, srv, "floor", 1)[0]
				id := skewID(t)
				issued := time.Now().Add(tc.issuer - 3*time.Second)
				expires := issued.Add(time.Hour)
				if ok, err := a.Passes.Use(ctx, id, 1, issued, expires, time.Now().Add(tc.issuer)); err != nil || !ok {
					t.Fatalf("first spend: %v, %v", ok, err)
				}
				// Redis restarts without its data (or is flushed).
				if err := srv.Client(t).FlushAll(ctx).Err(); err != nil {
					t.Fatal(err)
				}
				b := a
				if tc.reopen {
					b = stashSite(t, srv, "floor", skewStash)
				}
				if ok, err := b.Passes.Use(ctx, id, 1, issued, expires, time.Now().Add(tc.spender)); err != nil {
					t.Fatal(err)
				} else if ok {
					accepted++
				}
			}
			t.Logf("%s: replays of spent passes after the loss tried %d, accepted %d, expected 0", tc.name, tries, accepted)
			if accepted != 0 {
				t.Errorf("%d spent passes accepted again", accepted)
			}
		})
	}
	// Failing closed ends: a token issued past the allowance after the loss
	// is spent as usual.
	site := skewSites(t, srv, "after", 1)[0]
	if err := srv.Client(t).FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		after time.Duration
		want  bool
	}{{time.Second, false}, {redisstore.LossSkew - time.Second, false}, {redisstore.LossSkew + 2*time.Second, true}} {
		issued := time.Now().Add(tc.after)
		ok, err := site.Passes.Use(ctx, skewID(t), 1, issued, issued.Add(time.Hour), time.Now())
		t.Logf("fresh token issued %v after the loss: accepted %v, expected %v", tc.after, ok, tc.want)
		if err != nil || ok != tc.want {
			t.Errorf("issued %v after the loss: %v, %v; want %v", tc.after, ok, err, tc.want)
		}
	}
}
