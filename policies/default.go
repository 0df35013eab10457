package policies

import (
	"bytes"
	_ "embed"
	"sync"
)

// defaultSource is the text of the default policy.
//
//go:embed default.yaml
var defaultSource []byte

// DefaultSource returns the text of the default policy: for a server to
// compile it with its own ParseOptions (its classes, difficulty and
// credits), and for people to start their own policy from.
func DefaultSource() []byte { return bytes.Clone(defaultSource) }

var defaultPolicy = sync.OnceValue(func() *Policy {
	p, err := Parse(defaultSource, "default.yaml")
	if err != nil {
		panic("policies: the embedded default policy does not compile:\n" + err.Error())
	}
	return p
})

// Default returns the default policy for a petition site, compiled with
// DefaultDifficulty and DefaultCredits: signatures counted per address,
// hosting networks held to tight budgets and 2 more bits of work, and
// every other request challenged (see default.yaml).
func Default() *Policy { return defaultPolicy() }
