package caddymodule_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
)

const policyV1 = `
rules:
  - name: no-scripts
    match:
      user_agent: "(?i)^curl/"
    action: deny
    status: 403
    message: Scripts may not sign.
  - name: open-health
    match:
      path: /healthz
    action: allow
`

const policyV2 = `
rules:
  - name: open-health
    match:
      path: /healthz
    action: deny
    status: 410
`

// waitFor polls until the status of GET path with the given User-Agent is
// want, or fails after the policy had ample time to reload.
func waitFor(t *testing.T, path, ua string, want int) {
	t.Helper()
	var got int
	for range 100 {
		resp, _ := do(t, http.DefaultClient, http.MethodGet, shieldURL+path, nil, "User-Agent", ua)
		if got = resp.StatusCode; got == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("GET %s (%s): status %d, want %d", path, ua, got, want)
}

func TestPolicyFileLiveReload(t *testing.T) {
	file := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(file, []byte(policyV1), 0o644); err != nil {
		t.Fatal(err)
	}
	_, be := startShield(t, "policy "+file+"\npolicy_reload 100ms")

	resp, body := do(t, http.DefaultClient, http.MethodGet, shieldURL+"/", nil, "User-Agent", "curl/8.5.0")
	wantStatus(t, resp, http.StatusForbidden)
	if resp.Header.Get("Rempart-Action") != "refuse" || !strings.Contains(body, "Scripts may not sign.") {
		t.Fatalf("deny rule not applied: %s %q", resp.Header.Get("Rempart-Action"), body)
	}
	resp, _ = do(t, http.DefaultClient, http.MethodGet, shieldURL+"/healthz", nil)
	wantStatus(t, resp, http.StatusOK) // allowed without any pass
	if got := be.received("GET /healthz"); len(got) != 1 {
		t.Fatalf("allowed request not forwarded: %v", be.received(""))
	}

	// A broken file keeps the policy in force.
	if err := os.WriteFile(file, []byte("rules:\n  - name: x\n    match:\n      path_regex: \"(\"\n    action: deny\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	waitFor(t, "/healthz", "Go-http-client/1.1", http.StatusOK)

	// A good edit takes effect within seconds, with no restart.
	if err := os.WriteFile(file, []byte(policyV2), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "/healthz", "Go-http-client/1.1", http.StatusGone)
	// The rule that denied curl is gone: curl is challenged like anyone.
	resp, _ = do(t, http.DefaultClient, http.MethodGet, shieldURL+"/", nil, "User-Agent", "curl/8.5.0")
	if resp.Header.Get("Rempart-Action") != "challenge" {
		t.Fatalf("after the edit curl got %d %q, want a challenge", resp.StatusCode, resp.Header.Get("Rempart-Action"))
	}
}

func TestBrokenPolicyRefusedAtStart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(file, []byte("rules:\n  - name: x\n    action: allow\n  - name: y\n    action: deny\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	caddytest.AssertLoadError(t, fmt.Sprintf(`
	{
		admin localhost:2999
		http_port 9180
		https_port 9543
		auto_https off
		storage file_system %s
	}
	http://localhost:9180 {
		rempart {
			secret integration-test-secret-0123456789
			policy %s
		}
		respond "petition"
	}`, t.TempDir(), file), "caddyfile", "can never match")
}

func TestObserveModeLetsEverythingThrough(t *testing.T) {
	file := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(file, []byte(policyV1), 0o644); err != nil {
		t.Fatal(err)
	}
	_, be := startShield(t, "policy "+file+"\nmode observe")
	for _, ua := range []string{"curl/8.5.0", "Mozilla/5.0"} {
		resp, _ := do(t, http.DefaultClient, http.MethodPost, shieldURL+"/sign", petitionForm, "User-Agent", ua)
		wantStatus(t, resp, http.StatusOK)
	}
	if got := be.received("POST /sign"); len(got) != 2 {
		t.Fatalf("observe mode forwarded %d of 2 requests", len(got))
	}
}

// admin calls rempart's admin API on the test Caddy's admin endpoint.
func admin(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://localhost:2999"+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAdminAPI(t *testing.T) {
	file := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(file, []byte(policyV1), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _ = startShield(t, "policy "+file+"\npolicy_reload 1h")

	// A temporary rule, for the minutes when editing a file is too slow.
	status, body := admin(t, http.MethodPost, "/rempart/rules",
		`{"rule": {"name": "block-as64500", "match": {"path": "/blocked"}, "action": "deny", "status": 451}, "expires_in": "2h"}`)
	if status != http.StatusCreated || !strings.Contains(body, "block-as64500") {
		t.Fatalf("adding a temporary rule: %d %s", status, body)
	}
	t.Cleanup(func() { admin(t, http.MethodDelete, "/rempart/rules/block-as64500", "") })
	resp, _ := do(t, http.DefaultClient, http.MethodGet, shieldURL+"/blocked", nil)
	wantStatus(t, resp, 451)
	// Temporary rules outlive a config reload.
	_, _ = startShield(t, "policy "+file+"\npolicy_reload 1h")
	resp, _ = do(t, http.DefaultClient, http.MethodGet, shieldURL+"/blocked", nil)
	wantStatus(t, resp, 451)
	status, body = admin(t, http.MethodGet, "/rempart/rules", "")
	if status != http.StatusOK || !strings.Contains(body, "block-as64500") {
		t.Fatalf("listing temporary rules: %d %s", status, body)
	}
	status, body = admin(t, http.MethodPost, "/rempart/rules", `{"rule": {"name": "bad", "match": {"path_regex": "("}, "action": "deny"}, "expires_in": "1h"}`)
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, "path_regex") {
		t.Fatalf("a broken temporary rule: %d %s", status, body)
	}
	status, body = admin(t, http.MethodDelete, "/rempart/rules/block-as64500", "")
	if status != http.StatusNoContent {
		t.Fatalf("removing a temporary rule: %d %s", status, body)
	}
	resp, _ = do(t, http.DefaultClient, http.MethodGet, shieldURL+"/blocked", nil)
	wantStatus(t, resp, http.StatusForbidden)
	if resp.Header.Get("Rempart-Action") != "challenge" {
		t.Fatal("removed rule still applies")
	}

	// Explain names the rule a sample request matches.
	status, body = admin(t, http.MethodGet, "/rempart/explain?ip=203.0.113.9&method=GET&path=/&ua=curl/8.5.0", "")
	if status != http.StatusOK || !strings.Contains(body, "no-scripts") {
		t.Fatalf("explain: %d %s", status, body)
	}
	// ...with where the client stands against the budgets that count it.
	_, _ = admin(t, http.MethodPost, "/rempart/rules", `{"rule": {"name": "sign-per-ip", "action": "limit", "counts": "signatures", "per": "ip", "rate": "5/hour"}, "expires_in": "1h"}`)
	status, body = admin(t, http.MethodGet, "/rempart/explain?ip=203.0.113.9&method=POST&path=/sign", "")
	if status != http.StatusOK || !strings.Contains(body, "sign-per-ip: 5 of 5 signatures left") {
		t.Fatalf("explain without budget state: %d %s", status, body)
	}
	_, _ = admin(t, http.MethodDelete, "/rempart/rules/sign-per-ip", "")

	// A reload of a broken file answers 422 with the problems, and the
	// policy in force stays.
	if err := os.WriteFile(file, []byte("rules:\n  - name: x\n    match:\n      user_agent: \"(\"\n    action: deny\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	status, body = admin(t, http.MethodPost, "/rempart/policy/reload", "")
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, "policy.yaml:4") {
		t.Fatalf("reloading a broken file: %d %s", status, body)
	}
	resp, _ = do(t, http.DefaultClient, http.MethodGet, shieldURL+"/", nil, "User-Agent", "curl/8.5.0")
	if resp.Header.Get("Rempart-Action") != "refuse" {
		t.Fatal("the policy in force was lost on a broken reload")
	}
	if err := os.WriteFile(file, []byte(policyV2), 0o644); err != nil {
		t.Fatal(err)
	}
	status, body = admin(t, http.MethodPost, "/rempart/policy/reload", "")
	if status != http.StatusOK {
		t.Fatalf("reloading a good file: %d %s", status, body)
	}
	resp, _ = do(t, http.DefaultClient, http.MethodGet, shieldURL+"/healthz", nil)
	wantStatus(t, resp, http.StatusGone)
}

func TestPolicyDifficultyBelowDefault(t *testing.T) {
	file := filepath.Join(t.TempDir(), "policy.yaml")
	// The handler's default is 8 bits (startShield); this rule asks for 4.
	if err := os.WriteFile(file, []byte("rules:\n  - name: easy\n    match:\n      path: /\n    action: challenge\n    difficulty: 4\n    credits: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tester, _ := startShield(t, "policy "+file)
	_, page := do(t, tester.Client, http.MethodGet, shieldURL+"/", nil)
	if !strings.Contains(page, `data-bits="4"`) {
		t.Fatal("the rule's difficulty was not used")
	}
	resp := pass(t, tester.Client, page)
	wantStatus(t, resp, http.StatusSeeOther)
}
