package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// inFrench makes the browser ask for French pages, the petition's
// language, whatever the machine's locale.
var inFrench = chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
	_, err := cdp.Call(ctx, t, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Accept-Language": "fr-FR,fr;q=0.9"},
	})
	return err
})

// navigateNoWait starts loading url without waiting for the page: a page
// that submits a form while it loads never finishes loading itself.
func navigateNoWait(url string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		res, err := cdp.Call(ctx, t, page.Navigate, page.NavigateParams{URL: url})
		if err == nil && res.ErrorText != "" {
			err = fmt.Errorf("navigating to %s: %s", url, res.ErrorText)
		}
		return err
	})
}

// header reads a response header whatever the case of its name.
func header(h network.Headers, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return fmt.Sprint(v)
		}
	}
	return ""
}

// otherSite serves, on 127.0.0.1 (another site than localhost, where the
// petition is), a page whose form posts a signature to the petition: on
// its own when loaded with ?auto, or when its button is clicked.
func otherSite(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auto := ""
		if r.URL.Query().Has("auto") {
			auto = `<script>document.getElementById("win").submit()</script>`
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>Gagnez un vélo</title></head>
<body>
<form id="win" method="post" action="%s/sign">
<input type="hidden" name="name" value="Victime">
<input type="hidden" name="email" value="victime@example.org">
<button id="go" type="submit">Participer au tirage</button>
</form>
%s
</body></html>`, shieldURL, auto)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// signResponse is the event of the browser receiving the answer to its
// POST /sign document request.
func signResponse(ev network.EventResponseReceived) bool {
	return ev.Type == network.ResourceTypeDocument && ev.Response != nil && ev.Response.URL == shieldURL+"/sign"
}

// shownPage waits until the browser shows a loaded page at url and returns
// its text.
func shownPage(ctx context.Context, url string) (string, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		loc, err := chromedp.Run(ctx, chromedp.Location())
		if err == nil && loc == url {
			state, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.readyState`))
			if err == nil && state == "complete" {
				return chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("the browser does not show %s (it shows %q)", url, loc)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestCrossSiteFormCannotSign(t *testing.T) {
	startPetition(t)
	ctx := browser(t)
	evil := otherSite(t)

	// The browser is a signer's: it has opened the petition and holds a
	// pass with a signature's credit in it.
	if err := chromedp.Do(ctx, inFrench, chromedp.Navigate(shieldURL+"/"), chromedp.WaitVisible(chromedp.ID("petition"))); err != nil {
		t.Fatalf("browser did not reach the petition form: %v", err)
	}
	before := count(t)

	// The other site makes the browser post a signature, by a form that
	// submits itself, then by one its visitor clicks.
	tries := []struct {
		name    string
		trigger chromedp.Action[chromedp.Void]
	}{
		{"form that submits itself", navigateNoWait(evil.URL + "/?auto")},
		{"form clicked by its visitor", chromedp.Steps(
			chromedp.Navigate(evil.URL+"/"),
			chromedp.WaitVisible(chromedp.ID("go")),
			chromedp.Click(chromedp.ID("go")),
		)},
	}
	tried := 0
	for _, try := range tries {
		tried++
		ev, err := chromedp.Run(ctx, chromedp.WaitEvent(network.ResponseReceived, signResponse, try.trigger))
		if err != nil {
			t.Fatalf("%s: no answer to the POST /sign: %v", try.name, err)
		}
		text, err := shownPage(ctx, shieldURL+"/sign")
		if err != nil {
			t.Fatalf("%s: %v", try.name, err)
		}
		resp := ev.Response
		action := header(resp.Headers, "Rempart-Action")
		t.Logf("%s, from %s: %d, Rempart-Action %q, page %.120q", try.name, evil.URL, resp.Status, action, text)
		if resp.Status != http.StatusForbidden || action != "refuse" || !strings.Contains(text, "autre site") {
			t.Errorf("%s: got %d, Rempart-Action %q, page %q; want the shield's cross-site refusal (403, refuse, \"autre site\")",
				try.name, resp.Status, action, text)
		}
		if got := count(t); got != before {
			t.Fatalf("%s: the petition's count went from %d to %d", try.name, before, got)
		}
	}

	// A script on the other site tries too, with fetch; it cannot read the
	// answer, but the request reaches the shield all the same.
	tried++
	if err := chromedp.Do(ctx, chromedp.Navigate(evil.URL+"/")); err != nil {
		t.Fatal(err)
	}
	post := chromedp.Evaluate[any](fmt.Sprintf(`fetch(%q, {method: "POST", mode: "no-cors", credentials: "include",
		body: new URLSearchParams({name: "Victime", email: "victime@example.org"})}).then(() => true)`, shieldURL+"/sign"), chromedp.EvalAwaitPromise)
	ev, err := chromedp.Run(ctx, chromedp.WaitEvent(network.ResponseReceived, func(ev network.EventResponseReceived) bool {
		return ev.Type == network.ResourceTypeFetch && ev.Response != nil && ev.Response.URL == shieldURL+"/sign"
	}, post))
	if err != nil {
		t.Fatalf("fetch from the other site: %v", err)
	}
	// The script cannot read the answer (an opaque response), and DevTools
	// sees only its status: the count below is what matters.
	t.Logf("fetch from the other site: %d", ev.Response.Status)
	if ev.Response.Status != http.StatusForbidden {
		t.Errorf("fetch from the other site: got %d, want 403", ev.Response.Status)
	}
	accepted := count(t) - before
	t.Logf("other site: tried %d / accepted %d / expected 0", tried, accepted)
	if accepted != 0 {
		t.Fatalf("the other site's forms added %d signatures, want 0", accepted)
	}

	// The same browser, on the petition's own page, still signs.
	if err := chromedp.Do(ctx, chromedp.Navigate(shieldURL+"/"), sign("Camille")); err != nil {
		t.Fatalf("signing on the petition's own page after the other site's tries: %v", err)
	}
	got := count(t) - before
	t.Logf("own page: tried 1 / accepted %d / expected 1", got)
	if got != 1 {
		t.Fatalf("signing on the petition's own page added %d signatures, want 1", got)
	}
}
