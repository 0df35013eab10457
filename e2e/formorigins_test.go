package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// A form on another origin of the site's own (a campaign site), listed in
// form_origins, signs in real Chromium: its cross-site POST carries no
// SameSite=Lax pass, so the signature is held, the challenge page solves on
// the petition's site, and the signature reaches the petition once. The
// same form served from an origin that is not listed is refused.
func TestFormOriginSignsThroughChallenge(t *testing.T) {
	campaign, unlisted := otherSite(t), otherSite(t)
	startPetition(t, "form_origins "+campaign.URL)
	ctx := browser(t)

	// The signer has read the petition and holds a pass: it is not sent
	// with another site's POST.
	if err := chromedp.Do(ctx, inFrench, chromedp.Navigate(shieldURL+"/"), chromedp.WaitVisible(chromedp.ID("petition"))); err != nil {
		t.Fatalf("browser did not reach the petition form: %v", err)
	}
	before := count(t)

	tries := []struct {
		name  string
		site  string
		signs bool
	}{
		{"listed campaign site", campaign.URL, true},
		{"unlisted site", unlisted.URL, false},
	}
	tried, accepted, expected := 0, 0, 0
	for _, try := range tries {
		tried++
		if try.signs {
			expected++
		}
		was := count(t)
		click := chromedp.Steps(
			chromedp.Navigate(try.site+"/"),
			chromedp.WaitVisible(chromedp.ID("go")),
			chromedp.Click(chromedp.ID("go")),
		)
		ev, err := chromedp.Run(ctx, chromedp.WaitEvent(network.ResponseReceived, signResponse, click))
		if err != nil {
			t.Fatalf("%s: no answer to the POST /sign: %v", try.name, err)
		}
		action := header(ev.Response.Headers, "Rempart-Action")
		if try.signs {
			if ev.Response.Status != http.StatusForbidden || action != "challenge" {
				t.Fatalf("%s: %d, Rempart-Action %q, want the challenge (a cross-site POST carries no pass)", try.name, ev.Response.Status, action)
			}
			// The challenge page solves by itself and releases the held
			// signature; the petition thanks the signer.
			if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("thanks"))); err != nil {
				t.Fatalf("%s: the petition never thanked the signer: %v", try.name, err)
			}
			time.Sleep(200 * time.Millisecond) // a second delivery would show by now
		} else {
			wantCrossSiteRefusal(ctx, t, try.name, ev.Response.Status, action)
		}
		added := count(t) - was
		t.Logf("%s (%s): POST /sign answered %d, Rempart-Action %q; the petition got %d", try.name, try.site, ev.Response.Status, action, added)
		if added > 0 {
			accepted++
		}
		if want := map[bool]int{true: 1, false: 0}[try.signs]; added != want {
			t.Errorf("%s: the petition got %d signatures, want %d", try.name, added, want)
		}
	}
	t.Logf("forms from other origins: tried %d / accepted %d / expected %d", tried, accepted, expected)
	if got := count(t) - before; got != expected {
		t.Fatalf("the petition's count went from %d to %d, want +%d", before, before+got, expected)
	}
}

// wantCrossSiteRefusal checks that the page the browser shows for POST
// /sign is the shield's refusal of a signature sent from another site.
func wantCrossSiteRefusal(ctx context.Context, t *testing.T, name string, status int64, action string) {
	t.Helper()
	text, err := shownPage(ctx, shieldURL+"/sign")
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if status != http.StatusForbidden || action != "refuse" || !strings.Contains(text, "autre site") {
		t.Errorf("%s: got %d, Rempart-Action %q, page %.120q; want the cross-site refusal", name, status, action, text)
	}
}
