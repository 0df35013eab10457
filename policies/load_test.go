package policies

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// problemsOf parses src as policy.yaml and returns its problems, formatted
// file:line: message.
func problemsOf(t *testing.T, opts ParseOptions, src string) []string {
	t.Helper()
	return problemsIn(t, opts, "policy.yaml", src)
}

// problemsIn parses src as the file named filename and returns its
// problems.
func problemsIn(t *testing.T, opts ParseOptions, filename, src string) []string {
	t.Helper()
	p, err := opts.Parse([]byte(src), filename)
	if err == nil {
		t.Fatalf("policy accepted, want an error:\n%s", src)
	}
	if p != nil {
		t.Errorf("Parse returned a policy along with an error")
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T), want a *ValidationError", err, err)
	}
	out := make([]string, len(ve.Problems))
	for i, p := range ve.Problems {
		out[i] = p.String()
	}
	return out
}

// ruleWith writes a policy of one rule (lines 1 to 3 are "rules:", "- name: r"
// and the action) whose match block holds cond, starting at line 5.
func ruleWith(action, cond string) string {
	return "rules:\n  - name: r\n    action: " + action + "\n    match:\n" + indent(cond, "      ")
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i := range lines {
		lines[i] = prefix + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}

func TestParseErrors(t *testing.T) {
	hostingAndVPN := ParseOptions{Classes: []string{"hosting", "vpn"}}
	tests := []struct {
		name string
		opts ParseOptions
		src  string
		// want is the problem, "policy.yaml:LINE: " followed by a substring
		// of the message.
		want string
	}{
		{"unknown top-level field", ParseOptions{}, "rule:\n  - name: a\n",
			`policy.yaml:1: unknown field "rule" in the policy (did you mean "rules"?); allowed: defaults, signatures, rules, tests`},
		{"unknown rule field", ParseOptions{}, "rules:\n  - name: a\n    action: allow\n    acton: deny\n",
			`policy.yaml:4: unknown field "acton" in rule "a" (did you mean "action"?); allowed: name, match, action, status, message, difficulty, difficulty_delta, credits, counts, per, rate`},
		{"unknown condition", ParseOptions{}, ruleWith("allow", "paths: /x"),
			`policy.yaml:5: unknown condition "paths" in rule "r": match (did you mean "path"?); allowed: method, path, path_regex, host, asn, class, org, cidr, user_agent, header, cel`},
		// A rule whose conditions were all commented out, or deleted, would
		// decide every request: an allow rule would open the gate.
		{"match with every condition commented out", ParseOptions{}, "rules:\n  - name: deny-x\n    match: {path: /x}\n    action: deny\n  - name: health\n    match:\n      # path: /healthz\n    action: allow\n",
			`policy.yaml:6: rule "health": match has no conditions (were they commented out?); a rule that decides every request has no match`},
		{"empty match", ParseOptions{}, "rules:\n  - name: health\n    match: {}\n    action: allow\n",
			`policy.yaml:3: rule "health": match has no conditions (were they commented out?); a rule that decides every request has no match`},
		// An empty regular expression (a template's variable left empty)
		// matches every value: an allow rule would open the gate.
		{"empty user agent regex", ParseOptions{}, ruleWith("allow", `user_agent: ""`),
			`policy.yaml:5: rule "r": user_agent "": an empty regular expression matches every value; leave the condition out, or write ^$ for an empty value`},
		{"empty org regex", ParseOptions{}, ruleWith("allow", `org: ""`),
			`policy.yaml:5: rule "r": org "": an empty regular expression matches every value`},
		{"empty path regex", ParseOptions{}, ruleWith("allow", `path_regex: ""`),
			`policy.yaml:5: rule "r": path_regex "": an empty regular expression matches every value`},
		{"empty header regex", ParseOptions{}, ruleWith("allow", "header:\n  X-Monitoring-Token: \"\""),
			`policy.yaml:6: rule "r": header X-Monitoring-Token "": an empty regular expression matches every value`},
		// So does one that a template left with only a flag or an anchor
		// ("(?i)$ORG", "^$UA"), or that matches nothing but the empty
		// string at its start ("$TOKEN*").
		{"flag-only org regex", ParseOptions{}, ruleWith("allow", `org: "(?i)"`),
			`policy.yaml:5: rule "r": org "(?i)": this regular expression matches every value`},
		{"anchor-only user agent regex", ParseOptions{}, ruleWith("allow", `user_agent: "^"`),
			`policy.yaml:5: rule "r": user_agent "^": this regular expression matches every value`},
		{"any-run path regex", ParseOptions{}, ruleWith("allow", `path_regex: "(?s).*"`),
			`policy.yaml:5: rule "r": path_regex "(?s).*": this regular expression matches every value`},
		{"optional-only user agent regex", ParseOptions{}, ruleWith("allow", `user_agent: "(?i)x*"`),
			`policy.yaml:5: rule "r": user_agent "(?i)x*": this regular expression matches every value`},
		{"end-only org regex", ParseOptions{}, ruleWith("allow", `org: "$"`),
			`policy.yaml:5: rule "r": org "$": this regular expression matches every value`},
		{"field set twice", ParseOptions{}, "rules:\n  - name: a\n    action: allow\n    action: deny\n",
			`policy.yaml:4: rule "a": field "action" is set twice (first at line 3)`},
		{"bad path regex", ParseOptions{}, ruleWith("deny", "path_regex: \"^/api/(v1\""),
			"policy.yaml:5: rule \"r\": path_regex \"^/api/(v1\": missing closing ) in `^/api/(v1`; want a Go regular expression"},
		{"bad org regex", ParseOptions{}, ruleWith("deny", "org: \"*ovh\""),
			"policy.yaml:5: rule \"r\": org \"*ovh\": missing argument to repetition operator in `*`"},
		{"bad user agent regex", ParseOptions{}, ruleWith("deny", "user_agent: \"[a-\""),
			`policy.yaml:5: rule "r": user_agent "[a-": missing closing ]`},
		{"bad header regex", ParseOptions{}, ruleWith("deny", "header:\n  Accept: \"(?P<x\""),
			`policy.yaml:6: rule "r": header Accept "(?P<x": invalid named capture`},
		{"bad glob", ParseOptions{}, ruleWith("deny", "path: [/ok, \"/petitions/[a-/sign\"]"),
			`policy.yaml:5: rule "r": path "/petitions/[a-/sign": syntax error in pattern; want a glob in Go's path.Match syntax`},
		{"relative path", ParseOptions{}, ruleWith("deny", "path: sign"),
			`policy.yaml:5: rule "r": path "sign": want a pattern starting with /`},
		{"bad cidr", ParseOptions{}, ruleWith("deny", "cidr:\n  - 203.0.113.0/24\n  - 10.0.0.0/33"),
			`policy.yaml:7: rule "r": cidr "10.0.0.0/33": want an address or a prefix such as 203.0.113.0/24 or 2001:db8::/32`},
		{"unknown class", hostingAndVPN, ruleWith("deny", "class: hostng"),
			`policy.yaml:5: rule "r": class "hostng" is not defined (did you mean "hosting"?); known classes: hosting, vpn`},
		{"class when the server defines none", ParseOptions{Classes: []string{}}, ruleWith("deny", "class: hosting"),
			`policy.yaml:5: rule "r": class "hosting" is not defined; the server defines no class`},
		{"malformed class", ParseOptions{}, ruleWith("deny", "class: Hosting"),
			`policy.yaml:5: rule "r": class "Hosting": want a class name such as hosting`},
		{"zero rate", ParseOptions{}, "rules:\n  - name: l\n    action: limit\n    counts: signatures\n    per: ip\n    rate: 0/h\n",
			`policy.yaml:6: rule "l": rate "0/h": count must be at least 1; want COUNT/PERIOD such as 10/hour`},
		{"zero period", ParseOptions{}, "rules:\n  - name: l\n    action: limit\n    counts: signatures\n    per: ip\n    rate: 5/0s\n",
			`policy.yaml:6: rule "l": rate "5/0s": period must be longer than zero`},
		{"rate without period", ParseOptions{}, "rules:\n  - name: l\n    action: limit\n    counts: signatures\n    per: ip\n    rate: often\n",
			`policy.yaml:6: rule "l": rate "often": want COUNT/PERIOD such as 10/hour`},
		{"bad counts", ParseOptions{}, "rules:\n  - name: l\n    action: limit\n    counts: votes\n    per: ip\n    rate: 1/h\n",
			`policy.yaml:4: rule "l": counts "votes": want signatures (requests forwarded to protected endpoints) or challenges`},
		{"bad per", ParseOptions{}, "rules:\n  - name: l\n    action: limit\n    counts: signatures\n    per: country\n    rate: 1/h\n",
			`policy.yaml:5: rule "l": per "country": want ip, prefix, asn or class`},
		{"limit without rate", ParseOptions{}, "rules:\n  - name: l\n    action: limit\n    counts: signatures\n    per: ip\n",
			`policy.yaml:2: rule "l": a limit rule needs a rate such as 10/hour`},
		{"unknown action", ParseOptions{}, "rules:\n  - name: a\n    action: block\n",
			`policy.yaml:3: rule "a": unknown action "block"; want allow, deny, challenge or limit`},
		{"no action", ParseOptions{}, "rules:\n  - name: a\n    match: {path: /x}\n",
			`policy.yaml:2: rule "a" has no action; want action: allow, deny, challenge or limit`},
		{"parameter of another action", ParseOptions{}, "rules:\n  - name: a\n    action: challenge\n    status: 429\n",
			`policy.yaml:4: rule "a": status does not apply to action challenge; a challenge rule takes difficulty, difficulty_delta, credits`},
		{"parameter of allow", ParseOptions{}, "rules:\n  - name: a\n    action: allow\n    credits: 2\n",
			`policy.yaml:4: rule "a": credits does not apply to action allow; an allow rule takes no parameters`},
		{"unreachable after catch-all", ParseOptions{}, "rules:\n  - name: everyone\n    action: challenge\n  - name: health\n    match: {path: /healthz}\n    action: allow\n",
			`policy.yaml:4: rule "health" can never match: rule "everyone" at line 2 has no conditions and decides every request first`},
		{"duplicate names", ParseOptions{}, "rules:\n  - name: a\n    match: {path: /a}\n    action: allow\n  - name: a\n    match: {path: /b}\n    action: deny\n",
			`policy.yaml:5: rule name "a" is used twice (first at line 2); names must be unique`},
		{"no name", ParseOptions{}, "rules:\n  - action: allow\n    match: {path: /a}\n",
			`policy.yaml:2: rule number 1 has no name; every rule needs a unique name`},
		{"bad name", ParseOptions{}, "rules:\n  - name: throttle hosting\n    action: allow\n",
			`policy.yaml:2: rule number 1: name "throttle hosting": want 1 to 64 letters, digits, '.', '_' or '-'`},
		{"reserved name", ParseOptions{}, "rules:\n  - name: default\n    action: challenge\n    match: {path: /x}\n",
			`policy.yaml:2: rule "default": the name "default" is reserved for the policy's defaults`},
		{"undeclared name in cel", ParseOptions{}, ruleWith("deny", "cel: request.pth == \"/\""),
			`policy.yaml:5: rule "r": cel: undefined field 'pth' (column 8 of the expression); request has the fields method, path, host, ip, asn, org, class, user_agent and headers`},
		{"cel error on the third line of a literal block", ParseOptions{}, ruleWith("deny", "cel: |\n  request.method == \"POST\" &&\n  request.asn > 0 &&\n  request.nope"),
			`policy.yaml:8: rule "r": cel: undefined field 'nope'`},
		{"cel syntax error", ParseOptions{}, ruleWith("deny", "cel: 'request.path == \"/\" &&'"),
			`policy.yaml:5: rule "r": cel: Syntax error: mismatched input '<EOF>'`},
		{"cel that is not a condition", ParseOptions{}, ruleWith("deny", "cel: request.asn + 1"),
			`policy.yaml:5: rule "r": cel: the expression gives a int; want true or false`},
		{"cel too long", ParseOptions{}, ruleWith("deny", "cel: request.path == \""+strings.Repeat("a", maxCELLength)+"\""),
			`policy.yaml:5: rule "r": cel: expression code point size exceeds limit`},
		{"bad method", ParseOptions{}, ruleWith("deny", "method: [GET, \"PO ST\"]"),
			`policy.yaml:5: rule "r": method "PO ST": want an HTTP method such as GET or POST`},
		{"empty list", ParseOptions{}, ruleWith("deny", "method: []"),
			`policy.yaml:5: rule "r": method: want one value or a non-empty list of values, got a list`},
		{"host with port", ParseOptions{}, ruleWith("deny", "host: petition.example.org:8443"),
			`policy.yaml:5: rule "r": host "petition.example.org:8443": write the host without its port (petition.example.org)`},
		{"host wildcard", ParseOptions{}, ruleWith("deny", "host: \"*.example.org\""),
			`policy.yaml:5: rule "r": host "*.example.org": wildcards are not supported`},
		{"bad asn", ParseOptions{}, ruleWith("deny", "asn: [AS16509, ASX]"),
			`policy.yaml:5: rule "r": asn "ASX": want an AS number such as 16509 or AS16509`},
		{"asn zero", ParseOptions{}, ruleWith("deny", "asn: 0"),
			`policy.yaml:5: rule "r": asn "0": AS0 is reserved and stands for an unknown network`},
		{"header without value", ParseOptions{}, ruleWith("deny", "header: X-Foo"),
			`policy.yaml:5: rule "r": header: want a mapping of header names to a regular expression, or to true (present) or false (absent)`},
		{"bad header name", ParseOptions{}, ruleWith("deny", "header:\n  \"X Foo\": true"),
			`policy.yaml:6: rule "r": header: "X Foo" is not a header name`},
		{"header twice in two spellings", ParseOptions{}, ruleWith("deny", "header:\n  x-foo: true\n  X-FOO: false"),
			`policy.yaml:7: rule "r": header: header X-Foo is set twice (first at line 6)`},
		{"deny status", ParseOptions{}, "rules:\n  - name: a\n    action: deny\n    status: 200\n",
			`policy.yaml:4: rule "a": status 200: want an HTTP error status from 400 to 599`},
		{"difficulty out of range", ParseOptions{}, "rules:\n  - name: a\n    action: challenge\n    difficulty: 41\n",
			`policy.yaml:4: rule "a": difficulty 41: want 1 to 40 leading zero bits`},
		{"difficulty delta out of range", ParseOptions{}, "defaults: {difficulty: 30}\nrules:\n  - name: a\n    action: challenge\n    difficulty_delta: +12\n",
			`policy.yaml:5: rule "a": difficulty_delta +12 gives 42 bits over the default 30; want a total from 1 to 40`},
		{"difficulty and delta", ParseOptions{}, "rules:\n  - name: a\n    action: challenge\n    difficulty: 20\n    difficulty_delta: 2\n",
			`policy.yaml:5: rule "a": set difficulty (absolute bits) or difficulty_delta (bits added to the default 18), not both`},
		{"difficulty not a number", ParseOptions{}, "rules:\n  - name: a\n    action: challenge\n    difficulty: hard\n",
			`policy.yaml:4: rule "a": difficulty: want a whole number, got "hard"`},
		{"credits out of range", ParseOptions{}, "rules:\n  - name: a\n    action: challenge\n    credits: 0\n",
			`policy.yaml:4: rule "a": credits 0: want 1 to 255 signatures per solved challenge`},
		{"defaults out of range", ParseOptions{}, "defaults:\n  difficulty: 0\n",
			`policy.yaml:2: defaults: difficulty 0: want 1 to 40 leading zero bits`},
		{"unknown defaults field", ParseOptions{}, "defaults:\n  dificulty: 20\n",
			`policy.yaml:2: unknown field "dificulty" in defaults (did you mean "difficulty"?); allowed: difficulty, credits`},
		{"rules not a list", ParseOptions{}, "rules:\n  name: a\n",
			`policy.yaml:2: rules: want a list of rules (lines starting with -), got a mapping`},
		{"rule not a mapping", ParseOptions{}, "rules:\n  - allow\n",
			`policy.yaml:2: rule number 1: want a mapping of fields (key: value), got "allow"`},
		{"alias", ParseOptions{}, "rules:\n  - name: a\n    match: &m {path: /a}\n    action: allow\n  - name: b\n    match: *m\n    action: deny\n",
			`policy.yaml:6: alias *m: aliases are not supported in policy files; write the value out`},
		{"syntax error", ParseOptions{}, "rules:\n  - name: a\n    action: allow\n    match: path: /x\n",
			`policy.yaml:4: YAML syntax: mapping values are not allowed in this context`},
		{"empty file", ParseOptions{}, "# nothing yet\n",
			`policy.yaml: the file is empty; a policy has rules:`},
		{"two documents", ParseOptions{}, "rules: []\n---\nrules: []\n",
			`policy.yaml:2: a second YAML document (after ---): a policy file holds one`},
		{"too large", ParseOptions{}, "rules: []\n" + strings.Repeat("#", MaxPolicyBytes),
			`policy.yaml: the file is larger than 1048576 bytes (1 MiB)`},
		{"test expecting an unknown rule", ParseOptions{}, "rules: []\ntests:\n  - name: t\n    expect: {action: allow, rule: helth}\n",
			`policy.yaml:4: test "t": expect: rule "helth": no rule that decides has this name`},
		{"test expecting a limit to decide", ParseOptions{}, "rules: []\ntests:\n  - name: t\n    expect: {action: limit}\n",
			`policy.yaml:4: test "t": expect: action limit: a limit rule never decides on its own`},
		{"test expecting a rule as a limit", ParseOptions{}, "rules:\n  - name: a\n    match: {path: /a}\n    action: allow\ntests:\n  - name: t\n    expect: {action: allow, limits: [a]}\n",
			`policy.yaml:7: test "t": expect: limits: "a" is not the name of a limit rule`},
		{"test with a bad address", ParseOptions{}, "rules: []\ntests:\n  - name: t\n    request: {ip: 300.1.2.3}\n    expect: {action: challenge}\n",
			`policy.yaml:4: test "t": request: ip "300.1.2.3": want an address such as 203.0.113.7`},
		{"test with an unknown class", hostingAndVPN, "rules: []\ntests:\n  - name: t\n    request: {class: cloud}\n    expect: {action: challenge}\n",
			`policy.yaml:4: test "t": request: class "cloud" is not defined; known classes: hosting, vpn`},
		{"test without expect", ParseOptions{}, "rules: []\ntests:\n  - name: t\n    request: {path: /}\n",
			`policy.yaml:3: test "t" has no expect; want expect: with at least action: allow, deny or challenge`},
		{"tests with one name", ParseOptions{}, "rules: []\ntests:\n  - name: t\n    expect: {action: challenge}\n  - name: t\n    expect: {action: challenge}\n",
			`policy.yaml:5: test name "t" is used twice (first at line 3)`},
		{"failing test", ParseOptions{}, "rules:\n  - name: health\n    match: {path: /healthz}\n    action: allow\ntests:\n  - name: health checks pass\n    request: {path: /health}\n    expect: {action: allow, rule: health}\n",
			`policy.yaml:6: test "health checks pass" fails: expected allow by rule "health", got challenge by the defaults`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := problemsOf(t, tt.opts, tt.src)
			for _, p := range got {
				if strings.HasPrefix(p, tt.want) {
					return
				}
			}
			t.Errorf("problems:\n%s\nwant one starting with:\n%s", strings.Join(got, "\n"), tt.want)
		})
	}
}

func TestParseReportsEveryProblemByLine(t *testing.T) {
	got := problemsIn(t, ParseOptions{Classes: []string{"hosting"}}, "testdata/broken.yaml", readFile(t, "testdata/broken.yaml"))
	want := []string{
		`testdata/broken.yaml:8: rule "throttle-hosting": class "hostng" is not defined (did you mean "hosting"?); known classes: hosting`,
		`testdata/broken.yaml:11: rule "throttle-hosting": rate "10/0h": period must be longer than zero; want COUNT/PERIOD such as 10/hour`,
		"testdata/broken.yaml:16: rule \"api-scripts\": path_regex \"^/api/(\": missing closing ) in `^/api/(`; want a Go regular expression (RE2 syntax, (?i) for any case)",
		`testdata/broken.yaml:18: rule "everyone" has no action; want action: allow, deny, challenge or limit`,
		`testdata/broken.yaml:22: rule "deny-attacker": unknown action "block"; want allow, deny, challenge or limit`,
		`testdata/broken.yaml:25: rule "everyone-else" can never match: rule "challenge-all" at line 23 has no conditions and decides every request first; move this rule above it, or give "challenge-all" conditions`,
		`testdata/broken.yaml:27: unknown condition "ip" in rule "everyone-else": match; allowed: method, path, path_regex, host, asn, class, org, cidr, user_agent, header, cel`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestClassesUncheckedWithoutOptions(t *testing.T) {
	if _, err := Parse([]byte(ruleWith("deny", "class: vpn")), "policy.yaml"); err != nil {
		t.Errorf("a well-formed class was refused without a list of classes: %v", err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("rules:\n  - name: health\n    match: {path: /healthz}\n    action: allow\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := Load(good)
	if err != nil {
		t.Fatal(err)
	}
	if p.File() != good || len(p.Rules()) != 1 {
		t.Errorf("Load(%s) = file %q with %d rules", good, p.File(), len(p.Rules()))
	}
	if err := Validate(good); err != nil {
		t.Errorf("Validate(good) = %v", err)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("rules:\n  - name: x\n    action: nope\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = Validate(bad)
	var ve *ValidationError
	if !errors.As(err, &ve) || !strings.HasPrefix(err.Error(), bad+":3: ") {
		t.Errorf("Validate(bad) = %v, want a ValidationError at %s:3", err, bad)
	}

	if err := Validate(filepath.Join(dir, "missing.yaml")); err == nil || errors.As(err, &ve) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Validate(missing) = %v, want a not-exist error", err)
	}

	huge := filepath.Join(dir, "huge.yaml")
	if err := os.WriteFile(huge, []byte("rules: []\n"+strings.Repeat("#", 2*MaxPolicyBytes)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Validate(huge); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Validate(huge) = %v, want the file refused for its size", err)
	}
}

func TestRulesIsACopy(t *testing.T) {
	p := loadFiftyRules(t)
	rules := p.Rules()
	for i := range rules {
		rules[i].Name = "changed"
		if rules[i].Budget != nil {
			rules[i].Budget.Rate = "1/s"
		}
		if len(rules[i].Conditions) > 0 {
			rules[i].Conditions[0] = "changed"
		}
	}
	for _, r := range p.Rules() {
		if r.Name == "changed" || (r.Budget != nil && r.Budget.Rate == "1/s") || (len(r.Conditions) > 0 && r.Conditions[0] == "changed") {
			t.Fatalf("changing the result of Rules changed the policy: %+v", r)
		}
	}
}
