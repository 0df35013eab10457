// Package storetest is the conformance suite every store implementation
// runs: what the shield relies on, checked the same way in memory and in
// Redis.
package storetest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ulule/limiter/v3"

	"github.com/rempart/rempart/budget"
	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/store"
)

// Harness is what the suite needs of an implementation.
type Harness struct {
	// Open returns a backend; every call for one test must share state
	// when Shared is set (two instances of one deployment).
	Open func(t *testing.T) store.Backend
	// Shared says that two backends from Open share their sites' state.
	Shared bool
	// Lose makes the backend forget the records of site as it could in
	// production: eviction under its bound, or a restart without data.
	// Tokens issued at issued are at stake.
	Lose func(t *testing.T, site *store.Site, name string, issued time.Time)
	// Settle is how long after opening a site or losing its records the
	// store may refuse every token, as Redis does for its clock-skew
	// allowance (redisstore.LossSkew): the suite issues its tokens that
	// far ahead.
	Settle time.Duration
	// Unreachable, when set, returns a backend whose server does not
	// answer, to check that errors wrap store.ErrUnavailable and that a
	// held submission is not lost.
	Unreachable func(t *testing.T) store.Backend
}

// Config is the SiteConfig the suite opens sites with.
var Config = store.SiteConfig{
	SpentSize: 64,
	Stash:     challenge.StashConfig{MaxEntries: 16, MaxBytes: 1 << 20, PerOwner: 4},
}

// Goroutines is how many goroutines race in the concurrency checks.
const Goroutines = 32

// Run runs every check.
func Run(t *testing.T, h Harness) {
	t.Run("SpentSingleUse", func(t *testing.T) { spentSingleUse(t, h) })
	t.Run("SpentCredits", func(t *testing.T) { spentCredits(t, h) })
	t.Run("SpentExpiry", func(t *testing.T) { spentExpiry(t, h) })
	t.Run("SpentFailsClosedAfterLoss", func(t *testing.T) { spentFailsClosed(t, h) })
	t.Run("StashTakeOnce", func(t *testing.T) { stashTakeOnce(t, h) })
	t.Run("StashBoundToClient", func(t *testing.T) { stashBound(t, h) })
	t.Run("StashExpiry", func(t *testing.T) { stashExpiry(t, h) })
	t.Run("StashOwnerQuota", func(t *testing.T) { stashQuota(t, h) })
	t.Run("StashRestore", func(t *testing.T) { stashRestore(t, h) })
	t.Run("StashErrors", func(t *testing.T) { stashErrors(t, h) })
	t.Run("BudgetsAllOrNone", func(t *testing.T) { budgetsAllOrNone(t, h) })
	t.Run("BudgetsExactUnderRace", func(t *testing.T) { budgetsRace(t, h) })
	t.Run("ContextCancelled", func(t *testing.T) { cancelled(t, h) })
	t.Run("PressureEveryEventCounts", func(t *testing.T) { pressureRace(t, h) })
	t.Run("PressureDecay", func(t *testing.T) { pressureDecay(t, h) })
	t.Run("PressureRetuneKeepsEstimates", func(t *testing.T) { pressureRetune(t, h) })
	if h.Unreachable != nil {
		t.Run("Unreachable", func(t *testing.T) { unreachable(t, h) })
	}
}

// siteName is unique per test, so that tests sharing a server never see
// each other's keys.
func siteName(t *testing.T) string {
	var r [6]byte
	_, _ = rand.Read(r[:])
	return fmt.Sprintf("%s-%x", t.Name(), r)
}

// instances opens the same site on n backends: n instances of one
// deployment when the store is shared, n views of one backend otherwise.
func instances(t *testing.T, h Harness, n int) []*store.Site {
	t.Helper()
	name := siteName(t)
	var one store.Backend
	sites := make([]*store.Site, n)
	for i := range sites {
		b := one
		if h.Shared || b == nil {
			b = h.Open(t)
			one = b
		}
		site, err := b.OpenSite(context.Background(), name, Config)
		if err != nil {
			t.Fatal(err)
		}
		if !h.Shared && i > 0 {
			site = sites[0]
		}
		if site.Close != nil {
			t.Cleanup(func() { _ = site.Close() })
		}
		sites[i] = site
	}
	return sites
}

// issuedNow is when the suite's tokens are issued: a second past h.Settle
// ahead, since a store that has just opened a site may refuse tokens
// issued in the same second (tokens carry whole seconds; see
// redisstore.Spent).
func issuedNow(h Harness) time.Time { return time.Now().Add(h.Settle + time.Second) }

func newID() (id [challenge.IDSize]byte) {
	_, _ = rand.Read(id[:])
	return id
}

func binding(ip string) challenge.Binding {
	return challenge.NewBinding(netip.MustParseAddr(ip), 24, 48, "Mozilla/5.0 storetest", "petition.example")
}

// spendRace spends id from Goroutines goroutines spread over sites and
// returns how many succeeded.
func spendRace(t *testing.T, sites []*store.Site, id [challenge.IDSize]byte, limit int, issued, expires time.Time) int {
	t.Helper()
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	for i := range Goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := sites[i%len(sites)].Passes.Use(context.Background(), id, limit, issued, expires, time.Now())
			if err != nil {
				failed.Add(1)
			}
			if got {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d spends failed", failed.Load())
	}
	return int(ok.Load())
}

func spentSingleUse(t *testing.T, h Harness) {
	sites := instances(t, h, 3)
	now := issuedNow(h)
	id := newID()
	if got := spendRace(t, sites, id, 1, now, now.Add(time.Minute)); got != 1 {
		t.Fatalf("one-use token: tried %d spends on %d instances, accepted %d, expected 1", Goroutines, len(sites), got)
	}
	if _, err := sites[0].Challenges.Use(context.Background(), id, 1, now, now.Add(time.Minute), time.Now()); err != nil {
		t.Fatal(err)
	}
	// Challenges and passes are separate records.
	if ok, err := sites[1].Challenges.Use(context.Background(), newID(), 1, now, now.Add(time.Minute), time.Now()); err != nil || !ok {
		t.Fatalf("fresh challenge: %v, %v; want accepted", ok, err)
	}
}

func spentCredits(t *testing.T, h Harness) {
	sites := instances(t, h, 3)
	now := issuedNow(h)
	id := newID()
	const credits = 5
	if got := spendRace(t, sites, id, credits, now, now.Add(time.Minute)); got != credits {
		t.Fatalf("%d-credit pass: tried %d spends, accepted %d, expected %d", credits, Goroutines, got, credits)
	}
	for i, s := range sites {
		if ex, err := s.Passes.Exhausted(context.Background(), id, credits); err != nil || !ex {
			t.Errorf("instance %d: Exhausted = %v, %v; want true", i, ex, err)
		}
		if ex, err := s.Passes.Exhausted(context.Background(), newID(), credits); err != nil || ex {
			t.Errorf("instance %d: unknown id Exhausted = %v, %v; want false", i, ex, err)
		}
	}
}

func spentExpiry(t *testing.T, h Harness) {
	sites := instances(t, h, 1)
	now := time.Now()
	if ok, err := sites[0].Passes.Use(context.Background(), newID(), 1, now.Add(-time.Hour), now, now); err != nil || ok {
		t.Fatalf("expired token: %v, %v; want refused", ok, err)
	}
	// A record outlives nothing it guards: once the token has expired it
	// is refused for that reason, whatever the record says.
	id := newID()
	issued := issuedNow(h)
	expires := issued.Add(1500 * time.Millisecond)
	if ok, err := sites[0].Passes.Use(context.Background(), id, 2, issued, expires, now); err != nil || !ok {
		t.Fatalf("first use: %v, %v", ok, err)
	}
	if ok, err := sites[0].Passes.Use(context.Background(), id, 2, issued, expires, expires); err != nil || ok {
		t.Fatalf("use at expiry: %v, %v; want refused", ok, err)
	}
}

func spentFailsClosed(t *testing.T, h Harness) {
	b := h.Open(t)
	name := siteName(t)
	site, err := b.OpenSite(context.Background(), name, Config)
	if err != nil {
		t.Fatal(err)
	}
	if site.Close != nil {
		t.Cleanup(func() { _ = site.Close() })
	}
	// Past the second the site was opened in (see issuedNow), and before
	// the loss.
	time.Sleep(1100 * time.Millisecond)
	issued := time.Now().Add(h.Settle)
	expires := issued.Add(time.Hour)
	id := newID()
	if ok, err := site.Passes.Use(context.Background(), id, 2, issued, expires, time.Now()); err != nil || !ok {
		t.Fatalf("first use: %v, %v", ok, err)
	}
	h.Lose(t, site, name, issued)
	if ok, err := site.Passes.Use(context.Background(), id, 2, issued, expires, time.Now()); err != nil || ok {
		t.Fatalf("a token whose record was lost: accepted %v (err %v); want refused: it could be a replay", ok, err)
	}
	// Tokens issued after the loss are spent as usual.
	fresh := issuedNow(h)
	if ok, err := site.Passes.Use(context.Background(), newID(), 1, fresh, fresh.Add(time.Hour), time.Now()); err != nil || !ok {
		t.Fatalf("a token issued after the loss: %v, %v; want accepted", ok, err)
	}
}

func submission(body string, ttl time.Duration) challenge.Submission {
	return challenge.Submission{Method: "POST", Path: "/sign?x=1", ContentType: "application/x-www-form-urlencoded",
		Body: []byte(body), Expires: time.Now().Add(ttl)}
}

func stashTakeOnce(t *testing.T, h Harness) {
	sites := instances(t, h, 3)
	b := binding("198.51.100.7")
	sub := submission("name=Ada&email=ada@example.org", time.Minute)
	id, err := sites[0].Stash.Put(context.Background(), sub, b, "asn:64496")
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range sites {
		got, ok, err := s.Stash.Peek(context.Background(), id, b, time.Now())
		if err != nil || !ok || string(got.Body) != string(sub.Body) || got.Method != sub.Method || got.Path != sub.Path ||
			got.ContentType != sub.ContentType || !got.Expires.Equal(sub.Expires) {
			t.Fatalf("instance %d: Peek = %+v, %v, %v; want the submission", i, got, ok, err)
		}
	}
	var released, failed atomic.Int64
	var wg sync.WaitGroup
	for i := range Goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, ok, err := sites[i%len(sites)].Stash.Take(context.Background(), id, b, time.Now())
			if err != nil {
				if failed.Add(1) == 1 {
					t.Log(err)
				}
			}
			if ok && string(got.Body) == string(sub.Body) {
				released.Add(1)
			}
		}()
	}
	wg.Wait()
	if failed.Load() != 0 || released.Load() != 1 {
		t.Fatalf("held submission: tried %d takes on %d instances, released %d (%d failed), expected 1",
			Goroutines, len(sites), released.Load(), failed.Load())
	}
}

func stashBound(t *testing.T, h Harness) {
	sites := instances(t, h, 2)
	owner, other := binding("198.51.100.7"), binding("203.0.113.9")
	id, err := sites[0].Stash.Put(context.Background(), submission("a=1", time.Minute), owner, "asn:64496")
	if err != nil {
		t.Fatal(err)
	}
	for _, take := range []func(context.Context, string, challenge.Binding, time.Time) (challenge.Submission, bool, error){
		sites[1].Stash.Peek, sites[1].Stash.Take,
	} {
		if _, ok, err := take(context.Background(), id, other, time.Now()); err != nil || ok {
			t.Fatalf("another client got the submission: %v, %v", ok, err)
		}
	}
	if _, ok, err := sites[1].Stash.Take(context.Background(), id, owner, time.Now()); err != nil || !ok {
		t.Fatalf("its client: %v, %v; want released", ok, err)
	}
	for _, bad := range []string{"", "short", id + "x", "../../etc/passwd"} {
		if _, ok, err := sites[0].Stash.Take(context.Background(), bad, owner, time.Now()); err != nil || ok {
			t.Errorf("id %q: %v, %v; want nothing, no error", bad, ok, err)
		}
	}
}

func stashExpiry(t *testing.T, h Harness) {
	sites := instances(t, h, 1)
	b := binding("198.51.100.7")
	sub := submission("a=1", 2*time.Second)
	id, err := sites[0].Stash.Put(context.Background(), sub, b, "asn:64496")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := sites[0].Stash.Peek(context.Background(), id, b, sub.Expires); err != nil || ok {
		t.Fatalf("Peek at expiry: %v, %v; want nothing", ok, err)
	}
	if _, ok, err := sites[0].Stash.Take(context.Background(), id, b, sub.Expires.Add(time.Second)); err != nil || ok {
		t.Fatalf("Take after expiry: %v, %v; want nothing", ok, err)
	}
}

func stashQuota(t *testing.T, h Harness) {
	sites := instances(t, h, 2)
	per := Config.Stash.PerOwner
	signer := binding("192.0.2.10")
	kept, err := sites[0].Stash.Put(context.Background(), submission("signer", time.Minute), signer, "asn:65001")
	if err != nil {
		t.Fatal(err)
	}
	flooder := binding("198.51.100.7")
	var ids []string
	for i := range 4 * Config.Stash.MaxEntries {
		time.Sleep(time.Millisecond) // distinct expiries order the entries
		id, err := sites[i%2].Stash.Put(context.Background(), submission(fmt.Sprint("flood ", i), time.Minute), flooder, "asn:64496")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	held := 0
	for _, id := range ids {
		if _, ok, err := sites[0].Stash.Peek(context.Background(), id, flooder, time.Now()); err != nil {
			t.Fatal(err)
		} else if ok {
			held++
		}
	}
	if held != per {
		t.Errorf("flooding owner: put %d, holds %d, expected its share %d", len(ids), held, per)
	}
	if _, ok, _ := sites[0].Stash.Peek(context.Background(), ids[len(ids)-1], flooder, time.Now()); !ok {
		t.Error("the newest submission was pushed out")
	}
	if _, ok, err := sites[1].Stash.Take(context.Background(), kept, signer, time.Now()); err != nil || !ok {
		t.Errorf("another owner's submission was pushed out by a flood: %v, %v", ok, err)
	}
	// The site's bound: many owners, one submission each.
	var first string
	for i := range 2 * Config.Stash.MaxEntries {
		time.Sleep(time.Millisecond)
		id, err := sites[0].Stash.Put(context.Background(), submission("x", time.Minute), signer, fmt.Sprint("asn:", 70000+i))
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = id
		}
	}
	if _, ok, _ := sites[0].Stash.Peek(context.Background(), first, signer, time.Now()); ok {
		t.Errorf("the oldest submission survived %d newer ones over a bound of %d", 2*Config.Stash.MaxEntries, Config.Stash.MaxEntries)
	}
}

func stashRestore(t *testing.T, h Harness) {
	sites := instances(t, h, 2)
	b := binding("198.51.100.7")
	sub := submission("a=1", time.Minute)
	id, err := sites[0].Stash.Put(context.Background(), sub, b, "asn:64496")
	if err != nil {
		t.Fatal(err)
	}
	if err := sites[1].Stash.Restore(context.Background(), id, sub, b, "asn:64496"); err == nil {
		t.Fatal("Restore of a held id succeeded")
	}
	got, ok, err := sites[1].Stash.Take(context.Background(), id, b, time.Now())
	if err != nil || !ok {
		t.Fatalf("Take: %v, %v", ok, err)
	}
	if err := sites[1].Stash.Restore(context.Background(), id, got, b, "asn:64496"); err != nil {
		t.Fatalf("Restore after Take: %v", err)
	}
	if _, ok, err := sites[0].Stash.Take(context.Background(), id, b, time.Now()); err != nil || !ok {
		t.Fatalf("Take after Restore: %v, %v", ok, err)
	}
	if err := sites[0].Stash.Restore(context.Background(), "bad", sub, b, "asn:64496"); err == nil {
		t.Error("Restore of a malformed id succeeded")
	}
}

func stashErrors(t *testing.T, h Harness) {
	sites := instances(t, h, 1)
	huge := submission(string(make([]byte, Config.Stash.MaxBytes+1)), time.Minute)
	if _, err := sites[0].Stash.Put(context.Background(), huge, binding("198.51.100.7"), "asn:64496"); err == nil {
		t.Error("a submission over the stash's byte bound was held")
	}
}

func charge(key string, limit int64) budget.Charge {
	return budget.Charge{Key: key, Kind: budget.KeyASN, Rate: limiter.Rate{Limit: limit, Period: time.Minute}}
}

func budgetsAllOrNone(t *testing.T, h Harness) {
	sites := instances(t, h, 2)
	wide, narrow := charge("as64496", 3), charge("ip198.51.100.7", 1)
	ctx := context.Background()
	res, err := sites[0].Budgets.TakeAll(ctx, []budget.Charge{wide, narrow}, time.Now())
	if err != nil || !res.Allowed || res.Exhausted != -1 {
		t.Fatalf("first event: %+v, %v; want allowed", res, err)
	}
	res, err = sites[1].Budgets.TakeAll(ctx, []budget.Charge{wide, narrow}, time.Now())
	if err != nil || res.Allowed || res.Exhausted != 1 || res.Reset.Before(time.Now()) {
		t.Fatalf("second event: %+v, %v; want refused by the narrow budget, with a reset ahead", res, err)
	}
	got, err := sites[1].Budgets.Peek(ctx, wide.Key, wide.Kind, wide.Rate)
	if err != nil || got.Remaining != 2 {
		t.Fatalf("wide budget after a refused event: %+v, %v; want 2 left (nothing counted)", got, err)
	}
	if res, err := sites[0].Budgets.TakeAll(ctx, []budget.Charge{wide}, time.Now()); err != nil || !res.Allowed {
		t.Fatalf("wide alone: %+v, %v", res, err)
	}
	if res, err := sites[0].Budgets.TakeAll(ctx, nil, time.Now()); err != nil || !res.Allowed {
		t.Fatalf("no charge: %+v, %v", res, err)
	}
}

func budgetsRace(t *testing.T, h Harness) {
	sites := instances(t, h, 3)
	const k = 7
	c := []budget.Charge{charge("as64497", k), charge("prefix198.51.100.0/24", 1000)}
	var allowed, failed atomic.Int64
	var wg sync.WaitGroup
	for i := range Goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := sites[i%len(sites)].Budgets.TakeAll(context.Background(), c, time.Now())
			if err != nil {
				failed.Add(1)
			}
			if res.Allowed {
				allowed.Add(1)
			}
		}()
	}
	wg.Wait()
	if failed.Load() != 0 || allowed.Load() != k {
		t.Fatalf("budget of %d: tried %d events on %d instances, allowed %d (%d failed), expected %d",
			k, Goroutines, len(sites), allowed.Load(), failed.Load(), k)
	}
	got, err := sites[0].Budgets.Peek(context.Background(), c[1].Key, c[1].Kind, c[1].Rate)
	if err != nil || got.Remaining != 1000-k {
		t.Fatalf("the wide budget counted %+v, %v; want exactly the %d allowed events", got, err, k)
	}
}

func cancelled(t *testing.T, h Harness) {
	sites := instances(t, h, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	now := issuedNow(h)
	id := newID()
	b := binding("198.51.100.7")
	if _, err := sites[0].Passes.Use(ctx, id, 1, now, now.Add(time.Minute), now); !errors.Is(err, context.Canceled) {
		t.Errorf("Use: %v, want context.Canceled", err)
	}
	if ok, err := sites[0].Passes.Use(context.Background(), id, 1, now, now.Add(time.Minute), now); err != nil || !ok {
		t.Errorf("a cancelled Use spent the token: %v, %v", ok, err)
	}
	if _, err := sites[0].Stash.Put(ctx, submission("a", time.Minute), b, "o"); !errors.Is(err, context.Canceled) {
		t.Errorf("Put: %v, want context.Canceled", err)
	}
	if _, _, err := sites[0].Stash.Take(ctx, "AAAAAAAAAAAAAAAAAAAAAA", b, now); !errors.Is(err, context.Canceled) {
		t.Errorf("Take: %v, want context.Canceled", err)
	}
	if _, err := sites[0].Budgets.TakeAll(ctx, []budget.Charge{charge("as1", 1)}, now); !errors.Is(err, context.Canceled) {
		t.Errorf("TakeAll: %v, want context.Canceled", err)
	}
}

func unreachable(t *testing.T, h Harness) {
	b := h.Unreachable(t)
	site, err := b.OpenSite(context.Background(), siteName(t), Config)
	if err != nil {
		t.Fatalf("a site must start with its store away: %v", err)
	}
	if site.Close != nil {
		t.Cleanup(func() { _ = site.Close() })
	}
	now := issuedNow(h)
	start := time.Now()
	ok, err := site.Passes.Use(context.Background(), newID(), 1, now, now.Add(time.Minute), now)
	if ok || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Use with the store away: %v, %v; want refused with store.ErrUnavailable", ok, err)
	}
	t.Logf("a failed spend took %v", time.Since(start))
	if _, err := site.Budgets.TakeAll(context.Background(), []budget.Charge{charge("as1", 1)}, now); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("TakeAll with the store away: %v; want store.ErrUnavailable", err)
	}
	bind := binding("198.51.100.7")
	id, err := site.Stash.Put(context.Background(), submission("kept", time.Minute), bind, "asn:64496")
	if err != nil {
		t.Fatalf("a submission must be held with the store away: %v", err)
	}
	if got, ok, err := site.Stash.Take(context.Background(), id, bind, time.Now()); err != nil || !ok || string(got.Body) != "kept" {
		t.Fatalf("the submission held with the store away: %v, %v", ok, err)
	}
	if _, ok, _ := site.Stash.Take(context.Background(), id, bind, time.Now()); ok {
		t.Fatal("released twice")
	}
	pressureUnreachable(t, b)
}
