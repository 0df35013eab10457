package caddymodule_test

import (
	"fmt"
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
