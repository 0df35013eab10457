package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/rempart/rempart/internal/browsertest"
)

func scripts(on bool) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: !on})
		return err
	})
}

// post makes the page send a form, as a browser's form would: fields to
// action, from the page's own origin.
func post(action string, fields map[string]string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		js, _ := json.Marshal(fields)
		_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(function () {
			var f = document.createElement('form'), fields = %s;
			f.method = 'post';
			f.action = %q;
			for (var k in fields) {
				var i = document.createElement('input');
				i.type = 'hidden'; i.name = k; i.value = fields[k];
				f.appendChild(i);
			}
			document.body.appendChild(f);
			f.submit();
			return true;
		})()`, js, action)))
		return err
	})
}

// onPage waits until the page at path has loaded and its heading is h1.
func onPage(path, h1 string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		return browsertest.WaitTrue(ctx, fmt.Sprintf(`location.pathname === %q && document.readyState === 'complete' &&
			!!document.querySelector('h1') && document.querySelector('h1').textContent === %q`, path, h1))
	})
}

const axePolicy = `
rules:
  - name: closed
    match: {path: /closed}
    action: deny
    message: "This petition is closed."
  - name: busy
    match: {path: [/busy, /busy-sign]}
    action: limit
    counts: challenges
    per: ip
    rate: 1/hour
  - name: slow
    match: {path: /slow}
    action: challenge
    difficulty: 40
`

// Every page the shield serves passes axe-core with no violation, on a
// 320 px phone and on a desktop screen: the challenge page (solving, and
// without JavaScript, and its early Continue), and every message page.
func TestAxeEveryShieldPage(t *testing.T) {
	src := browsertest.AxeSource(t)
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(policy, []byte(axePolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, screen := range []struct {
		name          string
		width, height int64
		mobile        bool
	}{{"320px", 320, 640, true}, {"desktop", 1280, 800, false}} {
		t.Run(screen.name, func(t *testing.T) {
			// max_solve off: the 40-bit /slow page must stay solving while
			// axe-core runs, not be capped to seconds.
			startPetition(t, "site axe-"+screen.name, "protect POST /busy-sign", "max_body 1KiB", "noscript_wait 60s", "max_solve off", "policy "+policy)
			ctx := browser(t)
			if err := chromedp.Do(ctx, browsertest.Viewport(screen.width, screen.height, screen.mobile)); err != nil {
				t.Fatal(err)
			}
			big := strings.Repeat("x", 4096)
			pages := []struct {
				name  string
				noJS  bool
				steps []chromedp.Action[chromedp.Void]
			}{
				{"challenge page, solving", false, []chromedp.Action[chromedp.Void]{
					chromedp.Navigate(shieldURL + "/slow"),
					chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
						// Solving: the status says how far and how long. At
						// 40 bits the bar stays at 0% (1% is 2^40/100 hashes
						// away) and no proof is found while axe-core runs; at
						// 30 bits one was, now and then, and the page left.
						return browsertest.WaitTrue(ctx, `document.getElementById('rempart-status').textContent.includes('%')`)
					}),
				}},
				{"challenge page without JavaScript", true, []chromedp.Action[chromedp.Void]{
					chromedp.Navigate(shieldURL + "/slow"), chromedp.WaitVisible(chromedp.CSS("a.button")),
				}},
				{"Continue selected early", true, []chromedp.Action[chromedp.Void]{
					chromedp.Click(chromedp.CSS("a.button")), onPage("/.rempart/wait", "Checking your browser"),
				}},
				{"404", false, []chromedp.Action[chromedp.Void]{
					chromedp.Navigate(shieldURL + "/.rempart/nothing"), onPage("/.rempart/nothing", "Page not found"),
				}},
				{"405", false, []chromedp.Action[chromedp.Void]{
					chromedp.Navigate(shieldURL + "/.rempart/verify"), onPage("/.rempart/verify", "Request not accepted"),
				}},
				{"400", false, []chromedp.Action[chromedp.Void]{
					post("/.rempart/verify", map[string]string{"challenge": "x", "nonce": "0"}), onPage("/.rempart/verify", "Invalid request"),
				}},
				{"413", false, []chromedp.Action[chromedp.Void]{
					chromedp.Navigate(shieldURL + "/.rempart/nothing"), onPage("/.rempart/nothing", "Page not found"),
					post("/sign", map[string]string{"name": big, "email": "x@example.org"}), onPage("/sign", "Submission too large"),
				}},
				{"410", false, []chromedp.Action[chromedp.Void]{
					chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
						_, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{
							Name: "rempart_replay", Value: "gone", URL: shieldURL + "/sign", Path: "/sign",
						})
						return err
					}),
					chromedp.Navigate(shieldURL + "/.rempart/nothing"), onPage("/.rempart/nothing", "Page not found"),
					post("/sign", map[string]string{"name": "Eve", "email": "eve@example.org"}), onPage("/sign", "Submission expired"),
					chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
						_, err := chromedp.Call(ctx, network.ClearBrowserCookies, cdp.Empty{})
						return err
					}),
				}},
				{"429, a page", false, []chromedp.Action[chromedp.Void]{
					chromedp.Navigate(shieldURL + "/busy"), chromedp.Navigate(shieldURL + "/busy"),
					onPage("/busy", "Too many requests from your network"),
				}},
				{"429, a submission", false, []chromedp.Action[chromedp.Void]{
					chromedp.Navigate(shieldURL + "/.rempart/nothing"), onPage("/.rempart/nothing", "Page not found"),
					post("/busy-sign", map[string]string{"name": "Eve", "email": "eve@example.org"}),
					onPage("/busy-sign", "Too many requests from your network"), chromedp.WaitVisible(chromedp.ID("rempart-back")),
				}},
				{"deny", false, []chromedp.Action[chromedp.Void]{
					chromedp.Navigate(shieldURL + "/closed"), onPage("/closed", "Access denied"),
				}},
				{"cross-site refusal", false, []chromedp.Action[chromedp.Void]{
					chromedp.Navigate(demoURL + "/"), chromedp.WaitVisible(chromedp.ID("petition")),
					post(shieldURL+"/sign", map[string]string{"name": "Eve", "email": "eve@example.org"}),
					onPage("/sign", "Form sent from another site"),
				}},
			}
			for _, p := range pages {
				steps := append([]chromedp.Action[chromedp.Void]{scripts(!p.noJS)}, p.steps...)
				if err := chromedp.Do(ctx, steps...); err != nil {
					t.Fatalf("%s: opening the page: %v", p.name, err)
				}
				if p.noJS {
					// The page was parsed without scripts (its noscript content
					// shown); axe-core needs them, and timers, to run.
					if err := chromedp.Do(ctx, scripts(true)); err != nil {
						t.Fatal(err)
					}
				}
				violations, err := browsertest.RunAxe(ctx, src)
				if err != nil {
					t.Fatalf("%s: %v", p.name, err)
				}
				for _, v := range violations {
					t.Errorf("%s (%s): %s", p.name, screen.name, v)
				}
				t.Logf("%s: %d violations", p.name, len(violations))
			}
		})
	}
}
