package e2e

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

const workerPattern = "*/.rempart/worker.*"

// failRequests makes the browser fail the requests matching pattern for
// which fail says so, as a content blocker or a dropped connection does;
// the others go on. It returns the count of requests failed and let through.
func failRequests(t *testing.T, ctx context.Context, pattern string, fail func(url string) bool) *requests {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	r := &requests{n: map[string]int{}}
	err := chromedp.Listen(ctx, func(ev any) {
		e, ok := ev.(*fetch.EventRequestPaused)
		if !ok {
			return
		}
		url := e.Request.URL
		// An error answering means the browser went away: nothing to do.
		go func() {
			if fail(url) {
				_, _ = chromedp.Call(ctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: e.RequestID, ErrorReason: network.ErrorReasonBlockedByClient})
				r.mu.Lock()
				r.n["failed"]++
				r.mu.Unlock()
			} else {
				_, _ = chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: e.RequestID})
				r.mu.Lock()
				r.n["loaded"]++
				r.mu.Unlock()
			}
		}()
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: pattern}}}); err != nil {
		t.Fatal(err)
	}
	return r
}

// signsDespite opens the petition with the worker's script failing as fail
// says, and checks that the signer still signs.
func signsDespite(t *testing.T, fail func(url string) bool) *requests {
	startPetition(t)
	ctx := browser(t)
	reqs := failRequests(t, ctx, workerPattern, fail)
	before := count(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(shieldURL+"/"), sign("Worker")); err != nil {
		t.Fatalf("the signer could not sign: %v", err)
	}
	if got := count(t); got != before+1 {
		t.Fatalf("count went from %d to %d, want +1", before, got)
	}
	return reqs
}

// A WebAssembly solver that cannot load (a content blocker, a dropped
// request; the same path as a browser without WebAssembly SIMD) leaves the
// workers on the JavaScript solver: the signer gets through.
func TestSIMDSolverBlockedFallsBackToJavaScript(t *testing.T) {
	startPetition(t)
	ctx := browser(t)
	reqs := failRequests(t, ctx, "*/.rempart/sha256x4.*", func(string) bool { return true })
	before := count(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(shieldURL+"/"), sign("NoSIMD")); err != nil {
		t.Fatalf("the signer could not sign: %v", err)
	}
	if got := count(t); got != before+1 {
		t.Fatalf("count went from %d to %d, want +1", before, got)
	}
	if reqs.count("failed") == 0 {
		t.Fatal("no request for the WebAssembly solver was failed: the test did not test anything")
	}
}

// A WebAssembly solver whose request never answers does not hold the
// signer up: after 3 s the workers run the JavaScript solver.
func TestSIMDSolverHangingFallsBackToJavaScript(t *testing.T) {
	startPetition(t)
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	held := 0
	err := chromedp.Listen(ctx, func(ev any) {
		if _, ok := ev.(*fetch.EventRequestPaused); ok {
			mu.Lock()
			held++ // and never answered
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*/.rempart/sha256x4.*"}}}); err != nil {
		t.Fatal(err)
	}
	before := count(t)
	start := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate(shieldURL+"/"), sign("Hanging")); err != nil {
		t.Fatalf("the signer could not sign: %v", err)
	}
	if got := count(t); got != before+1 {
		t.Fatalf("count went from %d to %d, want +1", before, got)
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("signed in %s with %d requests for the WebAssembly solver left unanswered", time.Since(start).Round(time.Millisecond), held)
	if held == 0 {
		t.Fatal("no request for the WebAssembly solver was held: the test did not test anything")
	}
}

// A worker script that fails to load once (a dropped request) is tried
// again, and the signer gets through.
func TestWorkerFailingOnceIsRetried(t *testing.T) {
	reqs := signsDespite(t, func(url string) bool { return !strings.Contains(url, "retry=") })
	if reqs.count("failed") == 0 {
		t.Fatal("no worker load was failed: the test did not test anything")
	}
}

// A worker script blocked for good (a content blocker that does not want
// workers) makes the page solve on its main thread: the signer gets
// through.
func TestWorkerBlockedSolvesOnMainThread(t *testing.T) {
	reqs := signsDespite(t, func(url string) bool { return !strings.Contains(url, "main=") })
	if reqs.count("failed") < 2 {
		t.Fatalf("%d worker loads failed, want the first and its retry", reqs.count("failed"))
	}
}

// When the solver cannot load at all, the page says so and what to do,
// instead of "Starting the check..." for ever.
func TestWorkerScriptUnloadableIsTold(t *testing.T) {
	startPetition(t)
	ctx := browser(t)
	failRequests(t, ctx, workerPattern, func(string) bool { return true })
	if err := chromedp.Do(ctx, chromedp.Navigate(shieldURL+"/")); err != nil {
		t.Fatal(err)
	}
	if err := waitMessage(ctx, "data-blocked"); err != nil {
		t.Fatalf("a page whose solver cannot load did not say so: %v", err)
	}
}
