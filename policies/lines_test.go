package policies

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// linesBase is a policy of every section, which each row of
// TestProblemLines breaks at one line.
var linesBase = []string{
	"# petition policy",          // 1
	"defaults:",                  // 2
	"  difficulty: 18",           // 3
	"  credits: 1",               // 4
	"signatures:",                // 5
	"  - POST /sign",             // 6
	"  - POST /petitions/*/sign", // 7
	"rules:",                     // 8
	"  - name: robots",           // 9
	"    match:",                 // 10
	"      path: [/robots.txt, /favicon.ico]",     // 11
	"    action: allow",                           // 12
	"  - name: hosting-signatures",                // 13
	"    match:",                                  // 14
	"      class: hosting",                        // 15
	"      method: POST",                          // 16
	"    action: limit",                           // 17
	"    counts: signatures",                      // 18
	"    per: asn",                                // 19
	"    rate: 10/hour",                           // 20
	"  - name: scripted",                          // 21
	"    match:",                                  // 22
	`      user_agent: "(?i)curl|python"`,         // 23
	"      cel: >",                                // 24
	`        request.path.startsWith("/api/") &&`, // 25
	`        request.method == "POST"`,            // 26
	"    action: deny",                            // 27
	"    status: 403",                             // 28
	"  - name: hosting-harder",                    // 29
	"    match:",                                  // 30
	"      class: hosting",                        // 31
	"    action: challenge",                       // 32
	"    difficulty_delta: +2",                    // 33
	"tests:",                                      // 34
	"  - name: robots pass",                       // 35
	"    request:",                                // 36
	"      path: /robots.txt",                     // 37
	"      ip: 203.0.113.7",                       // 38
	"    expect:",                                 // 39
	"      action: allow",                         // 40
	"      rule: robots",                          // 41
	"  - name: hosting challenged harder",         // 42
	"    request:",                                // 43
	"      class: hosting",                        // 44
	"      method: GET",                           // 45
	"    expect:",                                 // 46
	"      action: challenge",                     // 47
	"      difficulty: 20",                        // 48
}

// brokenAt returns linesBase with lines n to through (from 1) replaced by
// text, which may be several lines or none.
func brokenAt(n, through int, text string) string {
	through = max(n, through)
	lines := append([]string(nil), linesBase[:n-1]...)
	if text != "" {
		lines = append(lines, strings.Split(text, "\n")...)
	}
	lines = append(lines, linesBase[through:]...)
	return strings.Join(lines, "\n") + "\n"
}

func TestLinesBaseLoads(t *testing.T) {
	if _, err := (ParseOptions{Classes: []string{"hosting"}}).Parse([]byte(brokenAt(1, 1, linesBase[0])), "policy.yaml"); err != nil {
		t.Fatalf("the base policy does not load: %v", err)
	}
}

// TestProblemLines checks that every problem of a broken policy file is
// reported at the line of the mistake: not a line early, not at the
// section or the rule it is in.
func TestProblemLines(t *testing.T) {
	tests := []struct {
		name string
		line int    // the line replaced
		text string // what replaces it
		want int    // the line every problem must name
		// through is the last line replaced, when text replaces more than
		// line.
		through int
	}{
		// YAML syntax.
		{"over-indented key", 12, "     action: allow", 12, 0},
		{"under-indented key", 31, "   class: hosting", 31, 0},
		{"key back at the list's level", 30, "  match:", 30, 0},
		{"key left of its rule", 32, " action: challenge", 32, 0},
		{"unclosed flow list", 11, "      path: [/robots.txt, /favicon.ico", 11, 0},
		{"unclosed flow mapping", 16, "      method: {POST", 16, 0},
		{"unclosed double quote", 23, `      user_agent: "(?i)curl|python`, 23, 0},
		{"unclosed single quote", 37, "      path: '/robots.txt", 37, 0},
		{"bad escape", 23, `      user_agent: "\q"`, 23, 0},
		{"tab indentation", 16, "\t  method: POST", 16, 0},
		{"missing colon", 19, "    per asn", 19, 0},
		{"missing colon in a test", 40, "      action allow", 40, 0},
		{"two values on a line", 38, "      ip: 203.0.113.7: x", 38, 0},
		{"junk after a flow list", 11, "      path: [/robots.txt] x", 11, 0},
		{"junk after a quoted value", 23, `      user_agent: "curl" x`, 23, 0},
		{"character that starts no token", 45, "      method: @GET", 45, 0},
		{"alias of nothing", 45, "      method: *GET", 45, 0},
		{"list item in a mapping", 16, "      - method: POST", 16, 0},
		{"second document", 34, "---", 34, 0},
		{"rule name without colon", 29, "  - name hosting-harder", 29, 0},
		{"unclosed flow list in signatures", 7, "  - [POST /petitions/*/sign", 7, 0},
		// Wrong types.
		{"defaults difficulty a list", 3, "  difficulty: [18]", 3, 0},
		{"rate a mapping", 20, "    rate: {10: hour}", 20, 0},
		{"status a word", 28, "    status: forbidden", 28, 0},
		{"action a list", 12, "    action: [allow]", 12, 0},
		{"delta a word", 33, "    difficulty_delta: two", 33, 0},
		{"match a string", 30, "    match: hosting", 30, 31},
		{"signatures a mapping", 6, "  - POST: /sign", 6, 0},
		{"test request a list", 43, "    request: [GET]", 43, 45},
		{"test expect a string", 39, "    expect: allow", 39, 41},
		// Unknown fields.
		{"unknown defaults field", 4, "  credit: 1", 4, 0},
		{"unknown rule field", 18, "    count: signatures", 18, 0},
		{"unknown action field", 12, "    acton: allow", 12, 0},
		{"unknown condition", 31, "      clas: hosting", 31, 0},
		{"unknown top-level field", 34, "test:", 34, 0},
		{"unknown test field", 39, "    expected:", 39, 0},
		{"unknown request field", 45, "      verb: GET", 45, 0},
		{"unknown expect field", 41, "      rules: robots", 41, 0},
		// Bad values deep in a rule.
		{"bad rate", 20, "    rate: 10/fortnight", 20, 0},
		{"bad per", 19, "    per: country", 19, 0},
		{"bad class", 15, "      class: hostng", 15, 0},
		{"bad method", 16, `      method: "PO ST"`, 16, 0},
		{"bad glob", 11, "      path: [/robots.txt, \"/[a-\"]", 11, 0},
		{"bad regexp", 23, `      user_agent: "(?i)curl|(python"`, 23, 0},
		{"bad cel on the first line of a folded block", 25, `        request.path.startsWith(1) &&`, 25, 0},
		{"bad cel on the second line of a folded block", 26, `        request.nope == "POST"`, 26, 0},
		{"bad cel on the second line of a plain scalar", 24, "      cel: request.path.startsWith(\"/api/\") &&\n        request.nope", 25, 26},
		{"bad cel on the second line of a quoted scalar", 24, "      cel: \"request.path.startsWith('/api/') &&\n        request.nope\"", 25, 26},
		{"bad cel on the third line of a literal block", 24, "      cel: |\n        request.path.startsWith(\"/api/\") &&\n        request.method == \"POST\" &&\n        request.nope", 27, 26},
		{"delta over the top", 33, "    difficulty_delta: +30", 33, 0},
		{"status out of range", 28, "    status: 200", 28, 0},
		{"bad rule name", 13, "  - name: hosting signatures", 13, 0},
		{"rule name used twice", 21, "  - name: robots", 21, 0},
		{"defaults difficulty out of range", 3, "  difficulty: 0", 3, 0},
		// tests:
		{"test expects an unknown rule", 41, "      rule: robts", 41, 0},
		{"test with an unknown class", 44, "      class: hostng", 44, 0},
		{"test with a bad address", 38, "      ip: 203.0.113.300", 38, 0},
		{"test expects a limit to decide", 47, "      action: limit", 47, 0},
		{"test expects an impossible difficulty", 48, "      difficulty: 50", 48, 0},
		{"failing test", 48, "      difficulty: 21", 42, 0},
		// signatures:
		{"signature without a path", 7, "  - POST", 7, 0},
		{"signature with a bad glob", 7, "  - POST /petitions/[a-/sign", 7, 0},
		{"signature with a bad method", 6, "  - PO/ST /sign", 6, 0},
		{"signatures a single bad value", 5, "signatures: POST", 5, 0},
	}
	opts := ParseOptions{Classes: []string{"hosting"}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := brokenAt(tt.line, tt.through, tt.text)
			_, err := opts.Parse([]byte(src), "policy.yaml")
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %v, want a *ValidationError", err)
			}
			prefix := "policy.yaml:" + strconv.Itoa(tt.want) + ": "
			for _, p := range ve.Problems {
				if !strings.HasPrefix(p.String(), prefix) {
					t.Errorf("problem at the wrong line, want %s...:\n%s\nin:\n%s", prefix, ve, numberLines(src))
					return
				}
			}
		})
	}
}

func numberLines(s string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strconv.Itoa(i+1) + "\t" + l
	}
	return strings.Join(lines, "\n")
}
