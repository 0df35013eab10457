package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/rempart/rempart/policies"
)

// cheapPath is a page whose policy rule asks little work: the attacker's
// "cheap challenge elsewhere" move buys its pass there and tries to sign
// with it.
const (
	cheapPath       = "/about"
	cheapDifficulty = 4
)

// cheapRule is the rule the replay adds to the default policy, first of
// its rules, and its tests.
const cheapRule = `  # The replay's cheap page (cmd/rempart-flood): a pass bought here is
  # worth 4 bits, and must not sign where the policy asks for more.
  - name: about-cheap
    match:
      method: GET
      path: /about
    action: challenge
    difficulty: 4

`

const cheapTests = `  - name: the replay's about page is cheap
    request: {method: GET, path: /about, ip: 198.51.100.7, asn: 3215}
    expect: {action: challenge, rule: about-cheap, difficulty: 4}

  - name: a signature still asks the default work
    request: {method: POST, path: /sign, ip: 198.51.100.7, asn: 3215}
    expect: {action: challenge, rule: default, difficulty: 18}

`

// replayPolicy returns the replay's policy: the embedded default with the
// cheap rule first and its tests.
func replayPolicy() ([]byte, error) {
	src := policies.DefaultSource()
	for _, insert := range []struct{ after, text string }{{"\nrules:\n", cheapRule}, {"\ntests:\n", cheapTests}} {
		i := bytes.Index(src, []byte(insert.after))
		if i < 0 {
			return nil, fmt.Errorf("replay policy: the default policy has no %q", insert.after)
		}
		at := i + len(insert.after)
		src = append(src[:at:at], append([]byte(insert.text), src[at:]...)...)
	}
	// Parse checks the file and runs its tests, as the shield will.
	if _, err := policies.Parse(src, "flood-policy.yaml"); err != nil {
		return nil, fmt.Errorf("replay policy: %w", err)
	}
	return src, nil
}

// writePolicy writes the replay's policy to path.
func writePolicy(path string) error {
	src, err := replayPolicy()
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, src, 0o600); err != nil {
		return fmt.Errorf("replay policy: %w", err)
	}
	return nil
}
