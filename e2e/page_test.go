package e2e

import (
	"context"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/rempart/rempart/internal/browsertest"
)

// withoutJavaScript turns the page's scripts off, as a browser with
// JavaScript disabled would.
var withoutJavaScript = chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
	_, err := cdp.Call(ctx, t, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
	return err
})

// phone makes the viewport a 320 px wide phone screen.
var phone = chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
	_, err := cdp.Call(ctx, t, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
		Width: 320, Height: 640, DeviceScaleFactor: 2, Mobile: true,
	})
	return err
})

func TestChallengePageFitsASmallScreen(t *testing.T) {
	startPetition(t)
	ctx := browser(t)
	// Without JavaScript the page stays on screen to be measured.
	if err := chromedp.Do(ctx, withoutJavaScript, phone, chromedp.Navigate(shieldURL+"/"), chromedp.WaitVisible(chromedp.CSS("main"))); err != nil {
		t.Fatal(err)
	}
	browsertest.SaveScreenshot(t, ctx, "challenge-320px.png", false)
	nodes, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSS("main")))
	if err != nil || len(nodes) != 1 {
		t.Fatalf("no main element: %v", err)
	}
	box, err := chromedp.Run(ctx, chromedp.Dimensions(chromedp.CSS("main")))
	if err != nil {
		t.Fatal(err)
	}
	var right float64
	for i := 0; i+1 < len(box.Content); i += 2 {
		right = max(right, box.Content[i])
	}
	if right > 320 {
		t.Fatalf("the page is %.0f px wide on a 320 px screen", right)
	}
	live, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.ID("rempart-status"), "aria-live"))
	if err != nil || live.Value != "polite" {
		t.Fatalf("status is not announced to screen readers: aria-live=%q (%v)", live.Value, err)
	}
}

func TestBrowserWithoutJavaScriptSigns(t *testing.T) {
	startPetition(t, "noscript_wait 1s")
	ctx := browser(t)
	before := count(t)
	// No script runs: the signer selects Continue once the wait is over
	// (and again, if selected too early).
	if err := chromedp.Do(ctx, withoutJavaScript, chromedp.Navigate(shieldURL+"/")); err != nil {
		t.Fatal(err)
	}
	if _, err := continueUntil(ctx); err != nil {
		t.Fatalf("a browser without JavaScript never got past the wait: %v", err)
	}
	if err := chromedp.Do(ctx, sign("Dominique")); err != nil {
		t.Fatalf("a browser without JavaScript could not sign: %v", err)
	}
	if got := count(t); got != before+1 {
		t.Fatalf("count went from %d to %d, want +1", before, got)
	}
}
