package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/rempart/rempart/budget"
	"github.com/rempart/rempart/policies"
)

// The request path never waits on a change of policy: with policyMu held
// (a reload, a temporary rule being added), a request whose temporary rules
// have expired is decided by the policy in force, at once.
func TestActivePolicyNeverWaits(t *testing.T) {
	tables, err := budget.NewTables(budget.TablesConfig{})
	if err != nil {
		t.Fatal(err)
	}
	lp, err := newLivePolicy("", nil, policies.ParseOptions{Defaults: policies.Defaults{Difficulty: 10, Credits: 1}}, tables, policies.BudgetOptions{}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	rule := json.RawMessage(`{"name": "short", "match": {"asn": 64500}, "action": "deny"}`)
	policyMu.Lock()
	if err := lp.swap(lp.file, []tempRule{{Name: "short", Rule: rule, Expires: now.Add(time.Second)}}, now); err != nil {
		policyMu.Unlock()
		t.Fatal(err)
	}
	// policyMu stays held, as by a reload compiling a large file.
	done := make(chan *activePolicy)
	go func() { done <- lp.active(now.Add(time.Minute)) }()
	select {
	case a := <-done:
		if a == nil || len(a.Chain) == 0 {
			t.Error("no policy in force")
		}
	case <-time.After(10 * time.Second):
		t.Error("a request waited for policyMu")
	}
	policyMu.Unlock()
	// Once the lock is free, the expired rule is dropped.
	if a := lp.active(now.Add(time.Minute)); !a.tempExpiry.IsZero() {
		t.Errorf("expired temporary rule still in force (expiry %s)", a.tempExpiry)
	}
}

// A policy file named through a placeholder that is empty (an environment
// variable not set where Caddy restarted) is a config error, as an empty
// asn_db or secret is: never the embedded default policy in place of the
// file security staff wrote, without a word.
func TestPolicyPlaceholderUnset(t *testing.T) {
	for _, policy := range []string{"{env.REMPART_TEST_UNSET_POLICY}", "{env.REMPART_TEST_UNSET_DIR}{env.REMPART_TEST_UNSET_FILE}"} {
		t.Run(policy, func(t *testing.T) {
			ctx, _ := provisionConfig(t, App{})
			h := Handler{Secret: "unit-test-secret-0123456789", Site: "policy-unset", Policy: policy}
			err := h.Provision(ctx)
			defer h.Cleanup()
			if err == nil {
				t.Fatalf("policy %q provisioned with %q in force, want an error", policy, h.policy.status(time.Now()).File)
			}
			if want := "is empty once placeholders are replaced"; !strings.Contains(err.Error(), want) {
				t.Fatalf("Provision() error = %v, want one containing %q", err, want)
			}
		})
	}
}
