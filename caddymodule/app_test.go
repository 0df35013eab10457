package caddymodule

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rempart/rempart/asn"
	"github.com/rempart/rempart/asn/asntest"
)

// testNetworks are a few real announcements, as public ASN databases
// give them, plus documentation ranges for the odd cases.
var testNetworks = []asntest.Network{
	{Prefix: netip.MustParsePrefix("8.8.8.0/24"), ASN: 15169, Org: "Google LLC"},
	{Prefix: netip.MustParsePrefix("1.1.1.0/24"), ASN: 13335, Org: "Cloudflare, Inc."},
	{Prefix: netip.MustParsePrefix("52.94.0.0/16"), ASN: 16509, Org: "Amazon.com, Inc."},
	{Prefix: netip.MustParsePrefix("2600:1f00::/24"), ASN: 16509, Org: "Amazon.com, Inc."},
	{Prefix: netip.MustParsePrefix("198.51.100.0/24"), ASN: 64501, Org: ""},
}

// writeTestDB writes testNetworks as a GeoLite2-ASN database and returns
// its path.
func writeTestDB(tb testing.TB) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "asn.mmdb")
	asntest.WriteMMDB(tb, path, testNetworks)
	return path
}

func writeFile(tb testing.TB, name, content string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// provision provisions app on its own, as the unit tests of the app need;
// the caller cleans it up.
func provision(tb testing.TB, app *App) error {
	tb.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	tb.Cleanup(cancel)
	return app.Provision(ctx)
}

// provisionConfig provisions a config holding only the given rempart app,
// as Caddy does, and returns its context, in which modules find the app;
// the app is cleaned up with the test.
func provisionConfig(tb testing.TB, app App) (caddy.Context, *App) {
	tb.Helper()
	ctx, err := caddy.ProvisionContext(&caddy.Config{
		AppsRaw: caddy.ModuleMap{"rempart": caddyconfig.JSON(app, nil)},
	})
	if err != nil {
		tb.Fatal(err)
	}
	a, err := loadApp(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = a.Cleanup() })
	return ctx, a
}

// requestFrom returns a request whose client IP Caddy resolved to ip.
func requestFrom(ip string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer())
	ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, make(map[string]any))
	r = r.WithContext(ctx)
	caddyhttp.SetVar(r.Context(), caddyhttp.ClientIPVarKey, ip)
	return r
}

func TestIdentify(t *testing.T) {
	t.Setenv("REMPART_TEST_ASN_DB", writeTestDB(t))
	_, app := provisionConfig(t, App{
		ASNDB: "{env.REMPART_TEST_ASN_DB}",
		Classes: map[string]ClassConfig{
			"zeta":  {ASNs: []uint32{16509}},
			"alpha": {ASNs: []uint32{15169}},
		},
	})
	tests := []struct {
		ip   string
		want Identity
	}{
		// Classes defined by the admin come before the built-in one, in
		// the order of their names.
		{"8.8.8.8", Identity{ASN: 15169, Org: "Google LLC", Class: "alpha", Known: true}},
		{"52.94.1.1", Identity{ASN: 16509, Org: "Amazon.com, Inc.", Class: "zeta", Known: true}},
		{"2600:1f00::1", Identity{ASN: 16509, Org: "Amazon.com, Inc.", Class: "zeta", Known: true}},
		{"::ffff:52.94.1.1", Identity{ASN: 16509, Org: "Amazon.com, Inc.", Class: "zeta", Known: true}},
		{"1.1.1.1", Identity{ASN: 13335, Org: "Cloudflare, Inc.", Known: true}},
		{"198.51.100.7", Identity{ASN: 64501, Known: true}},
		{"192.0.2.1", Identity{}},
		// A 6to4 or Teredo address is the client at the IPv4 address it
		// carries; one carrying a private address stays IPv6.
		{"2002:345e:101::1", Identity{IP: netip.MustParseAddr("52.94.1.1"), Tunneled: netip.MustParseAddr("2002:345e:101::1"), ASN: 16509, Org: "Amazon.com, Inc.", Class: "zeta", Known: true}},
		{"2002:345e:101:beef::1", Identity{IP: netip.MustParseAddr("52.94.1.1"), Tunneled: netip.MustParseAddr("2002:345e:101:beef::1"), ASN: 16509, Org: "Amazon.com, Inc.", Class: "zeta", Known: true}},
		{"2001:0:4136:e378:8000:63bf:cba1:fefe", Identity{IP: netip.MustParseAddr("52.94.1.1"), Tunneled: netip.MustParseAddr("2001:0:4136:e378:8000:63bf:cba1:fefe"), ASN: 16509, Org: "Amazon.com, Inc.", Class: "zeta", Known: true}},
		{"2002:a00:1::1", Identity{}},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			ip := netip.MustParseAddr(tt.ip)
			if !tt.want.IP.IsValid() {
				tt.want.IP = ip
			}
			if got := app.Identify(ip); got != tt.want {
				t.Errorf("Identify(%s) = %+v, want %+v", ip, got, tt.want)
			}
		})
	}
	if !app.classes.contains(HostingClass, 16509) {
		t.Error("AS16509 reported in zeta is no longer in the built-in hosting class")
	}
}

// A class of the server's that names networks of the built-in hosting
// class takes them out of it for policy rules and budgets (a network is
// reported in its first class): the overlap is said at start-up.
func TestClassOverlapsAreSaid(t *testing.T) {
	c, err := newNetworkClasses(map[string]ClassConfig{
		"amazon": {ASNs: []uint32{16509, 14618}},
		"vpn":    {ASNs: []uint32{64502, 16509}},
		"zz":     {ASNs: []uint32{64501}},
	}, true)
	if err != nil {
		t.Fatal(err)
	}
	got := c.overlaps()
	want := []string{
		`networks of class "hosting" reported in class "amazon", checked first: 2 (policy rules and budgets for class "hosting" do not see them)`,
		`networks of class "vpn" reported in class "amazon", checked first: 1 (policy rules and budgets for class "vpn" do not see them)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("overlaps:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if c.of(16509) != "amazon" || !c.contains(HostingClass, 16509) {
		t.Errorf("AS16509 reported in %q, in hosting for matchers %v", c.of(16509), c.contains(HostingClass, 16509))
	}
}

func TestClasses(t *testing.T) {
	db := writeTestDB(t)
	cdnList := writeFile(t, "cdn.txt", "# CDNs\nAS13335  # Cloudflare\n")
	tests := []struct {
		name    string
		app     App
		want    map[string]string // client IP -> class
		wantErr string
	}{
		{
			name: "built-in hosting only",
			app:  App{},
			want: map[string]string{"52.94.1.1": HostingClass, "8.8.8.8": HostingClass, "1.1.1.1": ""},
		},
		{
			name: "no built-in hosting",
			app:  App{NoBuiltinHosting: true},
			want: map[string]string{"52.94.1.1": "", "8.8.8.8": ""},
		},
		{
			name: "class file",
			app:  App{Classes: map[string]ClassConfig{"cdn": {Files: []string{cdnList}}}},
			want: map[string]string{"1.1.1.1": "cdn", "52.94.1.1": HostingClass},
		},
		{
			name: "admin hosting extends the built-in one",
			app:  App{Classes: map[string]ClassConfig{HostingClass: {ASNs: []uint32{64501}}}},
			want: map[string]string{"198.51.100.1": HostingClass, "52.94.1.1": HostingClass},
		},
		{name: "empty class", app: App{Classes: map[string]ClassConfig{"vpn": {}}}, wantErr: `class "vpn": no AS numbers and no files`},
		{name: "AS0", app: App{Classes: map[string]ClassConfig{"vpn": {ASNs: []uint32{0}}}}, wantErr: `class "vpn": AS0 is reserved`},
		{name: "bad name", app: App{Classes: map[string]ClassConfig{"My VPN": {ASNs: []uint32{9009}}}}, wantErr: `class name "My VPN"`},
		{
			name:    "missing file",
			app:     App{Classes: map[string]ClassConfig{"vpn": {Files: []string{"/nonexistent/vpn.txt"}}}},
			wantErr: `class "vpn": open /nonexistent/vpn.txt: no such file`,
		},
		{
			name:    "bad file",
			app:     App{Classes: map[string]ClassConfig{"vpn": {Files: []string{writeFile(t, "vpn.txt", "AS9009\nM247\n")}}}},
			wantErr: `vpn.txt:2: bad AS number "M247"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := tt.app
			app.ASNDB = db
			err := provision(t, &app)
			t.Cleanup(func() { _ = app.Cleanup() })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Provision() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for ip, want := range tt.want {
				if got := app.Identify(netip.MustParseAddr(ip)).Class; got != want {
					t.Errorf("class of %s = %q, want %q", ip, got, want)
				}
			}
		})
	}
}

func TestProvisionErrors(t *testing.T) {
	dir := t.TempDir()
	good := writeTestDB(t)
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.mmdb")
	if err := os.WriteFile(truncated, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.mmdb")
	tests := []struct {
		name string
		app  App
		want string
	}{
		{"missing database", App{ASNDB: missing}, "asn_db: stat " + missing + ": no such file or directory"},
		{"corrupt database", App{ASNDB: truncated}, "asn_db: " + truncated + ": binary data without a MaxMind DB metadata marker"},
		{"unset variable", App{ASNDB: "{env.REMPART_TEST_UNSET}"}, `asn_db "{env.REMPART_TEST_UNSET}" is empty once placeholders are replaced`},
		{"negative reload", App{ASNDB: good, ASNDBReload: -1}, "asn_db_reload -1ns: want a positive duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := tt.app
			err := provision(t, &app)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Provision() error = %v, want one containing %q", err, tt.want)
			}
			if _, ok := asnDatabases.References(databaseKey(app.ASNDB, asn.DefaultWatchInterval)); ok {
				t.Error("a failed database stays in the pool")
			}
		})
	}
}

func TestNoDatabase(t *testing.T) {
	app := &App{}
	if err := provision(t, app); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.InfoLevel)
	app.logger = zap.New(core)
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	if got := logs.FilterMessageSnippet("clients are grouped by network prefix").Len(); got != 1 {
		t.Errorf("start-up logged the missing database %d times, want once: %v", got, logs.All())
	}
	ip := netip.MustParseAddr("52.94.1.1")
	if got := app.Identify(ip); got != (Identity{IP: ip}) {
		t.Errorf("Identify without a database = %+v, want only the IP", got)
	}
	if err := app.Stop(); err != nil {
		t.Error(err)
	}
	if err := app.Cleanup(); err != nil {
		t.Error(err)
	}
}

// TestDatabaseSurvivesReload checks that a config reload reuses the
// loaded database and its watcher, and that the last config to let go
// of it stops the watcher.
func TestDatabaseSurvivesReload(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	path := writeTestDB(t)

	first := &App{ASNDB: path}
	if err := provision(t, first); err != nil {
		t.Fatal(err)
	}
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	// A reload provisions the new config before stopping the old one.
	second := &App{ASNDB: path}
	if err := provision(t, second); err != nil {
		t.Fatal(err)
	}
	if second.db != first.db {
		t.Fatal("the reload read the database again")
	}
	// Another interval is another watcher, so the file is read again.
	other := &App{ASNDB: path, ASNDBReload: caddy.Duration(2 * time.Minute)}
	if err := provision(t, other); err != nil {
		t.Fatal(err)
	}
	if other.db == first.db {
		t.Error("apps with different reload intervals share a watcher")
	}
	if err := other.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := first.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if refs, ok := asnDatabases.References(second.dbKey); !ok || refs != 1 {
		t.Fatalf("after the old config's cleanup: %d references (in pool: %v), want 1", refs, ok)
	}
	if got := second.Identify(netip.MustParseAddr("52.94.1.1")); got.ASN != 16509 {
		t.Fatalf("after the reload: AS%d, want AS16509", got.ASN)
	}
	if err := second.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := second.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if _, ok := asnDatabases.References(second.dbKey); ok {
		t.Error("the database stays in the pool after the last config let go of it")
	}
}

// logEvents returns a logger that records entries and signals each one,
// so that a test can wait for the watcher to report without sleeping.
func logEvents() (*zap.Logger, *observer.ObservedLogs, <-chan zapcore.Entry) {
	core, logs := observer.New(zap.InfoLevel)
	ch := make(chan zapcore.Entry, 16)
	return zap.New(core, zap.Hooks(func(e zapcore.Entry) error {
		ch <- e
		return nil
	})), logs, ch
}

func TestDatabaseWatch(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	path := filepath.Join(dir, "asn.mmdb")
	asntest.WriteMMDB(t, path, testNetworks)
	// replace writes beside the file and renames into place, as an update
	// script does.
	replace := func(write func(tmp string)) {
		tmp := filepath.Join(dir, "asn.mmdb.tmp")
		write(tmp)
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}

	app := &App{ASNDB: path, ASNDBReload: caddy.Duration(time.Millisecond)}
	if err := provision(t, app); err != nil {
		t.Fatal(err)
	}
	defer app.Cleanup()
	logger, logs, events := logEvents()
	app.logger = logger
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	amazon := netip.MustParseAddr("52.94.1.1")

	// A broken download keeps the last good table, and says why.
	replace(func(tmp string) {
		if err := os.WriteFile(tmp, []byte("<html>rate limited</html>\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	if e := <-events; e.Level != zap.WarnLevel || !strings.Contains(e.Message, "keeping the last good one") {
		t.Fatalf("after a broken file: logged %s %q, want a warning", e.Level, e.Message)
	}
	warning := logs.All()[0].ContextMap()
	if warning["file"] != path || !strings.Contains(fmt.Sprint(warning["error"]), "unknown format") {
		t.Errorf("warning fields %v: want the file and the reason", warning)
	}
	if got := app.Identify(amazon); got.ASN != 16509 {
		t.Errorf("after a broken file: AS%d, want the last good AS16509", got.ASN)
	}

	// A good new version replaces the table.
	replace(func(tmp string) {
		asntest.WriteMMDB(t, tmp, []asntest.Network{{Prefix: netip.MustParsePrefix("52.94.0.0/16"), ASN: 64500, Org: "Renumbered"}})
	})
	if e := <-events; e.Level != zap.InfoLevel || e.Message != "ASN database reloaded" {
		t.Fatalf("after a good file: logged %s %q, want the reload", e.Level, e.Message)
	}
	if got := app.Identify(amazon); got.ASN != 64500 || got.Org != "Renumbered" {
		t.Errorf("after a good file: %+v, want AS64500 Renumbered", got)
	}
}

func TestIdentifyRequest(t *testing.T) {
	_, app := provisionConfig(t, App{ASNDB: writeTestDB(t)})
	tests := []struct {
		ip           string
		want         Identity
		placeholders [3]string // asn, asn_org, asn_class
	}{
		{"52.94.1.1", Identity{ASN: 16509, Org: "Amazon.com, Inc.", Class: HostingClass, Known: true}, [3]string{"16509", "Amazon.com, Inc.", HostingClass}},
		{"1.1.1.1", Identity{ASN: 13335, Org: "Cloudflare, Inc.", Known: true}, [3]string{"13335", "Cloudflare, Inc.", ""}},
		{"192.0.2.1", Identity{}, [3]string{"", "", ""}},
		{"2002:345e:101::1", Identity{IP: netip.MustParseAddr("52.94.1.1"), Tunneled: netip.MustParseAddr("2002:345e:101::1"), ASN: 16509, Org: "Amazon.com, Inc.", Class: HostingClass, Known: true}, [3]string{"16509", "Amazon.com, Inc.", HostingClass}},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			r := requestFrom(tt.ip)
			if !tt.want.IP.IsValid() {
				tt.want.IP = netip.MustParseAddr(tt.ip)
			}
			id := app.identify(r)
			if id != tt.want {
				t.Errorf("identify = %+v, want %+v", id, tt.want)
			}
			repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
			for i, name := range []string{"http.rempart.asn", "http.rempart.asn_org", "http.rempart.asn_class"} {
				if got, ok := repl.GetString(name); !ok || got != tt.placeholders[i] {
					t.Errorf("{%s} = %q (set: %v), want %q", name, got, ok, tt.placeholders[i])
				}
			}
			// The identity is computed once per request.
			caddyhttp.SetVar(r.Context(), caddyhttp.ClientIPVarKey, "8.8.8.8")
			if again := app.identify(r); again != id {
				t.Errorf("second identify = %+v, want the cached %+v", again, id)
			}
		})
	}
}

// TestIdentifyUnparsableClient checks that a client address Caddy could
// not resolve (a Unix socket's peer) is unknown, not a crash.
func TestIdentifyUnparsableClient(t *testing.T) {
	_, app := provisionConfig(t, App{ASNDB: writeTestDB(t)})
	r := requestFrom("not an address")
	r.RemoteAddr = "@"
	if got := app.identify(r); got != (Identity{}) {
		t.Errorf("identify = %+v, want an unknown client", got)
	}
}

// BenchmarkIdentify looks up client addresses in a database of 500,000
// prefixes, the size of the free ASN databases.
func BenchmarkIdentify(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	seen := make(map[netip.Prefix]bool)
	nets := make([]asntest.Network, 0, 500_000)
	addrs := make([]netip.Addr, 0, 4096)
	for len(nets) < cap(nets) {
		var pfx netip.Prefix
		if len(nets)%5 == 0 {
			var a [16]byte
			a[0], a[1] = 0x2a, byte(rng.Uint32())
			for i := 2; i < 8; i++ {
				a[i] = byte(rng.Uint32())
			}
			pfx = netip.PrefixFrom(netip.AddrFrom16(a), 29+rng.IntN(20)).Masked()
		} else {
			v := rng.Uint32()
			pfx = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), 12+rng.IntN(13)).Masked()
		}
		if seen[pfx] {
			continue
		}
		seen[pfx] = true
		n := 1 + rng.Uint32N(80_000)
		nets = append(nets, asntest.Network{Prefix: pfx, ASN: n, Org: fmt.Sprintf("Org %d", n)})
		if len(addrs) < cap(addrs) {
			addrs = append(addrs, pfx.Addr().Next())
		}
	}
	path := filepath.Join(b.TempDir(), "asn.csv")
	asntest.WriteCSV(b, path, nets)
	app := &App{ASNDB: path, Classes: map[string]ClassConfig{"vpn": {ASNs: []uint32{9009, 20473}}}}
	if err := provision(b, app); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = app.Cleanup() })
	if n := app.db.Table().Len(); n != len(nets) {
		b.Fatalf("table holds %d prefixes, want %d", n, len(nets))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if !app.Identify(addrs[i%len(addrs)]).Known {
			b.Fatal("address not found")
		}
		i++
	}
}
