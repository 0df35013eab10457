package caddymodule

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/rempart/rempart/budget"
	"github.com/rempart/rempart/policies"
)

// Staff copy a new policy over the one in force (cp, or an editor that
// writes in place), and a check catches the file half written. "rules:"
// alone is a policy, so the part written so far would be put in force
// until the next check, without the deny rule that follows it. A changed
// file is loaded only once it has gone unwritten for a while, or two
// checks found it the same.
func TestHalfWrittenPolicyIsNotLoaded(t *testing.T) {
	const (
		deny    = "rules:\n  - name: deny-flood\n    match: {user_agent: \"^FloodBot\"}\n    action: deny\n"
		denyToo = deny + "  - name: deny-other\n    match: {user_agent: \"^OtherBot\"}\n    action: deny\n"
	)
	path := filepath.Join(t.TempDir(), "policy.yaml")
	write := func(src string, at time.Time) {
		t.Helper()
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, at, at); err != nil {
			t.Fatal(err)
		}
	}
	write(deny, time.Now().Add(-time.Hour))
	tables, err := budget.NewTables(budget.TablesConfig{})
	if err != nil {
		t.Fatal(err)
	}
	lp, err := newLivePolicy(path, nil, policies.ParseOptions{}, tables, policies.BudgetOptions{}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	denied := func(ua string) bool {
		r := policies.Request{Method: http.MethodGet, Path: "/", UserAgent: ua}
		return lp.Active(time.Now()).Chain.Decide(&r).Action == policies.ActionDeny
	}
	if !denied("FloodBot/1") {
		t.Fatal("the first policy does not deny FloodBot")
	}

	// Caught after its first line, just written.
	now := time.Now()
	write("rules:\n", now)
	_ = lp.reloadAndLog(false)
	halfInForce := 0
	if !denied("FloodBot/1") {
		halfInForce++
	}
	// Then whole, just written: the next check but one loads it.
	write(denyToo, now.Add(10*time.Millisecond))
	_ = lp.reloadAndLog(false)
	if !denied("FloodBot/1") {
		halfInForce++
	}
	loadedAtOnce := denied("OtherBot/1")
	_ = lp.reloadAndLog(false)
	loaded := denied("OtherBot/1") && denied("FloodBot/1")
	t.Logf("a policy caught half written: checks that put it in force %d / expected 0; the whole file loaded at the check that found it %v, at the next %v",
		halfInForce, loadedAtOnce, loaded)
	if halfInForce != 0 {
		t.Errorf("a half-written policy was in force after %d checks", halfInForce)
	}
	if !loaded {
		t.Error("the whole file, unchanged over two checks, was not loaded")
	}

	// A file written long enough ago loads at the first check.
	write(deny, time.Now().Add(-time.Minute))
	_ = lp.reloadAndLog(false)
	if denied("OtherBot/1") {
		t.Error("a settled file was not loaded at the first check")
	}
}
