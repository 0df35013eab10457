package e2e

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// continueUntil selects "Continue" on the no-JavaScript wait, as a signer
// would, until the petition's form shows: each early selection answers how
// long is left. It returns how many times it selected it.
func continueUntil(ctx context.Context) (int, error) {
	for clicks := 1; ; clicks++ {
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("a.button, main a"))); err != nil {
			return clicks, err
		}
		if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("main"))); err != nil {
			return clicks, err
		}
		nodes, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.ID("petition"), chromedp.AtLeast(0)))
		if err != nil {
			return clicks, err
		}
		if len(nodes) > 0 {
			return clicks, nil
		}
		select {
		case <-ctx.Done():
			return clicks, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// visibleText is what the page shows (scripts off: read from the DOM).
func visibleText(ctx context.Context) (string, error) {
	return chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
}

// Without JavaScript nothing refreshes the page by itself (WCAG 2.2.1):
// the signer waits, then selects Continue. Selected early, it says how long
// is left and keeps the same wait, neither a failure nor a new wait, and
// the text never says there is nothing to click.
func TestNoJavaScriptContinueEarlyKeepsTheWait(t *testing.T) {
	startPetition(t, "noscript_wait 15s")
	ctx := browser(t)
	before := count(t)
	if err := chromedp.Do(ctx, withoutJavaScript, chromedp.Navigate(shieldURL+"/"), chromedp.WaitVisible(chromedp.CSS("a.button"))); err != nil {
		t.Fatal(err)
	}
	head, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("head")))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.ToLower(head), "http-equiv") {
		t.Fatalf("the wait page refreshes itself:\n%s", head)
	}
	text, err := visibleText(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(text, "nothing to click") || strings.Contains(text, "sans rien à cliquer") || !strings.Contains(text, "Continue") {
		t.Fatalf("the page without JavaScript says:\n%s", text)
	}
	href := regexp.MustCompile(`[?&]t=([^&]+)`)
	first, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("a.button"), "href"))
	if err != nil || href.FindStringSubmatch(first.Value) == nil {
		t.Fatalf("no wait link (%v): %q", err, first.Value)
	}

	// Selected at once, long before 15 s.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("a.button")), chromedp.WaitVisible(chromedp.CSS("main a"))); err != nil {
		t.Fatal(err)
	}
	text, err = visibleText(ctx)
	if err != nil {
		t.Fatal(err)
	}
	left := regexp.MustCompile(`(\d+) s left to wait`).FindStringSubmatch(text)
	if left == nil || strings.Contains(text, "did not succeed") {
		t.Fatalf("Continue selected early says:\n%s", text)
	}
	again, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("main a"), "href"))
	if err != nil || href.FindStringSubmatch(again.Value)[1] != href.FindStringSubmatch(first.Value)[1] {
		t.Fatalf("the early page's Continue starts another wait: %q, first %q (%v)", again.Value, first.Value, err)
	}
	t.Logf("selected early: %s s left", left[1])

	clicks, err := continueUntil(ctx)
	if err != nil {
		t.Fatalf("after %d more selections of Continue: %v", clicks, err)
	}
	if err := chromedp.Do(ctx, sign("Noemie")); err != nil {
		t.Fatalf("signing without JavaScript: %v", err)
	}
	if got := count(t); got != before+1 {
		t.Fatalf("count went from %d to %d, want +1", before, got)
	}
}
