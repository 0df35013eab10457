package policies

import (
	"strings"
	"testing"
)

const testedPolicy = `rules:
  - name: per-ip
    action: limit
    counts: signatures
    per: ip
    rate: 20/hour
  - name: health
    match: {method: GET, path: /healthz, cidr: 10.0.0.0/8}
    action: allow
  - name: scripts
    match:
      user_agent: "(?i)curl"
      header: {Accept-Language: false}
    action: deny
  - name: hosting-harder
    match: {class: hosting}
    action: challenge
    difficulty_delta: 2
tests:
  - name: health check
    request: {path: /healthz, ip: 10.0.0.1}
    expect: {action: allow, rule: health, limits: [per-ip]}
  - name: health check from outside
    request: {path: /healthz, ip: 192.0.2.1}
    expect: {action: challenge, rule: default}
  - name: curl
    request:
      method: POST
      path: /sign
      user_agent: curl/8.5.0
    expect: {action: deny, rule: scripts}
  - name: curl that sends a language
    request:
      user_agent: curl/8.5.0
      headers: {accept-language: [fr, en]}
    expect: {action: challenge}
  - name: hosting
    request: {class: hosting, asn: AS16509}
    expect: {action: challenge, rule: hosting-harder, difficulty: 20, limits: [per-ip]}
`

func TestRunTestsPass(t *testing.T) {
	p := mustParse(t, testedPolicy)
	results := RunTests(p)
	if len(results) != 5 {
		t.Fatalf("%d results, want 5", len(results))
	}
	for _, r := range results {
		if !r.Passed() {
			t.Errorf("test %q (line %d) failed: %s", r.Name, r.Line, r.Failure)
		}
	}
	if r := results[2]; r.Name != "curl" || r.Line != 26 || r.Decision.Rule != "scripts" {
		t.Errorf("result %+v, want test curl at line 26 decided by scripts", r)
	}
}

func TestRunTestsFail(t *testing.T) {
	// The same tests against a policy where the health check was dropped
	// and hosting is challenged less.
	broken := strings.Replace(testedPolicy, "    difficulty_delta: 2\n", "    difficulty_delta: 1\n", 1)
	broken = strings.Replace(broken, "cidr: 10.0.0.0/8", "cidr: 10.0.0.0/32", 1)
	p, err := ParseOptions{SkipTests: true}.Parse([]byte(broken), "policy.yaml")
	if err != nil {
		t.Fatalf("SkipTests: %v", err)
	}
	want := map[string]string{
		"health check": `expected allow by rule "health", got challenge by the defaults`,
		"hosting":      `expected difficulty 20 bits, got 19 bits by rule "hosting-harder" (line 15)`,
	}
	for _, r := range RunTests(p) {
		if r.Failure != want[r.Name] {
			t.Errorf("test %q: failure %q, want %q", r.Name, r.Failure, want[r.Name])
		}
	}

	_, err = Parse([]byte(broken), "policy.yaml")
	if err == nil {
		t.Fatal("a policy whose tests fail was accepted")
	}
	for _, want := range []string{
		`policy.yaml:20: test "health check" fails: expected allow by rule "health", got challenge by the defaults`,
		`policy.yaml:37: test "hosting" fails: expected difficulty 20 bits, got 19 bits by rule "hosting-harder" (line 15)`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error:\n%v\nwant it to contain:\n%s", err, want)
		}
	}
}

func TestTestExpectsLimits(t *testing.T) {
	src := testedPolicy + `  - name: limits are checked in order
    request: {path: /healthz, ip: 10.0.0.1}
    expect: {action: allow, limits: []}
`
	p, err := ParseOptions{SkipTests: true}.Parse([]byte(src), "policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	results := RunTests(p)
	last := results[len(results)-1]
	if want := "expected limits [], got [per-ip]"; last.Failure != want {
		t.Errorf("failure %q, want %q", last.Failure, want)
	}
}

// A test request to a signature endpoint is decided in canonical form, as
// the shield decides it: an alias in a test is judged like the endpoint.
func TestRunTestsDecidesSignaturesCanonically(t *testing.T) {
	p := mustParse(t, `signatures: ["POST /sign"]
rules:
  - name: sign-hard
    match: {method: POST, path: /sign}
    action: challenge
    difficulty: 22
tests:
  - name: alias of the signature endpoint
    request: {method: post, path: /SIGN/}
    expect: {action: challenge, rule: sign-hard, difficulty: 22}
  - name: not a signature
    request: {method: POST, path: /signature}
    expect: {action: challenge, rule: default}
`)
	for _, r := range RunTests(p) {
		if !r.Passed() {
			t.Errorf("test %q (line %d) failed: %s", r.Name, r.Line, r.Failure)
		}
	}
	if got := RunTests(p)[0].Decision.Signature; !got {
		t.Error("the alias was not decided as a signature")
	}
}
