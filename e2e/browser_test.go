package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	_ "github.com/rempart/rempart"
	"github.com/rempart/rempart/internal/browsertest"
	_ "github.com/rempart/rempart/internal/demo"
)

const (
	shieldURL = "http://localhost:9280"
	demoURL   = "http://127.0.0.1:9281"
)

// startPetition runs the quickstart's setup in a real Caddy: the demo
// petition, and the shield in front of it, with extra rempart options.
func startPetition(t *testing.T, options ...string) {
	t.Helper()
	startSite(t, "", options...)
}

// count asks the demo petition, directly, how many signatures it has.
func count(t *testing.T) int {
	t.Helper()
	resp, err := http.Get(demoURL + "/api/count")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var c struct{ Count int }
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		t.Fatal(err)
	}
	return c.Count
}

// browser starts headless Chromium with a new profile (see
// browsertest.Chromium: skipped without Chromium, except in CI).
func browser(t *testing.T) context.Context {
	t.Helper()
	return browsertest.Chromium(t, t.TempDir())
}

// sign fills in the petition form and submits it, as a person would, then
// waits for the petition's thank-you.
func sign(name string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.WaitVisible(chromedp.ID("petition")),
		chromedp.SendKeys(chromedp.ID("name"), name),
		chromedp.SendKeys(chromedp.ID("email"), strings.ToLower(name)+"@example.org"),
		chromedp.Click(chromedp.ID("sign")),
		chromedp.WaitVisible(chromedp.ID("thanks")),
	)
}

// clearCookies forgets every cookie the browser holds, the pass included.
var clearCookies = chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
	_, err := cdp.Call(ctx, t, network.ClearBrowserCookies, cdp.Empty{})
	return err
})

func TestBrowserSignsThroughShield(t *testing.T) {
	startPetition(t)
	ctx := browser(t)
	before := count(t)

	// The browser opens the petition: it gets the challenge, solves it with
	// no click, and lands on the form.
	if err := chromedp.Do(ctx, chromedp.Navigate(shieldURL+"/"), chromedp.WaitVisible(chromedp.ID("petition"))); err != nil {
		t.Fatalf("browser did not reach the petition form: %v", err)
	}
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	if title != "Pétition de démonstration" {
		t.Fatalf("page title %q", title)
	}
	if err := chromedp.Do(ctx, sign("Alice")); err != nil {
		t.Fatalf("signing: %v", err)
	}
	if got := count(t); got != before+1 {
		t.Fatalf("count went from %d to %d, want +1", before, got)
	}

	// A plain HTTP client that does no work changes nothing.
	resp, err := http.PostForm(shieldURL+"/sign", url.Values{"name": {"Bot"}, "email": {"bot@example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("unsolved POST /sign: status %d, want 403", resp.StatusCode)
	}
	if got := count(t); got != before+1 {
		t.Fatalf("unsolved POST changed the count to %d", got)
	}
}

func TestBrowserSignatureSurvivesClearedCookies(t *testing.T) {
	startPetition(t)
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(shieldURL+"/"), chromedp.WaitVisible(chromedp.ID("petition"))); err != nil {
		t.Fatalf("browser did not reach the petition form: %v", err)
	}
	before := count(t)
	// The signer's pass disappears after the form is shown: the submission
	// is interrupted by a challenge, held, and sent on once solved.
	if err := chromedp.Do(ctx, clearCookies, sign("Bob")); err != nil {
		t.Fatalf("signing after clearing cookies: %v", err)
	}
	if got := count(t); got != before+1 {
		t.Fatalf("count went from %d to %d, want exactly +1", before, got)
	}
}

func TestPassCopiedOutOfBrowserBuysOneSignature(t *testing.T) {
	startPetition(t)
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(shieldURL+"/"), chromedp.WaitVisible(chromedp.ID("petition"))); err != nil {
		t.Fatalf("browser did not reach the petition form: %v", err)
	}
	// Copy the pass out of the browser, with its User-Agent, as a bot
	// operator would, and replay it from a script.
	var pass string
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		res, err := cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{shieldURL + "/"}})
		if err != nil {
			return err
		}
		for _, c := range res.Cookies {
			if c.Name == "rempart_pass" {
				pass = c.Value
			}
		}
		return nil
	}))
	if err != nil || pass == "" {
		t.Fatalf("no pass cookie in the browser (%v)", err)
	}
	ua, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.userAgent`))
	if err != nil {
		t.Fatal(err)
	}
	// "localhost" is ::1 or 127.0.0.1 and the browser chose one: replay
	// from both, so that one of them is the browser's own network.
	var clients []*http.Client
	for _, addr := range []string{"127.0.0.1:9280", "[::1]:9280"} {
		clients = append(clients, &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			},
		}})
	}
	before := count(t)
	for i := range 20 {
		form := url.Values{"name": {fmt.Sprintf("Replay %d", i)}, "email": {"replay@example.org"}}
		req, _ := http.NewRequest(http.MethodPost, shieldURL+"/sign", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Cookie", "rempart_pass="+pass)
		req.Header.Set("User-Agent", ua)
		resp, err := clients[i%2].Do(req)
		if err != nil {
			t.Logf("replay %d: %v (no IPv6 loopback here?)", i, err)
			continue
		}
		resp.Body.Close()
	}
	if got := count(t) - before; got != 1 {
		t.Fatalf("20 replays of a copied 1-credit pass added %d signatures, want exactly its 1 credit", got)
	}
}
