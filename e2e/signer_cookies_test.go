package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rempart/rempart/internal/browsertest"
)

const verifyPath = "/.rempart/verify"

// waitMessage waits until the challenge page's status says the message in
// the form's attribute attr (data-nocookies, data-blocked), in whichever
// language the page is in.
func waitMessage(ctx context.Context, attr string) error {
	return browsertest.WaitTrue(ctx, fmt.Sprintf(`(function(){
		var f = document.getElementById('rempart-proof'), s = document.getElementById('rempart-status');
		return !!(f && s && s.className === 'err' && s.textContent === f.getAttribute(%q));
	})()`, attr))
}

// settle lets a page that would loop show it: a few seconds in which a
// looping page would post proof after proof.
func settle(ctx context.Context) error {
	return chromedp.Do(ctx, chromedp.Sleep(3*time.Second))
}

// openUntilNoCookies opens the shielded site, counting the proofs posted,
// and waits until the page tells who (a browser) that cookies are needed
// and stops changing.
func openUntilNoCookies(t *testing.T, ctx context.Context, who string) *requests {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	reqs := countRequests(t, ctx, verifyPath)
	if err := chromedp.Do(ctx, chromedp.Navigate(shieldURL+"/")); err != nil {
		t.Fatal(err)
	}
	if err := waitMessage(ctx, "data-nocookies"); err != nil {
		t.Fatalf("%s was not told: %v", who, err)
	}
	if err := settle(ctx); err != nil {
		t.Fatal(err)
	}
	return reqs
}

// A browser that refuses cookies (its own setting) is told that the site
// needs them, at once, and posts no proof: it used to post one proof after
// another for ever under "vous poursuivrez dans un instant".
func TestCookieBlockedBrowserIsTold(t *testing.T) {
	startPetition(t)
	ctx := browserWithPrefs(t, `{"profile":{"default_content_setting_values":{"cookies":2}}}`)
	reqs := openUntilNoCookies(t, ctx, "a browser that refuses cookies")
	auto, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById('rempart-auto').hidden`))
	if err != nil || !auto {
		t.Errorf("the page still says the signer will continue in a moment (hidden=%v, %v)", auto, err)
	}
	if n := reqs.count(verifyPath); n != 0 {
		t.Fatalf("%d proofs posted by a browser that refuses cookies, want 0", n)
	}
}

// A browser whose cookies are lost on the way (here the site strips every
// Set-Cookie) is told too, after at most two proofs, and stops there.
func TestCookieDroppedLoopStops(t *testing.T) {
	startSite(t, "header -Set-Cookie")
	ctx := browser(t)
	reqs := openUntilNoCookies(t, ctx, "a browser whose pass never sticks")
	if n := reqs.count(verifyPath); n < 1 || n > 2 {
		t.Fatalf("%d proofs posted before the page stopped, want 1 or 2", n)
	}
}
