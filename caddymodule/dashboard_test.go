package caddymodule

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddytest"

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

// TestDashboardRedirectStaysOnSite asks the dashboard for paths that
// Caddy's path matcher takes for its route once slashes are merged and
// dot segments resolved, but that start with "//" as sent: the redirect
// to the path with a "/" must stay on the staff site, or a link to it
// sends staff, logged in, to a page of the attacker's (a fake login).
func TestDashboardRedirectStaysOnSite(t *testing.T) {
	tester := caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{AdminPort: 3031, LoadRequestTimeout: 30 * time.Second})
	tester.InitServer(fmt.Sprintf(`
	{
		admin localhost:3031
		http_port 9690
		grace_period 1ns
		auto_https off
		storage file_system %s
	}
	http://localhost:9690 {
		route /staff/* {
			basic_auth {
				# password "change-me"
				staff $2a$14$ORXwjnfWU0p3fV0lIQR0KeZSZlkR8nHyO.RASB0Ibz4xloA/1S716
			}
			rempart_dashboard
		}
		respond "petition"
	}
	http://127.0.0.1:9690 {
		rempart_dashboard
	}`, t.TempDir()), "caddyfile")

	tests := []struct{ host, path, wantPath string }{
		{"localhost:9690", "/staff/x", "/staff/x/"},
		{"localhost:9690", "//staff/x", "//staff/x/"},
		{"localhost:9690", "//evil.example/../staff/x", "//staff/x/"},
		{"localhost:9690", "//evil.example/%2E%2E/staff/x", "//evil.example/%2E%2E/staff/x/"},
		{"127.0.0.1:9690", "/x", "/x/"},
		{"127.0.0.1:9690", "//evil.example/x", "//evil.example/x/"},
		{"127.0.0.1:9690", "/%2Fevil.example/x", "/%2Fevil.example/x/"},
		{"127.0.0.1:9690", "/ok/a%3Fb", "/ok/a%3Fb/"},
	}
	var offSite int
	for _, tt := range tests {
		c, err := net.Dial("tcp", tt.host)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic c3RhZmY6Y2hhbmdlLW1l\r\nConnection: close\r\n\r\n", tt.path, tt.host)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		c.Close()
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || resp.StatusCode != http.StatusSeeOther {
			t.Errorf("GET %s: %d, Location %q, want 303 to %s", tt.path, resp.StatusCode, resp.Header.Get("Location"), tt.wantPath)
			continue
		}
		// Where a browser goes: the Location resolved against the URL it
		// asked for.
		base, err := url.Parse("http://" + tt.host + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		to := base.ResolveReference(loc)
		if to.Host != tt.host {
			offSite++
			t.Errorf("GET %s: Location %q sends the browser to %s", tt.path, loc, to.Host)
		} else if to.EscapedPath() != tt.wantPath {
			t.Errorf("GET %s: Location %q goes to %s, want %s", tt.path, loc, to.EscapedPath(), tt.wantPath)
		}
	}
	if offSite > 0 {
		t.Errorf("%d of %d redirects left the staff site, want 0", offSite, len(tests))
	}
}
