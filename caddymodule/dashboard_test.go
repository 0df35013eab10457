package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/rempart/rempart/internal/fuzzguard"
)

func TestDashboardCaddyfile(t *testing.T) {
	tests := []struct {
		input    string
		want     Dashboard
		errorHas string
	}{
		{"rempart_dashboard", Dashboard{}, ""},
		{"rempart_dashboard {\n throttle 3/hour\n harder 2\n}", Dashboard{Throttle: "3/hour", Harder: 2}, ""},
		{"rempart_dashboard extra", Dashboard{}, "wrong argument count"},
		{"rempart_dashboard {\n throttle lots\n}", Dashboard{}, "throttle"},
		{"rempart_dashboard {\n harder 17\n}", Dashboard{}, "want 1 to 16"},
		{"rempart_dashboard {\n colour red\n}", Dashboard{}, "unknown rempart_dashboard option"},
	}
	for _, tc := range tests {
		var d Dashboard
		err := d.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
		switch {
		case tc.errorHas == "" && err != nil:
			t.Errorf("%q: %v", tc.input, err)
		case tc.errorHas != "" && (err == nil || !strings.Contains(err.Error(), tc.errorHas)):
			t.Errorf("%q: error %v, want one saying %q", tc.input, err, tc.errorHas)
		case tc.errorHas == "" && d != tc.want:
			t.Errorf("%q: %+v, want %+v", tc.input, d, tc.want)
		}
	}
}

func TestDashboardRules(t *testing.T) {
	d := &Dashboard{Throttle: "10/hour", Harder: 4}
	tests := []struct {
		action dashboardAction
		want   string // the rule's JSON, or "" for an error
	}{
		{dashboardAction{Action: "throttle", Network: "AS16509", Hours: 2},
			`{"action":"limit","counts":"signatures","match":{"asn":16509},"name":"dashboard-throttle-as16509","per":"asn","rate":"10/hour"}`},
		{dashboardAction{Action: "deny", Network: "203.0.113.9/24", Hours: 1},
			`{"action":"deny","match":{"cidr":"203.0.113.0/24"},"name":"dashboard-deny-203-0-113-0-24"}`},
		{dashboardAction{Action: "harder", Network: "2001:db8::/48", Hours: 24},
			`{"action":"challenge","difficulty_delta":4,"match":{"cidr":"2001:db8::/48"},"name":"dashboard-harder-2001-db8---48"}`},
		{dashboardAction{Action: "throttle", Network: "AS0", Hours: 1}, ""},
		{dashboardAction{Action: "throttle", Network: "evil", Hours: 1}, ""},
		{dashboardAction{Action: "nuke", Network: "AS1", Hours: 1}, ""},
		{dashboardAction{Action: "deny", Network: "AS1", Hours: 0}, ""},
		{dashboardAction{Action: "deny", Network: "AS1", Hours: 169}, ""},
	}
	for _, tc := range tests {
		got, err := d.rule(tc.action)
		if tc.want == "" {
			if err == nil {
				t.Errorf("%+v: %s, want an error", tc.action, got)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("%+v: %s %v, want %s", tc.action, got, err, tc.want)
		}
	}
}

// FuzzDashboardAction decodes an action as the dashboard does and builds
// its rule: an error or a rule with a name, never a panic.
func FuzzDashboardAction(f *testing.F) {
	f.Add([]byte(`{"action":"throttle","network":"AS16509","hours":2}`))
	f.Add([]byte(`{"action":"deny","network":"::/0","hours":168}`))
	f.Add([]byte(`{"action":"harder","network":"1.2.3.4/33","hours":-1}`))
	d := &Dashboard{Throttle: "10/hour", Harder: 4}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzguard.WithinInput(t, fuzzguard.DefaultLimit, data, func() {
			var a dashboardAction
			if json.Unmarshal(data, &a) != nil {
				return
			}
			rule, err := d.rule(a)
			if err != nil {
				return
			}
			var named struct{ Name string }
			if json.Unmarshal(rule, &named) != nil || !strings.HasPrefix(named.Name, "dashboard-"+a.Action+"-") {
				t.Fatalf("rule %s from %s", rule, data)
			}
		})
	})
}
