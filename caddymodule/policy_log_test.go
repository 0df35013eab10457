package caddymodule

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rempart/rempart/budget"
	"github.com/rempart/rempart/policies"
)

// TestBrokenPolicyLoggedOncePerChange checks that the watcher says once
// that a file is broken, not at every check: one line per change of the
// file, whatever the number of checks in between.
func TestBrokenPolicyLoggedOncePerChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	stamp := time.Now().Add(-time.Hour)
	write := func(src string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		// A new time for every write, whatever the file system's clock.
		stamp = stamp.Add(time.Second)
		if err := os.Chtimes(path, stamp, stamp); err != nil {
			t.Fatal(err)
		}
	}
	write("rules:\n  - name: ok\n    match: {path: /ok}\n    action: allow\n")
	tables, err := budget.NewTables(budget.TablesConfig{})
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.InfoLevel)
	lp, err := newLivePolicy(path, nil, policies.ParseOptions{}, tables, policies.BudgetOptions{}, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	ticks := func(n int) {
		for range n {
			_ = lp.reloadAndLog(false)
		}
	}
	refused := func() int {
		return logs.FilterMessage("policy refused; the policy in force stays").Len()
	}
	notReloaded := func() int {
		return logs.FilterMessage("policy not reloaded; the policy in force stays").Len()
	}

	write("rules:\n  - name: broken\n    action: block\n")
	ticks(5)
	if n := refused(); n != 1 {
		t.Fatalf("broken file, unchanged over 5 checks: %d log lines, want 1", n)
	}
	write("rules:\n  - name: still-broken\n    action: bloc\n")
	ticks(5)
	if n := refused(); n != 2 {
		t.Fatalf("broken file changed once more: %d log lines in all, want 2", n)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	ticks(5)
	if n := notReloaded(); n != 1 {
		t.Fatalf("file missing over 5 checks: %d log lines, want 1", n)
	}
	write("rules:\n  - name: fixed\n    match: {path: /ok}\n    action: allow\n")
	ticks(3)
	if n := logs.FilterMessage("policy loaded").Len(); n != 1 {
		t.Fatalf("fixed file: %d \"policy loaded\" lines, want 1", n)
	}
	if n := refused() + notReloaded(); n != 3 {
		t.Errorf("%d error lines in all, want 3", n)
	}
	// A forced reload (the admin API's) always answers, and logs.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	ticks(2)
	if err := lp.reloadAndLog(true); err == nil {
		t.Error("a forced reload of a missing file succeeded")
	}
	if n := notReloaded(); n != 3 {
		t.Errorf("missing again, then a forced reload: %d lines, want 3", n)
	}
}
