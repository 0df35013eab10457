package caddymodule

import (
	"crypto/tls"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func TestMatchASNUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    MatchASN
		wantErr string
	}{
		{
			name:  "mixed",
			input: `asn 16509 AS14061 as8075 class:hosting org:(?i)amazon`,
			want:  MatchASN{Numbers: []uint32{16509, 14061, 8075}, Classes: []string{"hosting"}, Org: "(?i)amazon"},
		},
		{
			name:  "lines of a named set add up",
			input: "asn 16509\nasn class:vpn\nasn \"org:Amazon Data Services\"",
			want:  MatchASN{Numbers: []uint32{16509}, Classes: []string{"vpn"}, Org: "Amazon Data Services"},
		},
		{name: "nothing", input: `asn`, wantErr: "want at least one AS number, class:<name> or org:<regexp>"},
		{name: "bad number", input: `asn AS16509x`, wantErr: `bad AS number "AS16509x"`},
		{name: "too large", input: `asn 4294967296`, wantErr: `bad AS number "4294967296"`},
		{name: "AS0", input: `asn AS0`, wantErr: "AS0 is reserved"},
		{name: "misspelt class", input: `asn clas:hosting`, wantErr: `unknown argument "clas:hosting": want an AS number, class:<name> or org:<regexp>`},
		{name: "empty class", input: `asn class:`, wantErr: `class name ""`},
		{name: "bad org", input: `asn org:(amazon`, wantErr: "org: error parsing regexp: missing closing )"},
		{name: "empty org", input: `asn org:`, wantErr: "org: want a regular expression"},
		{name: "org twice", input: `asn org:amazon org:google`, wantErr: "org given twice: join the patterns with | in one"},
		{name: "block", input: "asn 16509 {\n class:vpn\n}", wantErr: "blocks are not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m MatchASN
			err := m.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(m, tt.want) {
				t.Errorf("got %+v, want %+v", m, tt.want)
			}
		})
	}
}

func TestMatchASN(t *testing.T) {
	ctx, _ := provisionConfig(t, App{
		ASNDB:   writeTestDB(t),
		Classes: map[string]ClassConfig{"vpn": {ASNs: []uint32{16509}}},
	})
	tests := []struct {
		name    string
		matcher MatchASN
		match   []string // client IPs that match
		miss    []string // client IPs that do not
	}{
		{
			name:    "numbers",
			matcher: MatchASN{Numbers: []uint32{64501, 16509, 13335}},
			match:   []string{"52.94.1.1", "2600:1f00::1", "1.1.1.1", "198.51.100.1"},
			miss:    []string{"8.8.8.8", "192.0.2.1", "10.0.0.1"},
		},
		{
			// AS16509 is reported in vpn, defined by the admin, and still
			// matches the built-in hosting class it is in too.
			name:    "class",
			matcher: MatchASN{Classes: []string{HostingClass}},
			match:   []string{"52.94.1.1", "8.8.8.8"},
			miss:    []string{"1.1.1.1", "192.0.2.1"},
		},
		{
			name:    "org",
			matcher: MatchASN{Org: "(?i)^amazon"},
			match:   []string{"52.94.1.1"},
			miss:    []string{"8.8.8.8", "198.51.100.1", "192.0.2.1"},
		},
		{
			// A pattern that matches an empty name does not match clients
			// the database does not know.
			name:    "org matching anything",
			matcher: MatchASN{Org: ".*"},
			match:   []string{"198.51.100.1", "1.1.1.1"},
			miss:    []string{"192.0.2.1"},
		},
		{
			name:    "any of them",
			matcher: MatchASN{Numbers: []uint32{13335}, Classes: []string{"vpn"}, Org: "Google"},
			match:   []string{"1.1.1.1", "52.94.1.1", "8.8.8.8"},
			miss:    []string{"198.51.100.1", "192.0.2.1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.matcher
			if err := m.Provision(ctx); err != nil {
				t.Fatal(err)
			}
			for _, ip := range tt.match {
				if ok, err := m.MatchWithError(requestFrom(ip)); !ok || err != nil {
					t.Errorf("%s: MatchWithError = %v, %v; want a match", ip, ok, err)
				}
			}
			for _, ip := range tt.miss {
				if m.Match(requestFrom(ip)) {
					t.Errorf("%s: matched", ip)
				}
			}
		})
	}
}

func TestMatchASNProvisionErrors(t *testing.T) {
	ctx, _ := provisionConfig(t, App{Classes: map[string]ClassConfig{"vpn": {ASNs: []uint32{9009}}}})
	tests := []struct {
		name    string
		matcher MatchASN
		want    string
	}{
		{"empty", MatchASN{}, "want at least one AS number, class or org pattern"},
		{"AS0", MatchASN{Numbers: []uint32{0}}, "AS0 is reserved"},
		{"unknown class", MatchASN{Classes: []string{"hostng"}}, `unknown class "hostng"; the rempart app defines ["vpn" "hosting"]`},
		{"bad org", MatchASN{Org: "("}, "asn matcher: org: error parsing regexp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.matcher
			if err := m.Provision(ctx); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Provision() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestMatchASNEarlyData checks that a request whose TLS handshake is not
// complete (0-RTT), and whose address may be spoofed, is not judged.
func TestMatchASNEarlyData(t *testing.T) {
	ctx, _ := provisionConfig(t, App{ASNDB: writeTestDB(t)})
	m := MatchASN{Numbers: []uint32{16509}}
	if err := m.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	r := requestFrom("52.94.1.1")
	r.TLS = &tls.ConnectionState{HandshakeComplete: false}
	ok, err := m.MatchWithError(r)
	var herr caddyhttp.HandlerError
	if ok || !errors.As(err, &herr) || herr.StatusCode != http.StatusTooEarly {
		t.Fatalf("MatchWithError before the handshake = %v, %v; want false and a 425", ok, err)
	}
}

func TestMatchASNExpression(t *testing.T) {
	ctx, _ := provisionConfig(t, App{ASNDB: writeTestDB(t)})
	tests := []struct {
		expr    string
		match   []string
		miss    []string
		wantErr string
	}{
		{expr: `asn('AS16509')`, match: []string{"52.94.1.1"}, miss: []string{"8.8.8.8", "192.0.2.1"}},
		{expr: `asn('13335', 'class:hosting')`, match: []string{"1.1.1.1", "8.8.8.8"}, miss: []string{"198.51.100.1"}},
		{expr: `asn('org:(?i)google') && path('/sign')`, match: []string{"8.8.8.8"}, miss: []string{"52.94.1.1"}},
		{expr: `!asn('class:hosting')`, match: []string{"1.1.1.1", "192.0.2.1"}, miss: []string{"52.94.1.1"}},
		{expr: `asn()`, wantErr: "matcher requires at least one argument"},
		{expr: `asn(16509)`, wantErr: "matcher arguments must be string constants"},
		{expr: `asn('clas:hosting')`, wantErr: `asn(): unknown argument "clas:hosting"`},
		{expr: `asn('class:vpn')`, wantErr: `unknown class "vpn"`},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			m := &caddyhttp.MatchExpression{Expr: tt.expr}
			err := m.Provision(ctx)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Provision() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, ip := range tt.match {
				r := requestFrom(ip)
				r.URL.Path = "/sign"
				if ok, err := m.MatchWithError(r); !ok || err != nil {
					t.Errorf("%s: MatchWithError = %v, %v; want a match", ip, ok, err)
				}
			}
			for _, ip := range tt.miss {
				r := requestFrom(ip)
				r.URL.Path = "/sign"
				if ok, err := m.MatchWithError(r); ok || err != nil {
					t.Errorf("%s: MatchWithError = %v, %v; want no match", ip, ok, err)
				}
			}
		})
	}
}
