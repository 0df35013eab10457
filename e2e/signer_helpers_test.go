package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/rempart/rempart/internal/browsertest"
)

// startSite runs the demo petition behind the shield, like startPetition,
// with extra directives in the site block (site) as well as rempart options.
func startSite(t *testing.T, site string, options ...string) {
	t.Helper()
	tester := caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{AdminPort: 2998})
	tester.InitServer(fmt.Sprintf(`
	{
		admin localhost:2998
		http_port 9280
		https_port 9643
		grace_period 1ns
		auto_https off
		storage file_system %s
	}
	http://:9281 {
		bind 127.0.0.1
		rempart_demo
	}
	http://localhost:9280 {
		%s
		rempart {
			protect POST /sign
			%s
		}
		reverse_proxy 127.0.0.1:9281
	}`, t.TempDir(), site, strings.Join(options, "\n")), "caddyfile")
}

// browserWithPrefs starts headless Chromium as browser does, with a profile
// whose Preferences file is prefs (JSON): cookies blocked, say.
func browserWithPrefs(t *testing.T, prefs string) context.Context {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "Default"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Default", "Preferences"), []byte(prefs), 0o644); err != nil {
		t.Fatal(err)
	}
	return browsertest.Chromium(t, dir)
}

// requests counts the requests the page sends whose URL contains one of
// the given strings.
type requests struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *requests) count(s string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[s]
}

// countRequests starts counting, in the browser of ctx, the requests whose
// URL contains one of subs.
func countRequests(t *testing.T, ctx context.Context, subs ...string) *requests {
	t.Helper()
	r := &requests{n: map[string]int{}}
	err := chromedp.Listen(ctx, func(ev any) {
		e, ok := ev.(*network.EventRequestWillBeSent)
		if !ok {
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, s := range subs {
			if strings.Contains(e.Request.URL, s) {
				r.n[s]++
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}
