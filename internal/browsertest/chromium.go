package browsertest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rempart/rempart/internal/chromium"
)

// DefaultTimeout bounds a browser started by Chromium: a test that hangs
// on a page fails instead of running until go test's own deadline.
const DefaultTimeout = 2 * time.Minute

// Chromium starts headless Chromium on the profile in userDataDir (pass
// t.TempDir() for a new one) and returns its context, valid for
// DefaultTimeout and closed when the test ends.
//
// It skips the test when no Chromium is installed, except in CI, where
// that is a failure: CI must not pass by skipping every browser test.
func Chromium(t testing.TB, userDataDir string) context.Context {
	t.Helper()
	return ChromiumWithin(t, userDataDir, DefaultTimeout)
}

// ChromiumWithin is Chromium with a timeout of its own, for tests that
// drive the browser through more pages than DefaultTimeout allows, and
// extra allocator options (flags) after the usual ones.
func ChromiumWithin(t testing.TB, userDataDir string, timeout time.Duration, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path := chromium.Find()
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("no Chromium found in CI: install Debian's chromium package (scripts/test.sh does)")
		}
		t.Skip("no Chromium found: install Debian's chromium package, or set REMPART_CHROMIUM")
	}
	opts := chromium.Options(path, userDataDir, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return ctx
}
