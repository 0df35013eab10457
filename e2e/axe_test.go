package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// axeVersion is the axe-core release the pages are checked with, from npm.
const axeVersion = "4.10.3"

var axeOnce struct {
	sync.Once
	src []byte
	err error
}

// axeSource returns axe.min.js: from $REMPART_AXE (a file) when set, else
// installed once with npm into the user's cache directory (outside the
// tree). Without npm the test is skipped, except in CI.
func axeSource(t *testing.T) []byte {
	t.Helper()
	axeOnce.Do(func() {
		if p := os.Getenv("REMPART_AXE"); p != "" {
			axeOnce.src, axeOnce.err = os.ReadFile(p)
			return
		}
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		dir := filepath.Join(cache, "rempart", "axe-core-"+axeVersion)
		file := filepath.Join(dir, "node_modules", "axe-core", "axe.min.js")
		if src, err := os.ReadFile(file); err == nil {
			axeOnce.src = src
			return
		}
		npm, err := exec.LookPath("npm")
		if err != nil {
			axeOnce.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, npm, "install", "--no-save", "--no-audit", "--no-fund", "--prefix", dir, "axe-core@"+axeVersion)
		if out, err := cmd.CombinedOutput(); err != nil {
			axeOnce.err = fmt.Errorf("npm install axe-core@%s: %v\n%s", axeVersion, err, out)
			return
		}
		axeOnce.src, axeOnce.err = os.ReadFile(file)
	})
	if axeOnce.err != nil {
		if _, err := exec.LookPath("npm"); err != nil && os.Getenv("CI") == "" {
			t.Skip("no npm to install axe-core: install Debian's nodejs and npm packages (scripts/test.sh does), or set REMPART_AXE to axe.min.js")
		}
		t.Fatalf("axe-core: %v", axeOnce.err)
	}
	return axeOnce.src
}

type axeViolation struct {
	ID     string
	Impact string
	Help   string
	Nodes  []string
}

// runAxe injects axe-core into the page and returns its violations (every
// rule axe runs by default: WCAG 2.0 to 2.2 A and AA, and best practices).
func runAxe(ctx context.Context, src []byte) ([]axeViolation, error) {
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](string(src)+";true")); err != nil {
		return nil, fmt.Errorf("injecting axe-core: %w", err)
	}
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](`axe.run(document, {resultTypes: ['violations']}).then(function (r) {
		return JSON.stringify(r.violations.map(function (v) {
			return {ID: v.id, Impact: v.impact, Help: v.help, Nodes: v.nodes.map(function (n) { return n.html + ': ' + n.failureSummary; })};
		}));
	})`, chromedp.EvalAwaitPromise))
	if err != nil {
		return nil, fmt.Errorf("running axe-core: %w", err)
	}
	var v []axeViolation
	return v, json.Unmarshal([]byte(out), &v)
}

func scripts(on bool) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: !on})
		return err
	})
}

func viewport(width, height int64, mobile bool) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
			Width: width, Height: height, DeviceScaleFactor: 1, Mobile: mobile,
		})
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
		return waitTrue(ctx, fmt.Sprintf(`location.pathname === %q && document.readyState === 'complete' &&
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
    difficulty: 30
`

// Every page the shield serves passes axe-core with no violation, on a
// 320 px phone and on a desktop screen: the challenge page (solving, and
// without JavaScript, and its early Continue), and every message page.
func TestAxeEveryShieldPage(t *testing.T) {
	src := axeSource(t)
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
			// max_solve off: the 30-bit /slow page must stay solving while
			// axe-core runs, not be capped to seconds.
			startPetition(t, "site axe-"+screen.name, "protect POST /busy-sign", "max_body 1KiB", "noscript_wait 60s", "max_solve off", "policy "+policy)
			ctx := browser(t)
			if err := chromedp.Do(ctx, viewport(screen.width, screen.height, screen.mobile)); err != nil {
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
						return waitTrue(ctx, `document.getElementById('rempart-progress').value > 0`)
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
				violations, err := runAxe(ctx, src)
				if err != nil {
					t.Fatalf("%s: %v", p.name, err)
				}
				for _, v := range violations {
					t.Errorf("%s (%s): %s %s: %s\n\t%s", p.name, screen.name, v.Impact, v.ID, v.Help, strings.Join(v.Nodes, "\n\t"))
				}
				t.Logf("%s: %d violations", p.name, len(violations))
			}
		})
	}
}
