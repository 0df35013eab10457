package policies

import (
	"regexp"
	"strings"
	"testing"

	"github.com/rempart/rempart/budget"
)

// TestLimitsPolicyNamesTheLimit checks that a budget of a server's
// configuration that does not compile is named by its number and text,
// never by a line of the rules generated from it.
func TestLimitsPolicyNamesTheLimit(t *testing.T) {
	budgets := []Budget{
		{Counts: CountSignatures, Per: budget.KeyIP, Rate: "3/hour"},
		{Counts: CountSignatures, Per: budget.KeyASN, Rate: "10/hour", Class: "hostng"},
		{Counts: CountSignatures, Per: budget.KeyIP, Rate: "5/hour"},
	}
	_, err := LimitsPolicy(budgets, "Caddyfile limits", ParseOptions{Classes: []string{"hosting"}})
	if err == nil {
		t.Fatal("accepted")
	}
	want := []string{
		`Caddyfile limits: limit 2 (signatures per asn 10/hour class hostng): rule "signatures.asn.hostng": class "hostng" is not defined (did you mean "hosting"?)`,
		`Caddyfile limits: limit 3 (signatures per ip 5/hour): rule name "signatures.ip" is used twice (first by limit 1; give each limit its own name)`,
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error:\n%v\nwant a line starting with:\n%s", err, w)
		}
	}
	if regexp.MustCompile(`Caddyfile limits:\d`).MatchString(err.Error()) {
		t.Errorf("error names a line of generated rules:\n%v", err)
	}
}
