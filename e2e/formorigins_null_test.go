package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// A listed origin's form is let through by its Origin header, and Chromium
// sends "null" instead in two cases, which the README names: a page whose
// referrer policy is no-referrer or same-origin (a header or a meta tag;
// rel="noreferrer" on the form drops the Referer only), whose signatures
// are then refused as another site's; and a POST redirected from another origin, so that an
// unlisted page cannot borrow a listed origin by posting through its
// redirect (307 or 308, which keep the POST and its body).
func TestFormOriginNullOrigin(t *testing.T) {
	var mu sync.Mutex
	var origins []string // the Origin of each POST /sign the shield got
	form := func(w http.ResponseWriter, action, head, rel, auto string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html>
<html lang="fr"><head><meta charset="utf-8">%s<title>Signez</title></head>
<body>
<form id="win" method="post" action="%s"%s>
<input type="hidden" name="name" value="Camille">
<input type="hidden" name="email" value="camille@example.org">
<button id="go" type="submit">Signer</button>
</form>
%s
</body></html>`, head, action, rel, auto)
	}
	campaign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/redirect":
			code, _ := strconv.Atoi(r.URL.Query().Get("code"))
			http.Redirect(w, r, shieldURL+"/sign", code)
		case "/meta":
			form(w, shieldURL+"/sign", `<meta name="referrer" content="same-origin">`, "", "")
		case "/rel":
			form(w, shieldURL+"/sign", "", ` rel="noreferrer"`, "")
		default:
			w.Header().Set("Referrer-Policy", r.URL.Query().Get("policy"))
			form(w, shieldURL+"/sign", "", "", "")
		}
	}))
	t.Cleanup(campaign.Close)
	unlisted := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		form(w, campaign.URL+"/redirect?code="+r.URL.Query().Get("code"), "", "", `<script>document.getElementById("win").submit()</script>`)
	}))
	t.Cleanup(unlisted.Close)
	startPetition(t, "form_origins "+campaign.URL)
	ctx := browser(t)
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSentExtraInfo); ok && e.Headers["Host"] == strings.TrimPrefix(shieldURL, "http://") &&
			e.Headers["Sec-Fetch-Dest"] == "document" && e.Headers["Origin"] != nil && e.Headers["Sec-Fetch-Site"] != "same-origin" {
			mu.Lock()
			origins = append(origins, fmt.Sprint(e.Headers["Origin"]))
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, inFrench, chromedp.Navigate(shieldURL+"/"), chromedp.WaitVisible(chromedp.ID("petition"))); err != nil {
		t.Fatalf("browser did not reach the petition form: %v", err)
	}
	click := func(page string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(chromedp.Navigate(page), chromedp.WaitVisible(chromedp.ID("go")), chromedp.Click(chromedp.ID("go")))
	}
	tries := []struct {
		name    string
		trigger chromedp.Action[chromedp.Void]
		origin  string // what Chromium sends
		signs   bool
	}{
		{"listed, Referrer-Policy: origin", click(campaign.URL + "/?policy=origin"), campaign.URL, true},
		{"listed, Referrer-Policy: no-referrer", click(campaign.URL + "/?policy=no-referrer"), "null", false},
		{"listed, meta referrer same-origin", click(campaign.URL + "/meta"), "null", false},
		{"listed, form rel=noreferrer (Referer only)", click(campaign.URL + "/rel"), campaign.URL, true},
		{"unlisted, through the listed origin's 307", navigateNoWait(unlisted.URL + "/?code=307"), "null", false},
		{"unlisted, through the listed origin's 308", navigateNoWait(unlisted.URL + "/?code=308"), "null", false},
	}
	refused, accepted := 0, 0
	listed, signed := 0, 0
	for _, try := range tries {
		mu.Lock()
		origins = origins[:0]
		mu.Unlock()
		was := count(t)
		ev, err := chromedp.Run(ctx, chromedp.WaitEvent(network.ResponseReceived, signResponse, try.trigger))
		if err != nil {
			t.Fatalf("%s: no answer to the POST /sign: %v", try.name, err)
		}
		action := header(ev.Response.Headers, "Rempart-Action")
		if try.signs {
			if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("thanks"))); err != nil {
				t.Fatalf("%s: %d %q, the petition never thanked the signer: %v", try.name, ev.Response.Status, action, err)
			}
		} else {
			wantCrossSiteRefusal(ctx, t, try.name, ev.Response.Status, action)
			time.Sleep(200 * time.Millisecond) // a late signature would show by now
		}
		added := count(t) - was
		mu.Lock()
		sent := strings.Join(origins, ", ")
		mu.Unlock()
		t.Logf("%s: Origin %s; %d, Rempart-Action %q; the petition got %d", try.name, sent, ev.Response.Status, action, added)
		if !strings.HasPrefix(sent, try.origin) {
			t.Errorf("%s: Chromium sent Origin %q, want %q", try.name, sent, try.origin)
		}
		if want := map[bool]int{true: 1, false: 0}[try.signs]; added != want {
			t.Errorf("%s: the petition got %d signatures, want %d", try.name, added, want)
		}
		if try.signs {
			listed++
			signed += added
		} else {
			refused++
			accepted += added
		}
	}
	t.Logf("listed forms that send their origin: tried %d / accepted %d / expected %d", listed, signed, listed)
	t.Logf("forms whose Origin is null: tried %d / accepted %d / expected 0", refused, accepted)
}
