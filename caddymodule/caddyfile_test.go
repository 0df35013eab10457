package caddymodule

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/rempart/rempart/budget"
	"github.com/rempart/rempart/internal/fuzzguard"
	"github.com/rempart/rempart/policies"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    Handler
		wantErr string
	}{
		{name: "bare", input: `rempart`, want: Handler{}},
		{name: "empty block", input: "rempart {\n}", want: Handler{}},
		{name: "max_solve off", input: "rempart {\n max_solve off\n}", want: Handler{MaxSolve: -1}},
		{name: "journal off", input: "rempart {\n journal off\n}", want: Handler{NoJournal: true}},
		{
			name: "every option",
			input: `rempart {
				secret {env.REMPART_SECRET}
				difficulty 20
				protect POST /sign
				protect post /petitions/*/sign
				credits 2
				pass_ttl 30m
				challenge_ttl 2m
				ipv4_prefix 32
				ipv6_prefix 64
				max_body 16KiB
				body_timeout 30s
				noscript_wait 10s
				max_solve 3s
				site petition
				spent_size 65536
				ipv6_ip_prefix 56
				limit signatures per asn 10/hour class hosting
				limit signatures per ip 3/h name per-ip
				limit challenges per prefix 60/min
				flood {
					threshold 120/min
					max_extra_bits 4
					half_life 30s
				}
			}`,
			want: Handler{
				Secret:     "{env.REMPART_SECRET}",
				Difficulty: 20,
				Protect: policies.Endpoints{
					{Method: "POST", Path: "/sign"},
					{Method: "POST", Path: "/petitions/*/sign"},
				},
				Credits:      2,
				PassTTL:      caddy.Duration(30 * time.Minute),
				ChallengeTTL: caddy.Duration(2 * time.Minute),
				IPv4Prefix:   32,
				IPv6Prefix:   64,
				MaxBody:      16 << 10,
				BodyTimeout:  caddy.Duration(30 * time.Second),
				NoScriptWait: caddy.Duration(10 * time.Second),
				MaxSolve:     caddy.Duration(3 * time.Second),
				Site:         "petition",
				SpentSize:    65536,
				IPv6IPPrefix: 56,
				Limits: []policies.Budget{
					{Counts: policies.CountSignatures, Per: budget.KeyASN, Rate: "10/hour", Class: "hosting"},
					{Counts: policies.CountSignatures, Per: budget.KeyIP, Rate: "3/h", Name: "per-ip"},
					{Counts: policies.CountChallenges, Per: budget.KeyPrefix, Rate: "60/min"},
				},
				Flood: &Flood{Threshold: "120/min", MaxExtraBits: 4, HalfLife: caddy.Duration(30 * time.Second)},
			},
		},
		{name: "flood off", input: "rempart {\n flood off\n}", want: Handler{Flood: &Flood{Off: true}}},
		{
			name: "form_origins accumulates, as browsers send them",
			input: `rempart {
				form_origins https://www.example.org HTTPS://Campaign.Example:443
				form_origins http://[::1]:8080 http://127.0.0.1:8080
			}`,
			want: Handler{FormOrigins: []string{"https://www.example.org", "https://campaign.example", "http://[::1]:8080", "http://127.0.0.1:8080"}},
		},
		{name: "argument on directive", input: `rempart foo`, wantErr: "wrong argument count"},
		{name: "unknown option", input: "rempart {\n dificulty 3\n}", wantErr: `unknown rempart option "dificulty"`},
		{name: "difficulty not a number", input: "rempart {\n difficulty hard\n}", wantErr: `difficulty "hard": want a positive whole number`},
		{name: "difficulty missing", input: "rempart {\n difficulty\n}", wantErr: "wrong argument count"},
		{name: "difficulty extra", input: "rempart {\n difficulty 3 4\n}", wantErr: "wrong argument count"},
		{name: "protect without path", input: "rempart {\n protect POST\n}", wantErr: "want a method and a path"},
		{name: "protect relative path", input: "rempart {\n protect POST sign\n}", wantErr: "want an absolute path"},
		{name: "protect bad glob", input: "rempart {\n protect POST /[a\n}", wantErr: "bad glob"},
		{name: "bad duration", input: "rempart {\n pass_ttl forever\n}", wantErr: `pass_ttl "forever"`},
		{name: "bad size", input: "rempart {\n max_body lots\n}", wantErr: `max_body "lots"`},
		{name: "body_timeout too short", input: "rempart {\n body_timeout 100ms\n}", wantErr: "body_timeout 100ms"},
		{name: "secret missing", input: "rempart {\n secret\n}", wantErr: "wrong argument count"},
		{name: "journal missing", input: "rempart {\n journal\n}", wantErr: "journal: want journal off"},
		{name: "journal on", input: "rempart {\n journal on\n}", wantErr: "journal: want journal off"},
		{name: "journal extra", input: "rempart {\n journal off now\n}", wantErr: "journal: want journal off"},
		{name: "site missing", input: "rempart {\n site\n}", wantErr: "wrong argument count"},
		{name: "site extra", input: "rempart {\n site a b\n}", wantErr: "wrong argument count"},
		{name: "limit incomplete", input: "rempart {\n limit signatures per asn\n}", wantErr: "want: limit signatures|challenges per"},
		{name: "limit unknown counter", input: "rempart {\n limit votes per asn 1/h\n}", wantErr: `limit "votes": want signatures or challenges`},
		{name: "limit unknown key", input: "rempart {\n limit signatures per country 1/h\n}", wantErr: `key kind "country"`},
		{name: "limit bad rate", input: "rempart {\n limit signatures per ip lots\n}", wantErr: `rate "lots"`},
		{name: "limit stray word", input: "rempart {\n limit signatures per ip 1/h hosting\n}", wantErr: `unexpected "hosting"`},
		{name: "form_origins empty", input: "rempart {\n form_origins\n}", wantErr: "form_origins: want one or more origins, such as: form_origins https://www.example.org"},
		{name: "form_origins any", input: "rempart {\n form_origins *\n}", wantErr: `form_origins: "*" is not an origin one can list`},
		{name: "form_origins null", input: "rempart {\n form_origins null\n}", wantErr: `form_origins: "null" is not an origin one can list`},
		{name: "form_origins host alone", input: "rempart {\n form_origins www.example.org\n}", wantErr: `form_origins: "www.example.org": want an http:// or https:// origin`},
		{name: "form_origins other scheme", input: "rempart {\n form_origins ftp://example.org\n}", wantErr: `form_origins: "ftp://example.org": want an http:// or https:// origin`},
		{name: "form_origins trailing slash", input: "rempart {\n form_origins https://www.example.org/\n}", wantErr: `form_origins: "https://www.example.org/" ends with a slash, which an Origin header never has: write https://www.example.org`},
		{name: "form_origins path", input: "rempart {\n form_origins https://www.example.org/petition\n}", wantErr: `form_origins: "https://www.example.org/petition" has a path`},
		{name: "form_origins query", input: "rempart {\n form_origins https://www.example.org?x=1\n}", wantErr: `form_origins: "https://www.example.org?x=1" has a query or a fragment`},
		{name: "form_origins fragment", input: "rempart {\n form_origins https://www.example.org#x\n}", wantErr: `form_origins: "https://www.example.org#x" has a query or a fragment`},
		{name: "form_origins user", input: "rempart {\n form_origins https://me@www.example.org\n}", wantErr: `form_origins: "https://me@www.example.org" has a user name`},
		{name: "form_origins no host", input: "rempart {\n form_origins https://\n}", wantErr: `form_origins: "https://" has no host`},
		{name: "form_origins bad port", input: "rempart {\n form_origins https://www.example.org:99999\n}", wantErr: `port 99999: want 1 to 65535`},
		{name: "form_origins second bad", input: "rempart {\n form_origins https://www.example.org null\n}", wantErr: `form_origins: "null"`},
		{name: "flood on", input: "rempart {\n flood on\n}", wantErr: "flood: want off"},
		{name: "flood bad threshold", input: "rempart {\n flood {\n threshold fast\n }\n}", wantErr: "flood threshold"},
		{name: "flood unknown option", input: "rempart {\n flood {\n bits 3\n }\n}", wantErr: `unknown flood option "bits"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Handler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !equalHandlers(h, tt.want) {
				t.Errorf("got %+v\nwant %+v", h, tt.want)
			}
		})
	}
}

func equalHandlers(a, b Handler) bool {
	if !reflect.DeepEqual(a.Limits, b.Limits) || !reflect.DeepEqual(a.Flood, b.Flood) {
		return false
	}
	a.Limits, b.Limits, a.Flood, b.Flood = nil, nil, nil, nil
	if len(a.Protect) != len(b.Protect) {
		return false
	}
	for i := range a.Protect {
		if a.Protect[i] != b.Protect[i] {
			return false
		}
	}
	a.Protect, b.Protect = nil, nil
	if !slices.Equal(a.FormOrigins, b.FormOrigins) {
		return false
	}
	return a.Secret == b.Secret && a.Difficulty == b.Difficulty && a.Credits == b.Credits &&
		a.PassTTL == b.PassTTL && a.ChallengeTTL == b.ChallengeTTL && a.IPv4Prefix == b.IPv4Prefix &&
		a.IPv6Prefix == b.IPv6Prefix && a.MaxBody == b.MaxBody && a.NoScriptWait == b.NoScriptWait
}

func TestValidate(t *testing.T) {
	valid := func() Handler {
		h := Handler{Protect: policies.Endpoints{{Method: "POST", Path: "/sign"}}}
		h.setDefaults()
		return h
	}
	if h := valid(); h.Validate() != nil {
		t.Fatalf("defaults do not validate: %v", h.Validate())
	}
	tests := []struct {
		name   string
		modify func(*Handler)
		want   string
	}{
		{"difficulty too high", func(h *Handler) { h.Difficulty = 41 }, "difficulty 41"},
		{"credits too many", func(h *Handler) { h.Credits = 256 }, "credits 256"},
		{"pass too short", func(h *Handler) { h.PassTTL = caddy.Duration(time.Second) }, "pass_ttl"},
		{"challenge too short", func(h *Handler) { h.ChallengeTTL = caddy.Duration(time.Second) }, "challenge_ttl"},
		{"ipv4 prefix", func(h *Handler) { h.IPv4Prefix = 33 }, "ipv4_prefix 33"},
		{"ipv6 prefix", func(h *Handler) { h.IPv6Prefix = 129 }, "ipv6_prefix 129"},
		{"max body", func(h *Handler) { h.MaxBody = DefaultStashBytes + 1 }, "max_body"},
		{"body timeout", func(h *Handler) { h.BodyTimeout = caddy.Duration(time.Hour) }, "body_timeout"},
		{"encoded path from JSON", func(h *Handler) { h.Protect[0].Path = "/%73ign" }, "protect"},
		{"spent size", func(h *Handler) { h.SpentSize = 10 }, "spent_size 10"},
		{"ipv6 ip prefix", func(h *Handler) { h.IPv6IPPrefix = 32 }, "ipv6_ip_prefix 32"},
		{"form origin with a path, from JSON", func(h *Handler) { h.FormOrigins = []string{"https://www.example.org/sign"} }, `form_origins: "https://www.example.org/sign" has a path`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := valid()
			tt.modify(&h)
			if err := h.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// Form origins given in JSON are written as browsers send them when the
// handler is provisioned, and refused there when they are not origins.
func TestFormOriginsFromJSON(t *testing.T) {
	h := Handler{FormOrigins: []string{"HTTPS://WWW.Example.org:443", "http://[0:0::1]:80"}}
	if err := h.normalizeFormOrigins(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"https://www.example.org", "http://[::1]"}; !slices.Equal(h.FormOrigins, want) {
		t.Errorf("form origins %q, want %q", h.FormOrigins, want)
	}
	h = Handler{FormOrigins: []string{"https://www.example.org", "*"}}
	if err := h.normalizeFormOrigins(); err == nil || !strings.Contains(err.Error(), `form_origins: "*"`) {
		t.Errorf("form origin *: %v, want a form_origins error", err)
	}
}

func FuzzUnmarshalCaddyfile(f *testing.F) {
	for _, seed := range []string{
		"rempart",
		"rempart {\n protect POST /sign\n limit signatures per asn 10/hour class hosting\n}",
		"rempart {\n flood {\n threshold 60/min\n max_extra_bits 6\n }\n}",
		"rempart {\n max_body 64KiB\n noscript_wait 5s\n}",
		"rempart {\n max_solve off\n max_solve 2s\n}",
		"rempart {\n limit\n}",
		"rempart {\n form_origins https://www.example.org http://[::1]:8080\n}",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, input string) {
		fuzzguard.WithinInput(t, fuzzguard.DefaultLimit, []byte(input), func() {
			var h Handler
			if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err != nil {
				return
			}
			// Whatever parses must either validate or say why, never panic.
			h.setDefaults()
			_ = h.Validate()
		})
	})
}
