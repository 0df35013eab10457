package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestClusterSharesOneTruth runs three rempart instances on one Redis
// behind a round-robin load balancer, and checks that together they behave
// as one shield: whatever instance a request lands on, a pass, a proof and
// a held submission work once, budgets count all instances' events, and a
// temporary rule added on one applies on all.
func TestClusterSharesOneTruth(t *testing.T) {
	c := startCluster(t)

	t.Run("pass spent on one is refused on the others", func(t *testing.T) {
		cl := newClient(t, "pass")
		a := cl.must(http.MethodGet, instanceURL(0)+"/", nil)
		p := proofOf(t, a)
		if a := cl.must(http.MethodPost, instanceURL(0)+p.Action, p.Form); a.status != http.StatusSeeOther {
			t.Fatalf("proof on instance 1: %d %s", a.status, a.action)
		}
		spent := cl.http.Jar.Cookies(mustURL(instanceURL(0)))
		body := url.Values{"name": {"Pass"}, "email": {"pass@example.org"}}
		if a := cl.must(http.MethodPost, instanceURL(1)+"/sign", body); !a.recorded() {
			t.Fatalf("signature with a fresh pass on instance 2: %d %s", a.status, a.action)
		}
		// Replay the spent one-credit pass on every instance (the cookie
		// the shield set after spending is dropped: the attacker kept the
		// pass as it was).
		accepted := 0
		for i := range instances {
			replay := newClient(t, "pass") // same user agent, same network
			replay.http.Jar.SetCookies(mustURL(instanceURL(i)), spent)
			if a := replay.must(http.MethodPost, instanceURL(i)+"/sign", url.Values{"name": {fmt.Sprint("Replay ", i)}}); a.recorded() {
				accepted++
			}
		}
		t.Logf("spent pass replayed: tried %d instances, accepted %d, expected 0", instances, accepted)
		if accepted != 0 {
			t.Fatal("a spent pass was accepted again")
		}
	})

	t.Run("proof accepted once", func(t *testing.T) {
		cl := newClient(t, "proof")
		p := proofOf(t, cl.must(http.MethodGet, instanceURL(2)+"/", nil))
		accepted := 0
		var wg sync.WaitGroup
		var mu sync.Mutex
		const tries = 3 * instances
		for i := range tries {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a, err := cl.do(http.MethodPost, instanceURL(i%instances)+p.Action, p.Form)
				if err == nil && a.status == http.StatusSeeOther {
					mu.Lock()
					accepted++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		t.Logf("one proof posted: tried %d times on %d instances, accepted %d, expected 1", tries, instances, accepted)
		if accepted != 1 {
			t.Fatal("a proof was not accepted exactly once")
		}
	})

	t.Run("held submission released once wherever the re-post lands", func(t *testing.T) {
		cl := newClient(t, "held")
		body := url.Values{"name": {"Held"}, "email": {"held@example.org"}}
		a := cl.must(http.MethodPost, instanceURL(0)+"/sign", body)
		if a.status != http.StatusForbidden || a.action != "challenge" {
			t.Fatalf("unsolved signature: %d %s, want a challenge", a.status, a.action)
		}
		p := proofOf(t, a)
		if p.Form.Get("submission") == "" {
			t.Fatal("the signature was not held")
		}
		a = cl.must(http.MethodPost, instanceURL(1)+p.Action, p.Form)
		if a.status != http.StatusTemporaryRedirect {
			t.Fatalf("proof on instance 2: %d %s, want 307", a.status, a.action)
		}
		target := a.header.Get("Location")
		released := 0
		for i := range instances {
			// The re-post, to instance 3 first, then again to each.
			a := cl.must(http.MethodPost, instanceURL((i+2)%instances)+target, p.Form)
			if a.recorded() {
				released++
			}
			// The browser drops the replay cookie after a release; a
			// replaying client keeps it.
			cl.http.Jar.SetCookies(mustURL(instanceURL(0)), []*http.Cookie{{Name: "rempart_replay", Value: p.Form.Get("submission"), Path: target}})
		}
		got := c.recorder.count("/sign", body.Encode())
		t.Logf("held submission re-posted: tried %d instances, released %d, petition received %d, expected 1", instances, released, got)
		if released != 1 || got != 1 {
			t.Fatal("a held submission was not released exactly once")
		}
	})

	t.Run("budget of k gives k across instances", func(t *testing.T) {
		const k, tries = 4, 12
		forwarded, limited := 0, 0
		deadline := time.Now().Add(2 * time.Minute)
		for i := range tries {
			cl := newClient(t, fmt.Sprint("vote ", i))
			// Through the load balancer: each step of each vote lands on
			// the next instance.
			res := cl.sign(lbURL, "/vote", url.Values{"vote": {fmt.Sprint(i)}}, deadline)
			switch {
			case res.forwarded:
				forwarded++
			case strings.Contains(res.problem, "429"):
				limited++
			default:
				t.Fatalf("vote %d: %s", i, res.problem)
			}
		}
		t.Logf("budget of %d votes per address: tried %d through %d instances, forwarded %d, refused %d, expected %d forwarded",
			k, tries, instances, forwarded, limited, k)
		if forwarded != k {
			t.Fatalf("budget of %d gave %d", k, forwarded)
		}
	})

	t.Run("temporary rule added on one applies on all", func(t *testing.T) {
		cl := newClient(t, "rules")
		for i := range instances {
			if a := cl.must(http.MethodGet, instanceURL(i)+"/blocked", nil); a.action != "challenge" {
				t.Fatalf("instance %d before the rule: %d %s", i+1, a.status, a.action)
			}
		}
		rule := `{"rule": {"name": "deny-blocked", "match": {"path": ["/blocked"]}, "action": "deny"}, "expires_in": "1h"}`
		resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/rempart/rules", lbAdminPort+1), "application/json", strings.NewReader(rule))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("adding the rule on instance 1: %d", resp.StatusCode)
		}
		applied := 0
		for i := range instances {
			deadline := time.Now().Add(10 * time.Second)
			for {
				if a := cl.must(http.MethodGet, instanceURL(i)+"/blocked", nil); a.action == "refuse" {
					applied++
					break
				}
				if time.Now().After(deadline) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		t.Logf("temporary rule added on instance 1: in force on %d of %d instances, expected %d", applied, instances, instances)
		if applied != instances {
			t.Fatal("a temporary rule did not reach every instance")
		}
	})

	all, duplicated := c.recorder.total()
	t.Logf("petition received %d signatures, %d of them twice or more", all, duplicated)
	if duplicated != 0 {
		t.Fatal("a signature reached the petition twice")
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// TestClusterSurvivesRedisRestart stops Redis while signers sign through
// the load balancer and starts it again: the site stays up, no spent pass
// is accepted again, no signature is lost, and each instance logs the
// outage once and its end once.
func TestClusterSurvivesRedisRestart(t *testing.T) {
	c := startCluster(t)
	const signers = 12
	var (
		wg                  sync.WaitGroup
		forwarded, lost     atomic.Int64
		unavailable, steps  atomic.Int64
		replays, replayHits atomic.Int64
		problems            sync.Map
	)
	stop := make(chan struct{})
	deadline := time.Now().Add(90 * time.Second)

	// An attacker replays a spent one-credit pass on every instance,
	// before, during and after the outage, from a network of its own (its
	// replays are held too, and a network's share of held submissions
	// pushes out its own oldest).
	attacker := newClient(t, "attacker")
	attacker.from = "198.51.100.7"
	p := proofOf(t, attacker.must(http.MethodGet, instanceURL(0)+"/", nil))
	if a := attacker.must(http.MethodPost, instanceURL(0)+p.Action, p.Form); a.status != http.StatusSeeOther {
		t.Fatalf("attacker's proof: %d", a.status)
	}
	spent := attacker.http.Jar.Cookies(mustURL(instanceURL(0)))
	if a := attacker.must(http.MethodPost, instanceURL(0)+"/sign", url.Values{"name": {"Attacker"}}); !a.recorded() {
		t.Fatalf("attacker's first signature: %d %s", a.status, a.action)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			replay := newClient(t, "attacker")
			replay.from = attacker.from
			replay.http.Jar.SetCookies(mustURL(instanceURL(n%instances)), spent)
			a, err := replay.do(http.MethodPost, instanceURL(n%instances)+"/sign", url.Values{"name": {fmt.Sprint("Replay ", n)}})
			replays.Add(1)
			if err == nil && a.recorded() {
				replayHits.Add(1)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()

	// Signers sign one after the other, each a new browser.
	var signed []string
	var signedMu sync.Mutex
	for s := range signers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("Signer %d-%d", s, n)
				form := url.Values{"name": {name}, "email": {"s@example.org"}}
				signedMu.Lock()
				signed = append(signed, form.Encode())
				signedMu.Unlock()
				res := newClient(t, name).sign(lbURL, "/sign", form, deadline)
				steps.Add(int64(res.steps))
				unavailable.Add(int64(res.unavail))
				if res.forwarded {
					forwarded.Add(1)
				} else {
					lost.Add(1)
					problems.Store(name, res.problem+"; held "+res.held+"; last steps: "+strings.Join(res.trace, ", "))
				}
			}
		}()
	}
	time.Sleep(3 * time.Second)
	before := forwarded.Load()
	c.redis.Stop()
	t.Log("Redis stopped")
	// The site stays up and readable while Redis is away.
	time.Sleep(time.Second)
	up := 0
	for i := range instances {
		if a, err := newClient(t, "reader").do(http.MethodGet, instanceURL(i)+"/", nil); err == nil && a.action == "challenge" {
			up++
		}
	}
	time.Sleep(3 * time.Second)
	during := forwarded.Load()
	c.redis.Restart()
	t.Log("Redis started again")
	time.Sleep(5 * time.Second)
	close(stop)
	wg.Wait()

	var missing, twice int
	for _, body := range signed {
		switch n := c.recorder.count("/sign", body); {
		case n == 0:
			missing++
		case n > 1:
			twice++
		}
	}
	problems.Range(func(k, v any) bool { t.Logf("%s: %v", k, v); return true })
	t.Logf("signers: %d signatures started, %d forwarded (%d before the outage, %d during), %d lost, %d missing at the petition, %d twice; "+
		"%d requests, %d answered 503 while Redis was away; site up on %d of %d instances during the outage",
		len(signed), forwarded.Load(), before, during-before, lost.Load(), missing, twice, steps.Load(), unavailable.Load(), up, instances)
	t.Logf("replays of a spent pass: tried %d, accepted %d, expected 0", replays.Load(), replayHits.Load())
	if replayHits.Load() != 0 {
		t.Error("a spent pass was accepted again")
	}
	if lost.Load() != 0 || missing != 0 || twice != 0 {
		t.Error("a signature was lost or forwarded twice")
	}
	if up != instances {
		t.Error("the site did not stay up while Redis was away")
	}
	if forwarded.Load() <= during {
		t.Error("no signature went through after Redis came back")
	}
	downs, ups := 0, 0
	for _, p := range c.inst {
		d, u := p.lines("Redis store unreachable"), p.lines("Redis store reachable again")
		t.Logf("%s logged the outage %d times and its end %d times", p.name, d, u)
		if d > 1 || u > 1 || d != u {
			t.Errorf("%s: want one line for the outage and one for its end", p.name)
		}
		downs += d
		ups += u
	}
	if downs == 0 {
		t.Error("no instance logged the outage")
	}
}

// TestClusterChromiumSigner signs with a real browser through the load
// balancer: each of its requests lands on another instance.
func TestClusterChromiumSigner(t *testing.T) {
	c := startCluster(t)
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(lbURL+"/"), chromedp.WaitVisible(chromedp.ID("petition"))); err != nil {
		t.Fatalf("browser did not reach the petition through the load balancer: %v", err)
	}
	err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("name"), "Chromium"),
		chromedp.SendKeys(chromedp.ID("email"), "chromium@example.org"),
		chromedp.Click(chromedp.ID("sign")),
		chromedp.WaitVisible(chromedp.ID("thanks")),
	)
	if err != nil {
		t.Fatalf("signing through the load balancer: %v", err)
	}
	got := c.recorder.count("/sign", "name=Chromium&email=chromium%40example.org")
	all, duplicated := c.recorder.total()
	t.Logf("Chromium signed through %d instances: its signature arrived %d times (expected 1); petition total %d, duplicated %d", instances, got, all, duplicated)
	if got != 1 || duplicated != 0 {
		t.Fatal("the browser's signature did not arrive exactly once")
	}
}
