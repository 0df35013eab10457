// Package chromium finds a headless Chromium to drive with chromedp and
// gives the flags every rempart tool starts it with: the tests (through
// internal/browsertest) and rempart-flood's browser signers.
package chromium

import (
	"os"
	"os/exec"

	"github.com/chromedp/chromedp"
)

// Find returns the path of a Chromium to drive: $REMPART_CHROMIUM when
// set, else the first Chromium or Chrome on PATH, else "".
func Find() string {
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

// Options are chromedp's allocator options for headless Chromium at path
// on the profile in userDataDir, followed by extra.
func Options(path, userDataDir string, extra ...chromedp.ExecAllocatorOption) []chromedp.ExecAllocatorOption {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		// In CI containers Chromium runs as root, where its sandbox
		// cannot start; the pages it opens are our own.
		chromedp.NoSandbox,
		// Headless machines have no GPU; software rendering is enough.
		chromedp.DisableGPU,
		chromedp.UserDataDir(userDataDir),
		// A closed network: the browser sends only the requests it is
		// told to, over TCP (no QUIC), and nothing of its own (no
		// component updates, no sync) that would reach outside servers,
		// wait on them on an offline machine, or add requests the shield
		// would count.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	return append(opts, extra...)
}
