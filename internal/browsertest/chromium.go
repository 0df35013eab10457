package browsertest

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
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
	path := chromiumPath()
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("no Chromium found in CI: install Debian's chromium package (scripts/test.sh does)")
		}
		t.Skip("no Chromium found: install Debian's chromium package, or set REMPART_CHROMIUM")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		// Tests run as root in CI containers, where Chromium's sandbox
		// cannot start; the pages are our own.
		chromedp.NoSandbox,
		// Headless machines have no GPU; software rendering is enough.
		chromedp.DisableGPU,
		chromedp.UserDataDir(userDataDir),
		// A closed network: the browser sends only the requests the test
		// makes, over TCP (no QUIC), and nothing of its own (no component
		// updates, no sync) that would reach outside servers, wait on them
		// on an offline machine, or add requests the shield would count.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	opts = append(opts, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return ctx
}

// chromiumPath is $REMPART_CHROMIUM, else the first Chromium or Chrome on
// PATH, else "".
func chromiumPath() string {
	if path := os.Getenv("REMPART_CHROMIUM"); path != "" {
		return path
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	return ""
}
