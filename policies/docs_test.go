package policies

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// yamlBlock finds the YAML examples of docs/policy.md.
var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// TestDocsExamplesParse compiles every YAML example of docs/policy.md, so
// that the documentation never shows a policy the engine refuses. Rules
// shown alone are compiled under a rules: key, tests alone with the rule
// they expect.
func TestDocsExamplesParse(t *testing.T) {
	data, err := os.ReadFile("../docs/policy.md")
	if err != nil {
		t.Fatal(err)
	}
	examples := yamlBlock.FindAllStringSubmatch(string(data), -1)
	if len(examples) < 9 {
		t.Fatalf("found %d YAML examples in docs/policy.md, want the examples of every common move", len(examples))
	}
	for _, m := range examples {
		src := m[1]
		switch {
		case strings.HasPrefix(src, "tests:"):
			src = "rules:\n  - name: deny-scripts\n    match: {user_agent: curl}\n    action: deny\n" + src
		case strings.HasPrefix(src, "  - name:"):
			src = "rules:\n" + src
		case strings.HasPrefix(src, "cel:"):
			src = "rules:\n  - name: r\n    action: deny\n    match:\n" + indent(src, "      ")
		}
		if _, err := (ParseOptions{Classes: []string{"hosting"}}).Parse([]byte(src), "docs/policy.md example"); err != nil {
			t.Errorf("example:\n%s\ndoes not compile:\n%v", m[1], err)
		}
	}
}
