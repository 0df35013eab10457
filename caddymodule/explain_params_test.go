package caddymodule

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/spf13/cobra"
)

// TestExplainUserAgentFlag checks that `rempart explain` takes the
// User-Agent as --user-agent, as the admin API takes user_agent, and as
// --ua still.
func TestExplainUserAgentFlag(t *testing.T) {
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	src := "rules:\n  - name: no-curl\n    match: {user_agent: \"(?i)^curl/\"}\n    action: deny\n"
	if err := os.WriteFile(policy, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, flag := range []string{"--user-agent", "--ua"} {
		out, _, err := runCommand(t, "explain", "--policy", policy, "--ip", "203.0.113.9", flag, "curl/8.5.0")
		if err != nil || !strings.Contains(out, "decided:  rule no-curl") {
			t.Errorf("%s: %v\n%s", flag, err, out)
		}
	}
}

// TestExplainParametersDocumented checks that the README's table of
// explain parameters names the command's flags and the admin API's query
// parameters, and nothing else.
func TestExplainParametersDocumented(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var flags explainFlags
	cmd := &cobra.Command{}
	flags.register(cmd)
	code := regexp.MustCompile("`([^`]+)`")
	var documentedFlags, documentedParams []string
	for _, line := range strings.Split(string(data), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) != 6 || !strings.Contains(cells[2], "--") {
			continue
		}
		for _, m := range code.FindAllStringSubmatch(cells[2], -1) {
			documentedFlags = append(documentedFlags, strings.Fields(m[1])[0])
		}
		for _, m := range code.FindAllStringSubmatch(cells[3], -1) {
			param, _, _ := strings.Cut(m[1], "=")
			documentedParams = append(documentedParams, param)
		}
	}
	if len(documentedFlags) == 0 {
		t.Fatal("README has no table of explain parameters")
	}
	for _, f := range documentedFlags {
		if cmd.Flags().Lookup(strings.TrimPrefix(f, "--")) == nil {
			t.Errorf("README documents %s, which rempart explain does not take", f)
		}
	}
	for _, p := range documentedParams {
		if !slices.Contains(explainParams, p) {
			t.Errorf("README documents %s, which /rempart/explain does not take", p)
		}
	}
	for _, p := range explainParams {
		if !slices.Contains(documentedParams, p) {
			t.Errorf("/rempart/explain takes %s, which README does not document", p)
		}
		flag := "--" + strings.ReplaceAll(p, "_", "-")
		if cmd.Flags().Lookup(strings.TrimPrefix(flag, "--")) == nil {
			t.Errorf("/rempart/explain takes %s, but rempart explain has no %s", p, flag)
		}
	}
}

// multiSiteAdmin is the admin endpoint of TestAdminAnswersPerSite's Caddy.
const multiSiteAdmin = "http://localhost:2993"

// TestAdminAnswersPerSite runs two sites, the second in observe mode, and
// checks that the admin API answers one labelled block per site, in
// Caddyfile order, each with its mode.
func TestAdminAnswersPerSite(t *testing.T) {
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(policy, []byte("rules:\n  - name: no-curl\n    match: {user_agent: \"(?i)^curl/\"}\n    action: deny\n  - name: no-tea\n    match: {header: {X-Tea: \"^yes$\"}}\n    action: deny\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tester := caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{AdminPort: 2993, LoadRequestTimeout: 30 * time.Second})
	tester.InitServer(fmt.Sprintf(`
	{
		admin localhost:2993
		http_port 9480
		https_port 9483
		grace_period 1ns
		auto_https off
		storage file_system %s
	}
	http://localhost:9480 {
		rempart {
			secret integration-test-secret-0123456789
			protect POST /sign
		}
		respond "first"
	}
	http://127.0.0.1:9480 {
		rempart {
			secret integration-test-secret-0123456789
			protect POST /sign
			mode observe
			policy %s
		}
		respond "second"
	}`, t.TempDir(), policy), "caddyfile")

	get := func(path string) string {
		t.Helper()
		resp, err := http.Get(multiSiteAdmin + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		return string(body)
	}

	status := get("/rempart/policy")
	order := regexp.MustCompile(`"site":"(site-\d)","mode":"(\w+)"`).FindAllStringSubmatch(status, -1)
	if len(order) != 2 || order[0][1] != "site-1" || order[0][2] != "enforce" || order[1][1] != "site-2" || order[1][2] != "observe" {
		t.Fatalf("/rempart/policy: want site-1 enforce then site-2 observe, got:\n%s", status)
	}

	q := url.Values{"ip": {"203.0.113.9"}, "method": {"GET"}, "path": {"/"}, "user_agent": {"curl/8.5.0"}}
	explain := get("/rempart/explain?" + q.Encode())
	first, second, ok := strings.Cut(explain, "site:     site-2, mode observe")
	if !ok || !strings.HasPrefix(first, "site:     site-1, mode enforce\n") {
		t.Fatalf("explain: want a block for site-1 (enforce) then one for site-2 (observe), got:\n%s", explain)
	}
	if strings.Contains(first, "no-curl") || !strings.Contains(second, "decided:  rule no-curl") || !strings.Contains(second, "the request goes through") {
		t.Errorf("explain: site-1 has the default policy, site-2 the file's no-curl rule, in observe mode; got:\n%s", explain)
	}
	// ua is an alias of user_agent; header takes Name=value.
	q.Del("user_agent")
	q.Set("ua", "curl/8.5.0")
	if explain := get("/rempart/explain?" + q.Encode()); !strings.Contains(explain, "decided:  rule no-curl") {
		t.Errorf("explain with ua: no-curl does not decide:\n%s", explain)
	}
	q.Del("ua")
	q.Set("header", "X-Tea=yes")
	if explain := get("/rempart/explain?" + q.Encode()); !strings.Contains(explain, "decided:  rule no-tea") {
		t.Errorf("explain with a header: no-tea does not decide:\n%s", explain)
	}
	// A 6to4 address is explained as the IPv4 address it carries.
	q = url.Values{"ip": {"2002:345e:101:beef::1"}, "method": {"POST"}, "path": {"/sign"}}
	explain = get("/rempart/explain?" + q.Encode())
	for _, want := range []string{
		"address:  2002:345e:101:beef::1 is a 6to4 address: it maps to IPv4 52.94.1.1, whose network, budgets and rules apply\n",
		"lookup:   52.94.1.1  unknown ASN: budgets per asn count it by its prefix 52.94.1.0/24\n",
	} {
		if strings.Count(explain, want) != 2 {
			t.Errorf("explain of a 6to4 address: want %q in both sites' blocks, got:\n%s", want, explain)
		}
	}
	resp, err := http.Get(multiSiteAdmin + "/rempart/explain?ip=203.0.113.9&useragent=curl")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("an unknown parameter: %d, want 400", resp.StatusCode)
	}
}

// TestExplainRefusesWhatNoRequestHolds gives `rempart explain` and the
// admin API's /rempart/explain an address, method, path or host that no
// HTTP request can hold: both refuse it, with the same message, rather than
// explain it, a control character included, which would write a forged
// line ("decided:  ...") into the explanation staff read.
func TestExplainRefusesWhatNoRequestHolds(t *testing.T) {
	const admin = "localhost:3032"
	tester := caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{AdminPort: 3032, LoadRequestTimeout: 30 * time.Second})
	tester.InitServer(fmt.Sprintf(`
	{
		admin %s
		http_port 9692
		grace_period 1ns
		auto_https off
		storage file_system %s
	}
	http://localhost:9692 {
		rempart {
			secret integration-test-secret-0123456789
			protect POST /sign
		}
		respond "petition"
	}`, admin, t.TempDir()), "caddyfile")

	const forged = "\ndecided:  rule allow-all (line 1), which matches every request\naction:   allow"
	tests := []struct{ param, value, wantErr string }{
		{"ip", "fe80::1%" + forged, `ip "fe80::1%\ndecided:`},
		{"method", "G ET", `method "G ET": want a method such as GET or POST`},
		{"method", "POST" + forged, `method "POST\ndecided:`},
		{"path", "sign", `path "sign": want a path starting with /`},
		{"path", "/sign" + forged, `path "/sign\ndecided:`},
		{"path", "/sign\x1b[2J", `path "/sign\x1b[2J": want a path starting with /, with no control character`},
		{"host", "petition.example.org" + forged, `host "petition.example.org\ndecided:`},
		{"host", "petition example", `host "petition example": want a host name, such as petition.example.org`},
	}
	var cliAccepted, apiAccepted int
	for _, tt := range tests {
		args := []string{"--ip", "203.0.113.9", "--" + tt.param, tt.value}
		_, _, err := runCommand(t, "explain", args...)
		switch {
		case err == nil:
			cliAccepted++
			t.Errorf("rempart explain --%s %q: explained, want an error", tt.param, tt.value)
		case !strings.Contains(err.Error(), "--"+tt.wantErr):
			t.Errorf("rempart explain --%s %q: %v, want an error saying %q", tt.param, tt.value, err, "--"+tt.wantErr)
		}

		q := url.Values{"ip": {"203.0.113.9"}, tt.param: {tt.value}}
		resp, err := http.Get("http://" + admin + "/rempart/explain?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var answer struct{ Error string }
		_ = json.Unmarshal(body, &answer)
		switch {
		case resp.StatusCode == http.StatusOK:
			apiAccepted++
			t.Errorf("/rempart/explain?%s=%q: explained, want 400:\n%s", tt.param, tt.value, body)
		case resp.StatusCode != http.StatusBadRequest || !strings.Contains(answer.Error, tt.wantErr):
			t.Errorf("/rempart/explain?%s=%q: %d %s, want 400 saying %q", tt.param, tt.value, resp.StatusCode, body, tt.wantErr)
		}
	}
	if cliAccepted+apiAccepted > 0 {
		t.Errorf("of %d requests no HTTP request can hold, rempart explain explained %d and /rempart/explain %d, want 0", len(tests), cliAccepted, apiAccepted)
	}
}
