package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rempart/rempart/internal/chromium"
)

// browserBudget is how many Chromium signers the replay can have: they
// all sign from 127.0.0.1, and the Caddyfile lets one address sign 3 times
// an hour.
const browserBudget = 3

// browserTimeout bounds one Chromium signature, challenge included.
const browserTimeout = 90 * time.Second

// browsers are real signers: headless Chromium, running the shield's own
// page and solver, filling in the demo's form as a person would. Chromium
// connects straight from 127.0.0.1, with no X-Forwarded-For: the shield
// knows no ASN for it and groups it by its /24.
type browsers struct {
	chromium    string
	userDataDir string
	shieldURL   string
	rec         *recorder
}

// run signs count times, spread over spread, each in a fresh browser
// context (no cookies shared), and records every result.
func (b *browsers) run(ctx context.Context, count int, spread time.Duration) error {
	opts := chromium.Options(b.chromium, b.userDataDir)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	if err := chromedp.Do(browserCtx); err != nil {
		return fmt.Errorf("starting Chromium: %w", err)
	}
	start := time.Now()
	for i := range count {
		at := time.Duration(int64(spread) * int64(2*i+1) / int64(2*count))
		if !sleep(ctx, time.Until(start.Add(at))) {
			return nil
		}
		b.rec.browserSignature(b.sign(browserCtx, i))
	}
	return nil
}

// sign opens the petition in a new browser context, passes the challenge
// with no help, and signs.
func (b *browsers) sign(browserCtx context.Context, i int) browserResult {
	tabCtx, cancelTab := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
	defer cancelTab()
	start := time.Now()
	if err := chromedp.Do(tabCtx); err != nil {
		return browserResult{reason: fmt.Sprintf("opening a tab: %v", err), took: time.Since(start)}
	}
	ctx, cancel := context.WithTimeout(tabCtx, browserTimeout)
	defer cancel()
	name := fmt.Sprintf("Chromium%d", i)
	err := chromedp.Do(ctx,
		chromedp.Navigate(b.shieldURL+"/"),
		chromedp.WaitVisible(chromedp.ID("petition")),
		chromedp.SendKeys(chromedp.ID("name"), name),
		chromedp.SendKeys(chromedp.ID("email"), strings.ToLower(name)+"@example.org"),
		chromedp.Click(chromedp.ID("sign")),
		chromedp.WaitVisible(chromedp.ID("thanks")),
	)
	res := browserResult{signed: err == nil, took: time.Since(start)}
	if err != nil {
		res.reason = err.Error()
		if errors.Is(err, context.DeadlineExceeded) {
			res.reason = fmt.Sprintf("no thank-you page within %s", browserTimeout)
		}
	}
	return res
}
