package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// A vote by GET: a link on another site must not make its visitors vote.
// Chromium follows the other site's redirect with its pass, or solves the
// challenge by itself and comes back to the vote from the challenge page;
// the shield refuses the navigation from the other site before either.
func TestCrossSiteLinkCannotVote(t *testing.T) {
	var votes atomic.Int64
	ballot := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/vote" {
			votes.Add(1)
			fmt.Fprint(w, `<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Merci</title></head><body><p id="voted">A voté</p></body></html>`)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(ballot.Close)
	startSite(t, "handle /vote {\n\treverse_proxy "+strings.TrimPrefix(ballot.URL, "http://")+"\n}", "protect GET /vote")
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Gagnez un vélo</title></head>
<body><script>location.href = %q</script></body></html>`, shieldURL+"/vote?choice=B")
	}))
	t.Cleanup(evil.Close)
	ctx := browser(t)
	voteResponse := func(ev network.EventResponseReceived) bool {
		return ev.Type == network.ResourceTypeDocument && ev.Response != nil && ev.Response.URL == shieldURL+"/vote?choice=B"
	}

	tries := []struct {
		name   string
		before chromedp.Action[chromedp.Void]
	}{
		// The visitor has read the petition: its pass holds a credit.
		{"with a pass", chromedp.Steps(inFrench, chromedp.Navigate(shieldURL+"/"), chromedp.WaitVisible(chromedp.ID("petition")))},
		// A first visit: the challenge would be solved on the way.
		{"without a pass", chromedp.Steps(clearCookies)},
	}
	for _, try := range tries {
		if err := chromedp.Do(ctx, try.before); err != nil {
			t.Fatalf("%s: %v", try.name, err)
		}
		ev, err := chromedp.Run(ctx, chromedp.WaitEvent(network.ResponseReceived, voteResponse, navigateNoWait(evil.URL+"/")))
		if err != nil {
			t.Fatalf("%s: no answer to GET /vote: %v", try.name, err)
		}
		// A challenge page solves and comes back to the vote: wait for
		// the page the browser ends on.
		var text string
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if text, err = shownPage(ctx, shieldURL+"/vote?choice=B"); err != nil {
				t.Fatalf("%s: %v", try.name, err)
			}
			if strings.Contains(text, "autre site") || strings.Contains(text, "A voté") || time.Now().After(deadline) {
				break
			}
		}
		action := header(ev.Response.Headers, "Rempart-Action")
		t.Logf("%s, from %s: %d, Rempart-Action %q, page %.100q, votes %d", try.name, evil.URL, ev.Response.Status, action, text, votes.Load())
		if ev.Response.Status != http.StatusForbidden || action != "refuse" || !strings.Contains(text, "autre site") {
			t.Errorf("%s: got %d, Rempart-Action %q; want the shield's cross-site refusal", try.name, ev.Response.Status, action)
		}
	}
	t.Logf("links from another site: tried %d / accepted %d / expected 0", len(tries), votes.Load())
	if votes.Load() != 0 {
		t.Fatalf("the other site's link cast %d votes, want 0", votes.Load())
	}

	// The vote opened on the petition's own site still counts, once.
	if err := chromedp.Do(ctx, chromedp.Navigate(shieldURL+"/vote?choice=A"), chromedp.WaitVisible(chromedp.ID("voted"))); err != nil {
		t.Fatalf("voting on the petition's own site: %v", err)
	}
	if votes.Load() != 1 {
		t.Fatalf("the petition's own vote: %d votes, want 1", votes.Load())
	}
}

// A page on another site that loads the petition twenty times (images, a
// script, a frame) spends nothing of its visitor's network: the petition,
// opened next in the same browser, is challenged as usual, not refused
// over a challenge budget of ten a minute.
func TestCrossSitePageSpendsNoBudget(t *testing.T) {
	startPetition(t, "limit challenges per prefix 10/min")
	var page strings.Builder
	for i := range 18 {
		fmt.Fprintf(&page, `<img src="%s/?img=%d" alt="">`, shieldURL, i)
	}
	fmt.Fprintf(&page, `<script src="%s/?script"></script><iframe src="%s/?frame"></iframe>`, shieldURL, shieldURL)
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Actualités</title></head><body>%s</body></html>`, page.String())
	}))
	t.Cleanup(evil.Close)
	ctx := browser(t)

	loads := countRequests(t, ctx, shieldURL+"/?")
	if err := chromedp.Do(ctx, inFrench, chromedp.Navigate(evil.URL+"/"), chromedp.Sleep(time.Second)); err != nil {
		t.Fatal(err)
	}
	tried := loads.count(shieldURL + "/?")
	// The same browser opens the petition: challenged, or refused over the
	// budget that the other site's page spent.
	petition := func(ev network.EventResponseReceived) bool {
		return ev.Type == network.ResourceTypeDocument && ev.Response != nil && ev.Response.URL == shieldURL+"/"
	}
	ev, err := chromedp.Run(ctx, chromedp.WaitEvent(network.ResponseReceived, petition, navigateNoWait(shieldURL+"/")))
	if err != nil {
		t.Fatalf("opening the petition: %v", err)
	}
	action := header(ev.Response.Headers, "Rempart-Action")
	refused := 0
	if ev.Response.Status == http.StatusTooManyRequests {
		refused = 1
	}
	t.Logf("the other site's page loaded the petition %d times; the petition opened next: %d %q (refused %d / expected 0)",
		tried, ev.Response.Status, action, refused)
	if tried < 19 {
		t.Fatalf("only %d loads of the petition seen: the test tests nothing", tried)
	}
	if ev.Response.Status != http.StatusForbidden || action != "challenge" {
		t.Fatalf("the petition opened after the other site's page: %d %q, want a challenge", ev.Response.Status, action)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("petition"))); err != nil {
		t.Fatalf("the petition after its challenge: %v", err)
	}
}
