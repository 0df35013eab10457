package caddymodule

import (
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// limitCaddyfile is a Caddyfile of 12 lines whose line 9 is limit, after
// a limit on line 8; global is the body of the global rempart option
// (line 2).
func limitCaddyfile(global, limit string) string {
	option := "\trempart"
	if global != "" {
		option += " {" + global + "}"
	}
	return strings.Join([]string{
		"{",                                  // 1
		option,                               // 2
		"}",                                  // 3
		"",                                   // 4
		"http://petition.example.org {",      // 5
		"\trempart {",                        // 6
		"\t\tprotect POST /sign",             // 7
		"\t\tlimit signatures per ip 3/hour", // 8
		"\t\t" + limit,                       // 9
		"\t}",                                // 10
		"\trespond ok",                       // 11
		"}",                                  // 12
	}, "\n") + "\n"
}

var brokenLimits = []struct {
	name   string
	global string
	limit  string
	want   string // part of the message
}{
	{"undefined class", "", "limit signatures per asn 10/hour class hostng", `class "hostng" is not defined (did you mean "hosting"?)`},
	{"malformed class", "", "limit signatures per asn 10/hour class Hosting", `class "Hosting": want a class name`},
	{"class of the global option misspelt", "\n\t\tclass vpn AS64500\n\t", "limit signatures per asn 10/hour class vpm", `class "vpm" is not defined (did you mean "vpn"?)`},
	{"built-in class left out", "\n\t\tno_builtin_hosting\n\t", "limit signatures per asn 10/hour class hosting", `class "hosting" is not defined`},
	{"same budget twice", "", "limit signatures per ip 5/hour", `rule name "signatures.ip" is used twice (first by limit 1; give each limit its own name)`},
	{"same name twice", "", "limit signatures per asn 5/hour name signatures.ip", `is used twice`},
	{"bad rate", "", "limit signatures per asn 10/fortnight", `rate "10/fortnight"`},
	{"bad counter", "", "limit votes per asn 10/hour", `limit "votes"`},
	{"bad key", "", "limit signatures per country 10/hour", `key kind "country"`},
	{"stray word", "", "limit signatures per asn 10/hour hosting", `unexpected "hosting"`},
}

// TestLimitErrorsNameTheirLine checks that a bad limit is reported at its
// own line of the Caddyfile when the Caddyfile is adapted, not at a line of
// a policy nobody wrote ("Caddyfile limits:13").
func TestLimitErrorsNameTheirLine(t *testing.T) {
	adapter := caddyconfig.GetAdapter("caddyfile")
	for _, tt := range brokenLimits {
		t.Run(tt.name, func(t *testing.T) {
			// Line 2 may grow into several lines; the limit stays the
			// 7th line from the end.
			src := limitCaddyfile(tt.global, tt.limit)
			line := strings.Count(src, "\n") - 3
			_, _, err := adapter.Adapt([]byte(src), map[string]any{"filename": "Caddyfile"})
			if err == nil {
				t.Fatalf("adapted, want an error at Caddyfile:%d:\n%s", line, src)
			}
			at := "Caddyfile:" + strconv.Itoa(line)
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), at) || strings.Contains(err.Error(), "Caddyfile limits") {
				t.Errorf("error:\n%v\nwant %q, at %s", err, tt.want, at)
			}
		})
	}
}

func TestLimitErrorsNameTheirLineInTheDispenser(t *testing.T) {
	for _, tt := range brokenLimits {
		if tt.global != "" {
			continue // the global option is the adapter's
		}
		t.Run(tt.name, func(t *testing.T) {
			src := "rempart {\n\tprotect POST /sign\n\n\tlimit signatures per ip 3/hour\n\t" + tt.limit + "\n}\n"
			var h Handler
			err := h.unmarshalCaddyfile(caddyfile.NewTestDispenser(src), []string{HostingClass})
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "Testfile:5") {
				t.Errorf("error:\n%v\nwant %q, at Testfile:5", err, tt.want)
			}
		})
	}
}

func TestLimitsWellWrittenAdapt(t *testing.T) {
	src := limitCaddyfile("\n\t\tclass vpn AS64500\n\t", "limit signatures per asn 10/hour class vpn")
	if _, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(src), map[string]any{"filename": "Caddyfile"}); err != nil {
		t.Fatalf("a good Caddyfile refused: %v", err)
	}
}
