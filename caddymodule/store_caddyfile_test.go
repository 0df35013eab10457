package caddymodule

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// TestParseStoreOption reads `store` in the rempart global options into
// the app's store module, in the JSON an admin would write.
func TestParseStoreOption(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    string // the app's "store" JSON
		wantErr string
	}{
		{name: "none", input: "rempart {\n}", want: ""},
		{name: "memory", input: "rempart {\n store memory\n}", want: `{"module":"memory"}`},
		{name: "redis bare", input: "rempart {\n store redis\n}", want: `{"module":"redis"}`},
		{name: "redis inline address", input: "rempart {\n store redis 10.0.0.5:6379\n}", want: `{"addresses":["10.0.0.5:6379"],"module":"redis"}`},
		{
			name: "redis every option",
			input: `rempart {
				store redis {
					address 10.0.0.5:26379 10.0.0.6:26379
					master_name petition
					username rempart
					password {env.REDIS_PASSWORD}
					db 2
					key_prefix petition:
					tls
					tls_server_name redis.internal
					timeout 250ms
					budgets_on_error closed
				}
				asn_db /var/lib/rempart/asn.mmdb
			}`,
			want: `{"addresses":["10.0.0.5:26379","10.0.0.6:26379"],"budgets_on_error":"closed","db":2,"key_prefix":"petition:",` +
				`"master_name":"petition","module":"redis","password":"{env.REDIS_PASSWORD}","timeout":250000000,"tls":true,` +
				`"tls_server_name":"redis.internal","username":"rempart"}`,
		},
		{name: "no module", input: "rempart {\n store\n}", wantErr: "store: want memory or redis"},
		{name: "unknown module", input: "rempart {\n store etcd\n}", wantErr: "rempart.stores.etcd"},
		{name: "memory with options", input: "rempart {\n store memory {\n size 3\n }\n}", wantErr: "takes no option"},
		{name: "unknown redis option", input: "rempart {\n store redis {\n adress x\n }\n}", wantErr: `unknown redis store option "adress"`},
		{name: "bad db", input: "rempart {\n store redis {\n db -1\n }\n}", wantErr: `db "-1"`},
		{name: "bad timeout", input: "rempart {\n store redis {\n timeout soon\n }\n}", wantErr: `timeout "soon"`},
		{name: "bad budgets_on_error", input: "rempart {\n store redis {\n budgets_on_error maybe\n }\n}", wantErr: `budgets_on_error "maybe"`},
		{name: "password twice", input: "rempart {\n store redis {\n password a b\n }\n}", wantErr: "password: want one value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var app App
			err := app.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := string(app.StoreRaw); !jsonEqual(t, got, tt.want) {
				t.Fatalf("store JSON\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func jsonEqual(t *testing.T, a, b string) bool {
	t.Helper()
	if a == "" || b == "" {
		return a == b
	}
	var x, y any
	if err := json.Unmarshal([]byte(a), &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}

// TestRedisStoreProvisionChecks refuses bad values given in JSON, as the
// Caddyfile parser does.
func TestRedisStoreProvisionChecks(t *testing.T) {
	for _, s := range []RedisStore{
		{BudgetsOnError: "sometimes"},
		{Timeout: caddy.Duration(-time.Second)},
		{KeyPrefix: "a{b}"},
		// A credential or master named by a variable unset where Caddy
		// starts would connect without it: every spend refused, budgets
		// uncounted (open on error by default).
		{Password: "{env.REMPART_TEST_UNSET_PASSWORD}"},
		{Username: "{env.REMPART_TEST_UNSET_USER}", Password: "pw"},
		{MasterName: "{env.REMPART_TEST_UNSET_MASTER}"},
	} {
		ctx, cancel := caddy.NewContext(caddy.Context{Context: t.Context()})
		err := s.Provision(ctx)
		cancel() // as Caddy unloads a config: its context ends, then Cleanup
		if err == nil {
			_ = s.Cleanup()
			t.Errorf("%+v: provisioned", s)
		}
	}
}
