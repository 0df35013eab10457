package browsertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// WaitTrue evaluates the JavaScript expression expr in the page until it
// is true, across the page's navigations (an error while the page changes
// is retried, not returned), or until ctx ends.
func WaitTrue(ctx context.Context, expr string) error {
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("never true: %s (last error %v): %w", expr, err, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Viewport makes the page's screen width x height CSS pixels, a phone's
// (touch, mobile layout) when mobile is set.
func Viewport(width, height int64, mobile bool) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
			Width: width, Height: height, DeviceScaleFactor: 1, Mobile: mobile,
		})
		return err
	})
}

// SaveScreenshot keeps a screenshot of the page for people to look at, as
// dir/name when $REMPART_SCREENSHOTS is dir, and does nothing otherwise.
// fullPage takes the whole page rather than only the viewport.
func SaveScreenshot(t testing.TB, ctx context.Context, name string, fullPage bool) {
	t.Helper()
	dir := os.Getenv("REMPART_SCREENSHOTS")
	if dir == "" {
		return
	}
	var png []byte
	var err error
	if fullPage {
		png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
	} else {
		png, err = chromedp.Run(ctx, chromedp.CaptureScreenshot())
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
