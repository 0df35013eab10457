package caddymodule

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

func TestParseGlobalOption(t *testing.T) {
	tests := []struct {
		name     string
		input    string
		existing any
		want     App
		wantErr  string
	}{
		{name: "bare", input: `rempart`, want: App{}},
		{name: "empty block", input: "rempart {\n}", want: App{}},
		{
			name: "every option",
			input: `rempart {
				asn_db /var/lib/rempart/GeoLite2-ASN.mmdb
				asn_db_reload 10m
				class vpn AS9009 20473
				class vpn as60068
				class_file vpn /etc/rempart/vpn.txt
				class_file tor /etc/rempart/tor.txt /etc/rempart/tor-extra.txt
				no_builtin_hosting
			}`,
			want: App{
				ASNDB:       "/var/lib/rempart/GeoLite2-ASN.mmdb",
				ASNDBReload: caddy.Duration(10 * time.Minute),
				Classes: map[string]ClassConfig{
					"vpn": {ASNs: []uint32{9009, 20473, 60068}, Files: []string{"/etc/rempart/vpn.txt"}},
					"tor": {Files: []string{"/etc/rempart/tor.txt", "/etc/rempart/tor-extra.txt"}},
				},
				NoBuiltinHosting: true,
			},
		},
		{name: "given twice", input: `rempart`, existing: httpcaddyfile.App{Name: "rempart"}, wantErr: "rempart global option given twice"},
		{name: "argument on option", input: `rempart /db.mmdb`, wantErr: "wrong argument count"},
		{name: "unknown option", input: "rempart {\n asn_database x\n}", wantErr: `unknown rempart global option "asn_database"`},
		{name: "asn_db missing", input: "rempart {\n asn_db\n}", wantErr: "wrong argument count"},
		{name: "asn_db extra", input: "rempart {\n asn_db a b\n}", wantErr: "wrong argument count"},
		{name: "bad reload", input: "rempart {\n asn_db_reload often\n}", wantErr: `asn_db_reload "often": want a positive duration`},
		{name: "class without name", input: "rempart {\n class\n}", wantErr: "class: want a class name and at least one AS number"},
		{name: "class without numbers", input: "rempart {\n class vpn\n}", wantErr: "class vpn: want at least one AS number"},
		{name: "class bad number", input: "rempart {\n class vpn AS9009x\n}", wantErr: `class vpn: bad AS number "AS9009x"`},
		{name: "class AS0", input: "rempart {\n class vpn AS0\n}", wantErr: "class vpn: AS0 is reserved"},
		{name: "class bad name", input: "rempart {\n class VPN 9009\n}", wantErr: `class: class name "VPN": want lower-case letters`},
		{name: "class_file without file", input: "rempart {\n class_file vpn\n}", wantErr: "class_file vpn: want at least one file"},
		{name: "no_builtin_hosting argument", input: "rempart {\n no_builtin_hosting yes\n}", wantErr: "wrong argument count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseGlobalOption(caddyfile.NewTestDispenser(tt.input), tt.existing)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			app, ok := got.(httpcaddyfile.App)
			if !ok || app.Name != "rempart" {
				t.Fatalf("got %#v, want an httpcaddyfile.App named rempart", got)
			}
			var decoded App
			if err := json.Unmarshal(app.Value, &decoded); err != nil {
				t.Fatalf("app JSON %s: %v", app.Value, err)
			}
			if !reflect.DeepEqual(decoded, tt.want) {
				t.Errorf("got %+v\nwant %+v", decoded, tt.want)
			}
		})
	}
}

// TestGlobalOptionAdapts checks the option in a whole Caddyfile, where
// Caddy puts the app beside the http app.
func TestGlobalOptionAdapts(t *testing.T) {
	adapter := caddyfile.Adapter{ServerType: httpcaddyfile.ServerType{}}
	out, _, err := adapter.Adapt([]byte(`{
		rempart {
			asn_db /db.mmdb
			class vpn 9009
		}
	}
	:8080 {
		@cloud asn class:hosting class:vpn
		respond @cloud "cloud"
	}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Apps map[string]json.RawMessage `json:"apps"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	if got, want := string(cfg.Apps["rempart"]), `{"asn_db":"/db.mmdb","classes":{"vpn":{"asns":[9009]}}}`; got != want {
		t.Errorf("rempart app = %s, want %s", got, want)
	}
	if want := `"asn":{"classes":["hosting","vpn"]}`; !strings.Contains(string(cfg.Apps["http"]), want) {
		t.Errorf("http app %s lacks the matcher %s", cfg.Apps["http"], want)
	}
}
