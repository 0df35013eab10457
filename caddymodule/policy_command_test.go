package caddymodule

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/rempart/rempart/policies"
)

// runCommand runs `name args...` as registered with Caddy's command line.
func runCommand(t *testing.T, name string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return runCommandWithInput(t, name, "", args...)
}

// runCommandWithInput is runCommand with stdin as the standard input.
func runCommandWithInput(t *testing.T, name, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	registered, ok := caddycmd.Commands()[name]
	if !ok {
		t.Fatalf("the %s command is not registered", name)
	}
	cmd := &cobra.Command{Use: name, SilenceUsage: true, SilenceErrors: true}
	registered.CobraFunc(cmd)
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(args)
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

// badRegexPolicy has a regular expression that does not compile on line 12.
const badRegexPolicy = `# A policy with a mistake on line 12.
rules:
  - name: well-known
    match:
      method: GET
      path: /robots.txt
    action: allow

  - name: deny-scripts
    match:
      method: POST
      user_agent: "(curl|wget"
    action: deny
`

// testedPolicy has one test that passes and one that fails.
const testedPolicy = `rules:
  - name: health
    match: {method: GET, path: /healthz}
    action: allow
  - name: deny-scripts
    match:
      method: POST
      user_agent: "(?i)^curl/"
    action: deny
  - name: vpn-harder
    match: {class: vpn}
    action: challenge
    difficulty_delta: 1

tests:
  - name: the health check passes
    request: {method: GET, path: /healthz}
    expect: {action: allow, rule: health}
  - name: curl may sign
    request: {method: POST, path: /sign, user_agent: curl/8.5.0}
    expect: {action: challenge}
`

type commandCase struct {
	name       string
	args       []string
	wantOut    string // exact, unless wantOutHas is set
	wantOutHas []string
	wantStderr string
	wantErr    string
}

func (tt commandCase) run(t *testing.T, command string) {
	t.Helper()
	out, stderr, err := runCommand(t, command, tt.args...)
	if tt.wantErr == "" && err != nil {
		t.Fatalf("error %v; standard error %q", err, stderr)
	}
	if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
		t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
	}
	if tt.wantOutHas != nil {
		for _, want := range tt.wantOutHas {
			if !strings.Contains(out, want) {
				t.Errorf("output:\n%s\nwant it to contain %q", out, want)
			}
		}
	} else if out != tt.wantOut {
		t.Errorf("output:\n%s\nwant:\n%s", out, tt.wantOut)
	}
	if stderr != tt.wantStderr {
		t.Errorf("standard error:\n%s\nwant:\n%s", stderr, tt.wantStderr)
	}
}

func TestPolicyValidateCommand(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	def := write("default.yaml", string(policies.DefaultSource()))
	bad := write("bad.yaml", badRegexPolicy)
	tested := write("tested.yaml", testedPolicy)
	vpnOnly := write("vpn.yaml", "rules:\n  - name: vpn\n    match: {class: vpn}\n    action: deny\n")
	vpn := write("vpn.txt", "AS64500\n")
	typo := write("typo.yaml", "rules:\n  - name: h\n    match: {class: hostng}\n    action: deny\n")

	tests := []commandCase{
		{name: "default policy", args: []string{"validate", def}, wantOut: def + ": ok (6 rules, 8 tests)\n"},
		{
			name:       "bad regular expression",
			args:       []string{"validate", bad},
			wantStderr: bad + ":12: rule \"deny-scripts\": user_agent \"(curl|wget\": missing closing ) in `(curl|wget`; want a Go regular expression (RE2 syntax, (?i) for any case)\n",
			wantErr:    bad + ": 1 problem",
		},
		{
			name:       "undefined class",
			args:       []string{"validate", tested},
			wantStderr: tested + `:11: rule "vpn-harder": class "vpn" is not defined; known classes: hosting` + "\n",
			wantErr:    tested + ": 1 problem",
		},
		{
			name:       "failing test",
			args:       []string{"validate", tested, "--class", "vpn=" + vpn},
			wantStderr: tested + `:19: test "curl may sign" fails: expected challenge, got deny by rule "deny-scripts" (line 5)` + "\n",
			wantErr:    tested + ": 1 problem",
		},
		{name: "class flag", args: []string{"validate", vpnOnly, "--class", "vpn=" + vpn}, wantOut: vpnOnly + ": ok (1 rule, 0 tests)\n"},
		{
			name: "no built-in hosting",
			args: []string{"validate", "--no-builtin-hosting", def},
			wantStderr: def + `:38: rule "hosting-signatures": class "hosting" is not defined; the server defines no class
` + def + `:47: rule "hosting-challenges": class "hosting" is not defined; the server defines no class
` + def + `:58: rule "hosting-harder": class "hosting" is not defined; the server defines no class
` + def + `:89: test "a signer in a hosting network has tighter budgets and more work": request: class "hosting" is not defined; the server defines no class
` + def + `:100: test "robots.txt needs no challenge, even from a hosting network": request: class "hosting" is not defined; the server defines no class
`,
			wantErr: def + ": 5 problems",
		},
		{name: "typo in a class", args: []string{"validate", typo}, wantStderr: typo + `:3: rule "h": class "hostng" is not defined (did you mean "hosting"?); known classes: hosting` + "\n", wantErr: "1 problem"},
		{name: "missing file", args: []string{"validate", filepath.Join(dir, "missing.yaml")}, wantErr: "reading policy: open " + filepath.Join(dir, "missing.yaml") + ": no such file or directory"},
		{name: "bad class flag", args: []string{"validate", def, "--class", "vpn"}, wantErr: `--class "vpn": want <name>=<file>`},
		{name: "missing class file", args: []string{"validate", def, "--class", "vpn=/nonexistent/vpn.txt"}, wantErr: `--class: class "vpn": open /nonexistent/vpn.txt`},
		{name: "no file", args: []string{"validate"}, wantErr: "accepts 1 arg(s), received 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, "policy") })
	}
}

func TestPolicyTestCommand(t *testing.T) {
	tested := writeFile(t, "tested.yaml", testedPolicy)
	def := writeFile(t, "default.yaml", string(policies.DefaultSource()))
	bad := writeFile(t, "bad.yaml", badRegexPolicy)
	vpn := writeFile(t, "vpn.txt", "AS64500\n")
	tests := []commandCase{
		{
			name: "one passes, one fails",
			args: []string{"test", tested, "--class", "vpn=" + vpn},
			wantOut: "ok   the health check passes\n" +
				"FAIL curl may sign (line 19): expected challenge, got deny by rule \"deny-scripts\" (line 5)\n" +
				"1 passed, 1 failed\n",
			wantErr: tested + ": 1 test of 2 failed",
		},
		{
			name:       "undefined class",
			args:       []string{"test", tested},
			wantStderr: tested + `:11: rule "vpn-harder": class "vpn" is not defined; known classes: hosting` + "\n",
			wantErr:    tested + ": 1 problem",
		},
		{
			name: "default policy",
			args: []string{"test", def},
			wantOutHas: []string{
				"ok   a reader at home is challenged with the defaults\n",
				"ok   a signer in a hosting network has tighter budgets and more work\n",
				"8 passed, 0 failed\n",
			},
		},
		{name: "bad regular expression", args: []string{"test", bad}, wantStderr: bad + ":12: rule \"deny-scripts\": user_agent \"(curl|wget\": missing closing ) in `(curl|wget`; want a Go regular expression (RE2 syntax, (?i) for any case)\n", wantErr: "1 problem"},
		{name: "missing file", args: []string{"test", "/nonexistent/policy.yaml"}, wantErr: "reading policy: open /nonexistent/policy.yaml: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, "policy") })
	}
}

func TestExplainCommand(t *testing.T) {
	db := writeTestDB(t)
	corrupt := writeFile(t, "corrupt.mmdb", "\x00\x01\x02 not a database")
	bad := writeFile(t, "bad.yaml", badRegexPolicy)
	vpn := writeFile(t, "vpn.txt", "AS13335\n")
	policy := writeFile(t, "policy.yaml", `rules:
  - name: deny-scripts
    match:
      method: POST
      path: /sign
      user_agent: "(?i)^curl/"
    action: deny
    message: Scripts may not sign.
  - name: signing-without-a-language
    match:
      method: POST
      header: {Accept-Language: false}
    action: challenge
    difficulty_delta: 4
  - name: vpn-softer
    match: {class: vpn}
    action: challenge
    difficulty: 16
`)

	tests := []commandCase{
		{
			name: "hosting signer, default policy",
			args: []string{"--asn-db", db, "--ip", "52.94.1.1", "--method", "post", "--path", "/sign", "--host", "petition.example.org"},
			wantOut: `lookup:   52.94.1.1  AS16509  Amazon.com, Inc.  class=hosting
request:  POST /sign (host petition.example.org)
network:  52.94.1.1, AS16509 "Amazon.com, Inc.", class hosting
limit:    signatures-per-ip (line 25), signatures per ip at 20/h, which matches every request
limit:    hosting-signatures (line 36), signatures per asn at 10/h, because class is hosting
limit:    hosting-challenges (line 45), challenges per asn at 120/m, because class is hosting
decided:  rule hosting-harder (line 56), because class is hosting
action:   challenge at 20 bits (default 18 +2), the pass buys 1 signature
`,
		},
		{
			name: "without a database",
			args: []string{"--ip", "52.94.1.1", "--method", "POST", "--path", "/sign"},
			wantOut: `lookup:   52.94.1.1  unknown network (no --asn-db): no ASN, org or class; per-asn budgets count it by its prefix 52.94.1.0/24
request:  POST /sign
network:  52.94.1.1, network unknown
limit:    signatures-per-ip (line 25), signatures per ip at 20/h, which matches every request
decided:  by the defaults, as no rule decides this request
action:   challenge at 18 bits (the default), the pass buys 1 signature
`,
		},
		{
			name: "hosting signer over 6to4",
			args: []string{"--asn-db", db, "--ip", "2002:345e:101:beef::1", "--method", "POST", "--path", "/sign"},
			wantOutHas: []string{
				"address:  2002:345e:101:beef::1 is a 6to4 address: it maps to IPv4 52.94.1.1, whose network, budgets and rules apply\n",
				"lookup:   52.94.1.1  AS16509  Amazon.com, Inc.  class=hosting\n",
				"network:  52.94.1.1, AS16509",
				"limit:    hosting-signatures (line 36), signatures per asn at 10/h, because class is hosting\n",
			},
		},
		{
			name:       "not in the database",
			args:       []string{"--asn-db", db, "--ip", "2001:db8::7"},
			wantOutHas: []string{"lookup:   2001:db8::7  not found in the ASN database: no ASN, org or class; per-asn budgets count it by its prefix 2001:db8::/48\n", "decided:  by the defaults"},
		},
		{
			name:       "well-known file",
			args:       []string{"--ip", "192.0.2.1", "--path", "/robots.txt"},
			wantOutHas: []string{"request:  GET /robots.txt\n", "decided:  rule well-known-files (line 15), because method is GET or HEAD and path matches /robots.txt or /favicon.ico\n"},
		},
		{
			name: "script, own policy",
			args: []string{"--policy", policy, "--class", "vpn=" + vpn, "--asn-db", db, "--ip", "198.51.100.7", "--method", "POST", "--path", "/sign", "--ua", "curl/8.5.0"},
			wantOut: `lookup:   198.51.100.7  AS64501  -
request:  POST /sign
network:  198.51.100.7, AS64501
decided:  rule deny-scripts (line 2), because method is POST and path matches /sign and user_agent matches regex (?i)^curl/
action:   deny with status 403 and "Scripts may not sign."
`,
		},
		{
			name:       "header absent",
			args:       []string{"--policy", policy, "--class", "vpn=" + vpn, "--ip", "198.51.100.7", "--method", "POST", "--path", "/sign", "--ua", "Mozilla/5.0"},
			wantOutHas: []string{"decided:  rule signing-without-a-language (line 9)", "action:   challenge at 22 bits (default 18 +4)"},
		},
		{
			name:       "header present",
			args:       []string{"--policy", policy, "--class", "vpn=" + vpn, "--ip", "198.51.100.7", "--method", "POST", "--path", "/sign", "--header", "accept-language=fr-FR,fr", "--header", "X-Empty="},
			wantOutHas: []string{"decided:  by the defaults"},
		},
		{
			name:       "class from a file",
			args:       []string{"--policy", policy, "--asn-db", db, "--class", "vpn=" + vpn, "--ip", "1.1.1.1"},
			wantOutHas: []string{"lookup:   1.1.1.1  AS13335  Cloudflare, Inc.  class=vpn\n", "decided:  rule vpn-softer (line 15), because class is vpn\n"},
		},
		{name: "no address", args: []string{"--path", "/"}, wantErr: "--ip: give the client's IP address"},
		{name: "bad address", args: []string{"--ip", "52.94.1"}, wantErr: `--ip "52.94.1": not an IP address`},
		{name: "bad header", args: []string{"--ip", "52.94.1.1", "--header", "Accept-Language: fr"}, wantErr: `--header "Accept-Language: fr": want <name>=<value>`},
		{name: "host header", args: []string{"--ip", "52.94.1.1", "--header", "host=example.org"}, wantErr: "give the host with --host"},
		{name: "bad path", args: []string{"--ip", "52.94.1.1", "--path", "sign"}, wantErr: `--path "sign": want a path starting with /`},
		{name: "missing policy", args: []string{"--policy", "/nonexistent/policy.yaml", "--ip", "52.94.1.1"}, wantErr: "reading policy: open /nonexistent/policy.yaml"},
		{
			name:       "broken policy",
			args:       []string{"--policy", bad, "--ip", "52.94.1.1"},
			wantStderr: bad + ":12: rule \"deny-scripts\": user_agent \"(curl|wget\": missing closing ) in `(curl|wget`; want a Go regular expression (RE2 syntax, (?i) for any case)\n",
			wantErr:    bad + ": 1 problem",
		},
		{name: "missing database", args: []string{"--asn-db", "/nonexistent/asn.mmdb", "--ip", "52.94.1.1"}, wantErr: "ASN database: stat /nonexistent/asn.mmdb: no such file or directory"},
		{name: "corrupt database", args: []string{"--asn-db", corrupt, "--ip", "52.94.1.1"}, wantErr: "ASN database: " + corrupt + ": binary data"},
		{name: "bad class flag", args: []string{"--class", "vpn", "--ip", "52.94.1.1"}, wantErr: `--class "vpn": want <name>=<file>`},
		{name: "argument", args: []string{"--ip", "52.94.1.1", "extra"}, wantErr: `unknown command "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, "explain") })
	}
}

// TestPolicyCommandsBinary runs the commands in the rempart binary, to
// check their exit status and that problems are printed once.
func TestPolicyCommandsBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the rempart binary")
	}
	bin := filepath.Join(t.TempDir(), "rempart")
	build := exec.Command("go", "build", "-o", bin, "./cmd/rempart")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	bad := writeFile(t, "bad.yaml", badRegexPolicy)
	def := writeFile(t, "default.yaml", string(policies.DefaultSource()))
	tested := writeFile(t, "tested.yaml", testedPolicy)
	vpn := writeFile(t, "vpn.txt", "AS64500\n")

	tests := []struct {
		name       string
		args       []string
		wantStatus int
		wantOut    string
		wantStderr string
	}{
		{"validate ok", []string{"policy", "validate", def}, 0, def + ": ok (6 rules, 8 tests)\n", ""},
		{"validate problem", []string{"policy", "validate", bad}, 1, "", bad + ":12: rule \"deny-scripts\": user_agent \"(curl|wget\": missing closing ) in `(curl|wget`; want a Go regular expression (RE2 syntax, (?i) for any case)\n"},
		{"validate missing", []string{"policy", "validate", "/nonexistent/policy.yaml"}, 1, "", "Error: reading policy: open /nonexistent/policy.yaml: no such file or directory\n"},
		{"test failing", []string{"policy", "test", tested, "--class", "vpn=" + vpn}, 1,
			"ok   the health check passes\nFAIL curl may sign (line 19): expected challenge, got deny by rule \"deny-scripts\" (line 5)\n1 passed, 1 failed\n",
			"Error: " + tested + ": 1 test of 2 failed\n"},
		{"explain", []string{"explain", "--ip", "192.0.2.1", "--path", "/favicon.ico"}, 0, "", ""},
		{"explain bad header", []string{"explain", "--ip", "192.0.2.1", "--header", "X"}, 1, "", "Error: --header \"X\": want <name>=<value>, such as Accept-Language=fr\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, tt.args...)
			var out, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &stderr
			err := cmd.Run()
			status := 0
			if exit, ok := err.(*exec.ExitError); ok {
				status = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if status != tt.wantStatus {
				t.Errorf("exit status %d, want %d; standard error %q", status, tt.wantStatus, stderr.String())
			}
			if tt.wantOut != "" && out.String() != tt.wantOut {
				t.Errorf("output:\n%s\nwant:\n%s", out.String(), tt.wantOut)
			}
			if stderr.String() != tt.wantStderr {
				t.Errorf("standard error:\n%s\nwant:\n%s", stderr.String(), tt.wantStderr)
			}
		})
	}
}
