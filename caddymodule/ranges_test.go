package caddymodule

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/rempart/rempart/budget"
	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/policies"
)

// TestTopDifficultiesWork checks that the difficulties the README allows
// at the top of the range load with the embedded default policy, whose
// hosting rule adds 2 bits: the sum stops at the bound instead of blaming
// "default policy:60", a file the admin never wrote.
func TestTopDifficultiesWork(t *testing.T) {
	for _, bits := range []int{38, 39, 40} {
		t.Run(fmt.Sprint(bits), func(t *testing.T) {
			var h Handler
			src := fmt.Sprintf("rempart {\n\tprotect POST /sign\n\tdifficulty %d\n}\n", bits)
			if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(src)); err != nil {
				t.Fatal(err)
			}
			h.setDefaults()
			if err := h.Validate(); err != nil {
				t.Fatal(err)
			}
			tables, err := budget.NewTables(budget.TablesConfig{})
			if err != nil {
				t.Fatal(err)
			}
			opts := policies.ParseOptions{Classes: []string{HostingClass}, Defaults: policies.Defaults{Difficulty: h.Difficulty, Credits: h.Credits}, Signatures: h.Protect}
			lp, err := newLivePolicy("", h.Limits, opts, tables, policies.BudgetOptions{}, zap.NewNop())
			if err != nil {
				t.Fatalf("difficulty %d refused: %v", bits, err)
			}
			chain := lp.Active(time.Now()).Chain
			d := chain.Decide(&policies.Request{Method: "GET", Path: "/", Class: HostingClass, ASN: 16509})
			if d.Rule != "hosting-harder" || d.Difficulty != min(bits+2, challenge.MaxDifficulty) {
				t.Errorf("hosting client: %+v, want hosting-harder at %d bits", d, min(bits+2, challenge.MaxDifficulty))
			}
			d = chain.Decide(&policies.Request{Method: "GET", Path: "/"})
			if d.Difficulty != bits {
				t.Errorf("home client: %+v, want %d bits", d, bits)
			}
		})
	}
}

// TestAdminDeltaOverflowIsTheAdminsLine checks that a delta of the
// admin's own policy file that goes past the range is reported at its line
// of that file.
func TestAdminDeltaOverflowIsTheAdminsLine(t *testing.T) {
	path := t.TempDir() + "/policy.yaml"
	src := "rules:\n  - name: harder\n    match: {class: hosting}\n    action: challenge\n    difficulty_delta: +2\n"
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	tables, err := budget.NewTables(budget.TablesConfig{})
	if err != nil {
		t.Fatal(err)
	}
	opts := policies.ParseOptions{Classes: []string{HostingClass}, Defaults: policies.Defaults{Difficulty: 40, Credits: 1}}
	_, err = newLivePolicy(path, nil, opts, tables, policies.BudgetOptions{}, zap.NewNop())
	if err == nil || !strings.Contains(err.Error(), path+":5: ") || strings.Contains(err.Error(), "default policy") {
		t.Fatalf("error %v, want one at %s:5", err, path)
	}
}

// TestOutOfRangeAtTheLine checks that every whole-number and duration
// option is refused past its range at its Caddyfile line, with the
// message Validate gives for JSON.
func TestOutOfRangeAtTheLine(t *testing.T) {
	tests := []struct{ line, want string }{ // the option is on line 3
		{"difficulty 41", "difficulty 41: want 1 to 40 leading zero bits"},
		{"credits 256", "credits 256: want 1 to 255 signatures per solved challenge"},
		{"ipv4_prefix 33", "ipv4_prefix 33: want 8 to 32 bits"},
		{"ipv4_prefix 7", "ipv4_prefix 7: want 8 to 32 bits"},
		{"ipv6_prefix 129", "ipv6_prefix 129: want 16 to 128 bits"},
		{"ipv6_ip_prefix 32", "ipv6_ip_prefix 32: want 48 to 128 bits"},
		{"spent_size 10", "spent_size 10: want 1024 to 67108864 ids"},
		{"pass_ttl 30s", "pass_ttl 30s: want at least 1m"},
		{"challenge_ttl 5s", "challenge_ttl 5s: want at least 10s"},
		{"noscript_wait 300s", "noscript_wait 5m: want 1s to 255s"},
		{"policy_reload 10ms", "policy_reload 10ms: want at least 100ms"},
		{"max_solve 2h", "max_solve 2h: want 100ms to 1h"},
		{"max_solve", "wrong argument count"},
		{"max_solve off 5s", "wrong argument count"},
		{"flood { # line 3\n\t\tmax_extra_bits 25\n\t}", "max_extra_bits 25: want 1 to 24 bits"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			src := "rempart {\n\tprotect POST /sign\n\t" + tt.line + "\n}\n"
			var h Handler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(src))
			at := "Testfile:3"
			if strings.HasPrefix(tt.line, "flood") {
				at = "Testfile:4"
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), at) {
				t.Errorf("error %v, want %q at %s", err, tt.want, at)
			}
		})
	}
}

// TestREADMESaysTheRanges checks that the README's table of options gives
// each option the range the parser and Validate enforce.
func TestREADMESaysTheRanges(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := func(option string) string {
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "| `"+option+" ") || (option == "max_extra_bits" && strings.HasPrefix(line, "| `flood off`")) {
				return line
			}
		}
		t.Fatalf("README has no row for %s", option)
		return ""
	}
	for option, r := range intRanges {
		want := fmt.Sprintf("%d to %d", r.min, r.max)
		if option == "max_body" {
			want = fmt.Sprintf("1 byte to %dMiB", r.max>>20)
		}
		if !strings.Contains(row(option), want) {
			t.Errorf("README's row for %s does not say %q:\n%s", option, want, row(option))
		}
	}
	for option, r := range durationRanges {
		want := "at least " + shortDuration(r.min)
		if r.max > 0 {
			want = shortDuration(r.min) + " to " + shortDuration(r.max)
		}
		if !strings.Contains(row(option), want) {
			t.Errorf("README's row for %s does not say %q:\n%s", option, want, row(option))
		}
	}
	if policies.MinDifficulty != challenge.MinDifficulty || policies.MaxDifficulty != challenge.MaxDifficulty ||
		policies.MinCredits != 1 || policies.MaxCredits != challenge.MaxCredits {
		t.Error("the policy compiler's difficulty or credits range is not the handler's")
	}
}

// TestREADMENamesEveryJSONOption checks that the README's paragraph on the
// handler's JSON names every field of it: an option missing there reads as
// one the JSON config cannot set.
func TestREADMENamesEveryJSONOption(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, para, ok := strings.Cut(string(data), "Every option has its JSON equivalent")
	if !ok {
		t.Fatal("README has no paragraph on the JSON options")
	}
	para, _, _ = strings.Cut(para, "\n\n")
	typ := reflect.TypeFor[Handler]()
	tried, missing := 0, 0
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		tried++
		if !strings.Contains(para, "`"+name+"`") {
			missing++
			t.Errorf("README's JSON paragraph does not name %q", name)
		}
	}
	t.Logf("JSON options: %d / named in the README %d / expected %d", tried, tried-missing, tried)
}
