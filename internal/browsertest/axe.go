package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// AxeVersion is the axe-core release pages are checked with, from npm.
const AxeVersion = "4.10.3"

var axeOnce struct {
	sync.Once
	src []byte
	err error
}

// AxeSource returns axe.min.js: from $REMPART_AXE (a file) when set, else
// installed once with npm into the user's cache directory (outside the
// tree, so the repository holds no copy of axe-core). Without npm the test
// is skipped, except in CI, where that is a failure.
func AxeSource(t testing.TB) []byte {
	t.Helper()
	axeOnce.Do(func() { axeOnce.src, axeOnce.err = loadAxe() })
	if axeOnce.err != nil {
		if _, err := exec.LookPath("npm"); err != nil && os.Getenv("CI") == "" {
			t.Skip("no npm to install axe-core: install Debian's nodejs and npm packages (scripts/test.sh does), or set REMPART_AXE to axe.min.js")
		}
		t.Fatalf("axe-core: %v", axeOnce.err)
	}
	return axeOnce.src
}

func loadAxe() ([]byte, error) {
	if p := os.Getenv("REMPART_AXE"); p != "" {
		return os.ReadFile(p)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "rempart", "axe-core-"+AxeVersion)
	file := filepath.Join(dir, "node_modules", "axe-core", "axe.min.js")
	if src, err := os.ReadFile(file); err == nil {
		return src, nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "install", "--no-save", "--no-audit", "--no-fund", "--prefix", dir, "axe-core@"+AxeVersion)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("npm install axe-core@%s: %v\n%s", AxeVersion, err, out)
	}
	return os.ReadFile(file)
}

// AxeViolation is one rule of axe-core the page breaks, with the elements
// that break it.
type AxeViolation struct {
	ID     string
	Impact string
	Help   string
	// Nodes are the offending elements' HTML, each with axe-core's
	// summary of what to fix.
	Nodes []string
}

// String is the violation for a test's log: impact, rule, help, then one
// offending element a line.
func (v AxeViolation) String() string {
	return fmt.Sprintf("%s %s: %s\n\t%s", v.Impact, v.ID, v.Help, strings.Join(v.Nodes, "\n\t"))
}

// RunAxe injects axe-core (src, from AxeSource) into the page and returns
// its violations (every rule axe runs by default: WCAG 2.0 to 2.2 A and
// AA, and best practices).
func RunAxe(ctx context.Context, src []byte) ([]AxeViolation, error) {
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](string(src)+";true")); err != nil {
		return nil, fmt.Errorf("injecting axe-core: %w", err)
	}
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](`axe.run(document, {resultTypes: ['violations']}).then(function (r) {
		return JSON.stringify(r.violations.map(function (v) {
			return {ID: v.id, Impact: v.impact, Help: v.help, Nodes: v.nodes.map(function (n) { return n.html + ': ' + n.failureSummary; })};
		}));
	})`, chromedp.EvalAwaitPromise))
	if err != nil {
		return nil, fmt.Errorf("running axe-core: %w", err)
	}
	var v []AxeViolation
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		return nil, fmt.Errorf("reading axe-core's violations: %w", err)
	}
	return v, nil
}
