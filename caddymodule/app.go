package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/rempart/rempart/asn"
	"github.com/rempart/rempart/shield"
)

func init() {
	caddy.RegisterModule(App{})
}

// App is the `rempart` app: what every site shares about the networks
// clients come from, the IP-to-ASN database and the classes of networks.
// The database outlives config reloads: a reload that names the same file
// reuses the table in memory and the goroutine that watches the file.
//
// A config without the app gets one with its defaults as soon as a
// handler or matcher asks for it: no database, so every client is
// unknown, and the built-in `hosting` class.
type App struct {
	// ASNDB is the path of an IP-to-ASN database: a MaxMind .mmdb
	// (GeoLite2-ASN, DB-IP ASN Lite, IPinfo Lite), an ip-location-db CSV
	// or an iptoasn TSV, gzip-compressed or not. The format is detected
	// from the content. It accepts global placeholders such as
	// {env.REMPART_ASN_DB}. Without it, clients are grouped by network
	// prefix only.
	ASNDB string `json:"asn_db,omitempty"`

	// ASNDBReload is how often the database file is checked for a new
	// version. A new file is read once it has stopped changing for a
	// whole interval; a file that does not load leaves the current table
	// in place. Default: 1m.
	ASNDBReload caddy.Duration `json:"asn_db_reload,omitempty"`

	// Classes names sets of networks, such as "vpn", for matchers and
	// policies; names are lower-case letters, digits, '-' and '_'. A
	// network is reported in the first class that contains it: the
	// classes defined here in the order of their names, then the built-in
	// "hosting" class. Defining a class called "hosting" adds networks to
	// the built-in one.
	Classes map[string]ClassConfig `json:"classes,omitempty"`

	// NoBuiltinHosting turns off the built-in "hosting" class, the
	// autonomous systems of the major cloud and hosting providers.
	NoBuiltinHosting bool `json:"no_builtin_hosting,omitempty"`

	// StoreRaw is the store that keeps every site's shield state, a
	// module of the rempart.stores namespace: "memory" (the default, one
	// instance) or "redis" (several instances sharing one truth).
	StoreRaw json.RawMessage `json:"store,omitempty" caddy:"namespace=rempart.stores inline_key=module"`

	store   Store
	classes *networkClasses
	db      *watchedDatabase
	dbKey   string
	logger  *zap.Logger
}

// ClassConfig lists the autonomous systems in one class of networks.
type ClassConfig struct {
	// ASNs lists autonomous system numbers, such as 9009.
	ASNs []uint32 `json:"asns,omitempty"`

	// Files lists files of autonomous system numbers, one per line,
	// written "AS9009" or "9009" and optionally followed by a "#"
	// comment. They are read at each config load.
	Files []string `json:"files,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "rempart",
		New: func() caddy.Module { return new(App) },
	}
}

// loadApp returns the config's rempart app, creating it with its
// defaults when the config has none. Handlers and matchers call it at
// Provision and keep the app: a config reload provisions them again
// with the new config's app, so no request ever sees another config's.
func loadApp(ctx caddy.Context) (*App, error) {
	app, err := ctx.App("rempart")
	if err != nil {
		return nil, err
	}
	return app.(*App), nil
}

// Provision loads the classes and the database.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	if a.ASNDBReload < 0 {
		return fmt.Errorf("asn_db_reload %s: want a positive duration", time.Duration(a.ASNDBReload))
	}
	if a.ASNDBReload == 0 {
		a.ASNDBReload = caddy.Duration(asn.DefaultWatchInterval)
	}
	if err := a.provisionStore(ctx); err != nil {
		return err
	}
	var err error
	if a.classes, err = newNetworkClasses(a.Classes, !a.NoBuiltinHosting); err != nil {
		return err
	}
	for _, overlap := range a.classes.overlaps() {
		a.logger.Warn("network classes overlap", zap.String("overlap", overlap))
	}
	if a.ASNDB == "" {
		return nil
	}
	path := caddy.NewReplacer().ReplaceKnown(a.ASNDB, "")
	if path == "" {
		return fmt.Errorf("asn_db %q is empty once placeholders are replaced (is the environment variable set?)", a.ASNDB)
	}
	if a.dbKey, a.db, err = loadDatabase(path, time.Duration(a.ASNDBReload), a.logger); err != nil {
		return fmt.Errorf("asn_db: %w", err)
	}
	return nil
}

// Start says plainly when there is no database, once per config load,
// and routes the logs of the database watcher and of the Redis store's
// connection to this config.
func (a *App) Start() error {
	// The Redis connection outlives this config too (see redisConns).
	if rs, ok := a.store.(*RedisStore); ok {
		rs.backend.SetLogger(rs.logger)
	}
	if a.db == nil {
		a.logger.Info("no ASN database configured (asn_db): clients are grouped by network prefix instead of by network")
		return nil
	}
	// The watcher outlives this config: log its reloads through the
	// config now running.
	a.db.logger.Store(a.logger)
	return nil
}

// Stop does nothing: the database is released by Cleanup, which also
// runs when a config fails before it starts.
func (a *App) Stop() error { return nil }

// Cleanup releases the app's hold on the database; the last config to
// let go of a file stops its watcher.
func (a *App) Cleanup() error {
	if a.dbKey == "" {
		return nil
	}
	_, err := asnDatabases.Delete(a.dbKey)
	return err
}

// Identity is who a request comes from, as the shield sees it: the client
// address and the network that announces it.
type Identity = shield.Identity

// Identify looks ip up in the database and classes. A 6to4 or Teredo
// address is the client at the IPv4 address it carries (see
// shield.IdentityOf): its network and its budgets are that address's.
// It does not allocate.
func (a *App) Identify(ip netip.Addr) Identity {
	id := shield.IdentityOf(ip)
	if a.db == nil {
		return id
	}
	info, ok := a.db.Lookup(id.IP)
	if !ok {
		return id
	}
	id.ASN, id.Org, id.Known = info.ASN, info.Org, true
	id.Class = a.classes.of(info.ASN)
	return id
}

// factsVarKey caches a request's requestFacts in its caddyhttp vars, so
// that the handler and every asn matcher on its route identify the client
// once.
const factsVarKey = "rempart.facts"

// Placeholders of the request's replacer, so that log, header and respond
// directives can use them: the asn ones once the rempart handler or an asn
// matcher has seen the request, the others once the handler has decided
// it.
const (
	asnPlaceholder      = "http.rempart.asn"       // AS number, "" when unknown
	asnOrgPlaceholder   = "http.rempart.asn_org"   // organisation name
	asnClassPlaceholder = "http.rempart.asn_class" // first class, "" if none
	actionPlaceholder   = "http.rempart.action"    // what the shield did
	rulePlaceholder     = "http.rempart.rule"      // the deciding rule, if any
	budgetPlaceholder   = "http.rempart.budget"    // the budget gone over, if any
)

// requestFacts is what rempart knows of one request: its client, and what
// the shield did with it (set by the lookout). Its placeholders are read
// only when a log or a header asks for them, so that a request nobody logs
// costs two allocations (the facts and their provider) for all six.
type requestFacts struct {
	id                   Identity
	action, rule, budget string
}

// placeholder is the replacer's provider of the http.rempart.* values.
func (f *requestFacts) placeholder(key string) (any, bool) {
	switch key {
	case asnPlaceholder:
		if !f.id.Known {
			return "", true
		}
		return f.id.ASN, true
	case asnOrgPlaceholder:
		return f.id.Org, true
	case asnClassPlaceholder:
		return f.id.Class, true
	case actionPlaceholder:
		return f.action, f.action != ""
	case rulePlaceholder:
		return f.rule, f.rule != ""
	case budgetPlaceholder:
		return f.budget, f.budget != ""
	}
	return nil, false
}

// facts returns the request's facts, computing the client's Identity (see
// clientIP) on first use, keeping them for the rest of the request and
// providing their placeholders.
func (a *App) facts(r *http.Request) *requestFacts {
	if f, ok := caddyhttp.GetVar(r.Context(), factsVarKey).(*requestFacts); ok {
		return f
	}
	f := &requestFacts{id: a.Identify(clientIP(r))}
	caddyhttp.SetVar(r.Context(), factsVarKey, f)
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Map(f.placeholder)
	}
	return f
}

// identify returns the Identity of the request's client (see facts).
func (a *App) identify(r *http.Request) Identity { return a.facts(r).id }

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
