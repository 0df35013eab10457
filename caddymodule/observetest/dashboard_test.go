package observetest

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"github.com/rempart/rempart/asn/asntest"
	"github.com/rempart/rempart/internal/browsertest"
)

const dashboardURL = "http://localhost:9652/staff/"

// startWithDashboard runs the petition's shield on 9650 and the staff
// dashboard on 9652, behind basic_auth (staff / password).
func startWithDashboard(t *testing.T) (auth string) {
	t.Helper()
	db := filepath.Join(t.TempDir(), "asn.mmdb")
	asntest.WriteMMDB(t, db, networks)
	hash, err := bcrypt.GenerateFromPassword([]byte("password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	srv := backendServer(t)
	tester := caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{AdminPort: 3010})
	tester.InitServer(globalOptions(t, db)+fmt.Sprintf(`
	http://localhost:9650 {
		rempart {
			secret dashboard-test-secret-0123456789
			site %s
			difficulty 4
			protect POST /sign
			flood {
				threshold 10/min
			}
		}
		reverse_proxy %s
	}
	http://localhost:9652 {
		route /staff/* {
			basic_auth {
				staff %s
			}
			rempart_dashboard {
				throttle 1/hour
			}
		}
	}`, t.Name(), srv, hash), "caddyfile")
	return "Basic " + base64.StdEncoding.EncodeToString([]byte("staff:password"))
}

// A small flood from one hosting network, watched in real Chromium on a
// 320 px screen and a desktop one: the network heads the top list, its
// signatures show in the plot, the page passes axe-core, and a click on
// "Throttle" puts a temporary rule in force that refuses its next
// signature.
func TestDashboardDuringFlood(t *testing.T) {
	auth := startWithDashboard(t)
	src := browsertest.AxeSource(t)
	// Three minutes: two screens, each checked by axe-core, then the
	// throttle and its refusals.
	ctx := browsertest.ChromiumWithin(t, t.TempDir(), 3*time.Minute)

	// Without the password: 401.
	resp, err := http.Get(dashboardURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("dashboard without a password: %d, want 401", resp.StatusCode)
	}

	const signers = 3
	for i := range signers {
		if status := sign(t, fmt.Sprintf("52.94.%d.%d", i, i+1)); status != http.StatusOK {
			t.Fatalf("signer %d before the throttle: %d", i, status)
		}
	}
	for i := range 60 {
		get(t, newClient(), http.MethodGet, "/", fmt.Sprintf("52.94.200.%d", i+1), "", "")
	}
	sign(t, "90.1.7.7")

	headers := network.Headers{"Authorization": auth}
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, network.Enable, network.EnableParams{})
		if err != nil {
			return err
		}
		_, err = chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: headers})
		return err
	})); err != nil {
		t.Fatal(err)
	}
	for _, screen := range []struct {
		name          string
		width, height int64
		mobile        bool
	}{{"320px", 320, 640, true}, {"desktop", 1280, 900, false}} {
		if err := chromedp.Do(ctx, browsertest.Viewport(screen.width, screen.height, screen.mobile), chromedp.Navigate(dashboardURL)); err != nil {
			t.Fatal(err)
		}
		// The attacking network heads the top list, and the plot's last
		// minute (or the one before, when the flood ended just before a
		// minute began) has its signatures.
		if err := browsertest.WaitTrue(ctx, `(function () {
			var b = document.querySelector('[data-site] table button[data-action="throttle"]');
			return !!b && b.dataset.network === 'AS16509';
		})()`); err != nil {
			t.Fatalf("%s: AS16509 never headed the top list: %v", screen.name, err)
		}
		lastY, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`(function () {
			var pts = document.querySelector('polyline[data-series="forwarded"]').getAttribute('points').trim().split(' ');
			return Math.min(parseFloat(pts[pts.length - 1].split(',')[1]), parseFloat(pts[pts.length - 2].split(',')[1]));
		})()`))
		if err != nil {
			t.Fatal(err)
		}
		if lastY >= 150 { // the zero line is at y = 150
			t.Errorf("%s: the plot's last two minutes show no forwarded signature (y %v)", screen.name, lastY)
		}
		if screen.mobile {
			wide, err := chromedp.Run(ctx, chromedp.Evaluate[int64](`document.documentElement.scrollWidth`))
			if err != nil {
				t.Fatal(err)
			}
			if wide > screen.width {
				// Name what sticks out, to fix it.
				culprits, err := chromedp.Run(ctx, chromedp.Evaluate[string](`Array.prototype.filter.call(document.querySelectorAll('body *'), function (e) {
					return e.getBoundingClientRect().right > 320;
				}).slice(0, 5).map(function (e) { return e.outerHTML.slice(0, 100); }).join('\n')`))
				t.Errorf("320px: the page is %d px wide: it scrolls sideways; too wide (%v):\n%s", wide, err, culprits)
			}
		}
		violations, err := browsertest.RunAxe(ctx, src)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: axe-core violations %d, expected 0", screen.name, len(violations))
		for _, v := range violations {
			t.Errorf("%s: %s", screen.name, v)
		}
		browsertest.SaveScreenshot(t, ctx, "dashboard-"+screen.name+".png", true)
	}

	// One click throttles AS16509 for an hour (1 signature an hour).
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button[data-action="throttle"][data-network="AS16509"]`))); err != nil {
		t.Fatal(err)
	}
	if err := browsertest.WaitTrue(ctx, `document.getElementById('status').textContent.indexOf('dashboard-throttle-as16509') >= 0 &&
		!!document.querySelector('button[data-remove="dashboard-throttle-as16509"]')`); err != nil {
		t.Fatalf("the throttle never showed as done: %v", err)
	}
	statuses := []int{}
	for i := range 3 {
		statuses = append(statuses, sign(t, fmt.Sprintf("52.94.%d.%d", 10+i, i+1)))
	}
	t.Logf("signers from AS16509 after the throttle: statuses %v, expected [200 429 429]", statuses)
	if statuses[0] != http.StatusOK || statuses[1] != http.StatusTooManyRequests || statuses[2] != http.StatusTooManyRequests {
		t.Errorf("after the throttle: %v", statuses)
	}
	if status := sign(t, "90.1.8.8"); status != http.StatusOK {
		t.Errorf("a resident after the throttle: %d", status)
	}
	// The refusals show in the list, live.
	if err := browsertest.WaitTrue(ctx, `Array.prototype.some.call(document.querySelectorAll('caption'), function (c) {
		return c.textContent === 'Latest refusals' && c.parentElement.textContent.indexOf('dashboard-throttle-as16509') >= 0;
	})`); err != nil {
		t.Errorf("the throttle's refusals never showed: %v", err)
	}
	// The decisions table says what happened since the page opened beside
	// the counts since start: the throttle's two refusals (429s, counted
	// under the rule that decided, the throttle being their budget) in
	// both, the flood before the page opened in the second only. (The
	// counts since start are the process's, so at least these.)
	if err := browsertest.WaitTrue(ctx, `(function () {
		var cap = Array.prototype.find.call(document.querySelectorAll('caption'), function (c) {
			return c.textContent === 'Decisions by action and rule';
		});
		if (!cap) { return false; }
		var head = cap.parentElement.querySelectorAll('thead th');
		if (head[2].textContent.indexOf('Since ') !== 0 || head[3].textContent !== 'Since start') { return false; }
		var throttled = false, before = false;
		cap.parentElement.querySelectorAll('tbody tr').forEach(function (tr) {
			var td = tr.querySelectorAll('td');
			var recent = +td[2].textContent.replace(/\D/g, ''), total = +td[3].textContent.replace(/\D/g, '');
			if (td[0].textContent === 'limit' && recent === 2 && total >= 2) { throttled = true; }
			if (total >= 60 && recent < total) { before = true; }
		});
		return throttled && before;
	})()`); err != nil {
		t.Errorf("the decisions table never showed the throttle's 2 refusals since the page opened beside the flood's counts since start: %v", err)
	}
	browsertest.SaveScreenshot(t, ctx, "dashboard-after-throttle.png", true)
	// Remove the rule, from the page too.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button[data-remove="dashboard-throttle-as16509"]`))); err != nil {
		t.Fatal(err)
	}
	if err := browsertest.WaitTrue(ctx, `!document.querySelector('button[data-remove="dashboard-throttle-as16509"]')`); err != nil {
		t.Errorf("the rule was never removed: %v", err)
	}
}

// The dashboard's actions refuse requests that do not come from its
// page: no token, another origin, another site, not JSON.
func TestDashboardActionsRefuseCrossSiteRequests(t *testing.T) {
	auth := startWithDashboard(t)
	page := func(lang string) string {
		req, _ := http.NewRequest(http.MethodGet, dashboardURL+"?lang="+lang, nil)
		req.Header.Set("Authorization", auth)
		resp, err := adminClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	fr, en := page("fr"), page("en")
	if !strings.Contains(fr, `lang="fr"`) || !strings.Contains(fr, "tableau de bord") || !strings.Contains(en, `lang="en"`) || !strings.Contains(en, "dashboard") {
		t.Errorf("French or English page missing")
	}
	const marker = `data-token="`
	i := strings.Index(en, marker)
	if i < 0 {
		t.Fatal("no token in the page")
	}
	token := en[i+len(marker) : i+len(marker)+64]
	body := `{"action": "deny", "network": "AS16509", "hours": 1}`
	tests := []struct {
		name    string
		headers map[string]string
		want    int
	}{
		{"no token", map[string]string{"Content-Type": "application/json"}, http.StatusForbidden},
		{"wrong token", map[string]string{"Content-Type": "application/json", "X-Rempart-Token": strings.Repeat("0", 64)}, http.StatusForbidden},
		{"another origin", map[string]string{"Content-Type": "application/json", "X-Rempart-Token": token, "Origin": "http://evil.example"}, http.StatusForbidden},
		{"another site", map[string]string{"Content-Type": "application/json", "X-Rempart-Token": token, "Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"a form", map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-Rempart-Token": token}, http.StatusForbidden},
		{"bad hours", map[string]string{"Content-Type": "application/json", "X-Rempart-Token": token, "Origin": "http://localhost:9652"}, http.StatusBadRequest},
	}
	refused := 0
	for _, tc := range tests {
		b := body
		if tc.name == "bad hours" {
			b = `{"action": "deny", "network": "AS16509", "hours": 1000}`
		}
		req, _ := http.NewRequest(http.MethodPost, dashboardURL+"act", strings.NewReader(b))
		req.Header.Set("Authorization", auth)
		for k, v := range tc.headers {
			req.Header.Set(k, v)
		}
		resp, err := adminClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.want)
		} else {
			refused++
		}
	}
	t.Logf("forged actions tried %d, refused as expected %d", len(tests), refused)
	resp, err := adminClient.Get(adminURL + "/rempart/rules")
	if err != nil {
		t.Fatal(err)
	}
	rules, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(rules), "dashboard-") {
		t.Errorf("a refused action added a rule: %s", rules)
	}
}
