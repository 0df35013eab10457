package policies

import (
	"net/netip"
	"testing"
)

func TestDefaultPolicy(t *testing.T) {
	p := Default()
	results := RunTests(p)
	if len(results) < 5 {
		t.Fatalf("the default policy has %d tests, want its behaviour covered", len(results))
	}
	for _, r := range results {
		if !r.Passed() {
			t.Errorf("default policy test %q fails: %s", r.Name, r.Failure)
		}
	}
	// A signature endpoint is never let through without a challenge, from
	// anywhere and by any method.
	for _, method := range []string{"GET", "HEAD", "POST", "PUT"} {
		for _, class := range []string{"", "hosting", "vpn"} {
			req := Request{Method: method, Path: "/sign", IP: netip.MustParseAddr("203.0.113.7"), Class: class}
			if d := p.Decide(&req); d.Action != ActionChallenge {
				t.Errorf("%s /sign from class %q: %s by %s, want a challenge", method, class, d.Action, d.Rule)
			}
		}
	}
}

func TestDefaultSourceWithServerOptions(t *testing.T) {
	p, err := ParseOptions{Classes: []string{"hosting", "vpn"}, Defaults: Defaults{Difficulty: 21, Credits: 2}}.Parse(DefaultSource(), "default.yaml")
	if err != nil {
		t.Fatalf("the default policy with the server's options: %v", err)
	}
	if d := p.Decide(&Request{Method: "POST", Path: "/sign", Class: "hosting"}); d.Difficulty != 23 || d.Credits != 2 {
		t.Errorf("hosting: %d bits and %d credits, want 23 and 2", d.Difficulty, d.Credits)
	}
	if _, err := (ParseOptions{Classes: []string{}}).Parse(DefaultSource(), "default.yaml"); err == nil {
		t.Error("the default policy names the hosting class, but a server without it accepted it")
	}
	src := DefaultSource()
	src[0] = '!'
	if DefaultSource()[0] == '!' {
		t.Error("DefaultSource returned the embedded text itself")
	}
}
