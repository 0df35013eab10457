package caddymodule

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"go.uber.org/zap"

	"github.com/rempart/rempart/store"
	"github.com/rempart/rempart/store/redisstore"
)

func init() {
	caddy.RegisterModule(RedisStore{})
}

// RedisStore keeps the shield's state in Redis, so that several Caddy
// instances behind a load balancer share it: a pass spent on one is spent
// on all, a held submission is released once wherever the browser comes
// back, budgets count the events of every instance, temporary rules added
// on one apply on all, and a generated secret is shared. Every decision
// costs one round trip.
//
// When Redis does not answer within Timeout, the site stays up: nothing is
// accepted unchecked (a proof or a pass is challenged again), held
// submissions are kept in memory and moved to Redis when it is back,
// budgets let requests through uncounted unless BudgetsOnError is
// "closed". One line is logged per outage and one on recovery.
type RedisStore struct {
	// Addresses lists the Redis servers as host:port: one for a single
	// node, several for a Cluster, or the Sentinels with MasterName.
	// Default: 127.0.0.1:6379. Placeholders such as {env.REDIS_ADDR} are
	// replaced.
	Addresses []string `json:"addresses,omitempty"`

	// MasterName is the Sentinel master's name: with it, Addresses are
	// Sentinels.
	MasterName string `json:"master_name,omitempty"`

	// Username is the ACL user (Redis 6+), if any.
	Username string `json:"username,omitempty"`

	// Password authenticates to Redis; use a placeholder such as
	// {env.REDIS_PASSWORD} to keep it out of the config. A password,
	// username or master name that its placeholders leave empty is a
	// config error.
	Password string `json:"password,omitempty"`

	// DB is the database number (single node and Sentinel only).
	DB int `json:"db,omitempty"`

	// KeyPrefix starts every key rempart writes; each site's keys follow
	// it in a hash tag of the site's name. Default: "rempart:".
	KeyPrefix string `json:"key_prefix,omitempty"`

	// TLS connects with TLS, checking the server's certificate against
	// the system's roots.
	TLS bool `json:"tls,omitempty"`

	// TLSServerName is the name the server's certificate must carry, when
	// it is not the host of the address.
	TLSServerName string `json:"tls_server_name,omitempty"`

	// Timeout bounds each operation, so that a dead Redis never stalls a
	// request for long. Default: 500ms.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// BudgetsOnError is what budgets do when Redis fails: "open" (the
	// default) lets requests through uncounted, "closed" refuses what
	// budgets count with 503 until Redis answers.
	BudgetsOnError string `json:"budgets_on_error,omitempty"`

	poolKey      string
	rulesVersion atomic.Value // string: the version of the shared rules in force
	rulesDone    chan struct{}
	clockDone    chan struct{}
	backend      *redisstore.Backend
	client       redis.UniversalClient
	logger       *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (RedisStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "rempart.stores.redis",
		New: func() caddy.Module { return new(RedisStore) },
	}
}

// Provision connects (lazily: Redis may be away at start-up) and warns
// when Redis could evict the shield's keys.
func (s *RedisStore) Provision(ctx caddy.Context) error {
	s.logger = ctx.Logger()
	if s.BudgetsOnError == "" {
		s.BudgetsOnError = "open"
	}
	if s.BudgetsOnError != "open" && s.BudgetsOnError != "closed" {
		return fmt.Errorf("budgets_on_error %q: want open or closed", s.BudgetsOnError)
	}
	if s.Timeout < 0 {
		return fmt.Errorf("timeout %s: want a positive duration", time.Duration(s.Timeout))
	}
	timeout := time.Duration(s.Timeout)
	if timeout == 0 {
		timeout = redisstore.DefaultTimeout
	}
	repl := caddy.NewReplacer()
	// A value given but left empty by its placeholders (a variable unset
	// where Caddy starts) is an error: without its password, user or
	// master the store would fail every operation, spends refused and
	// budgets uncounted.
	replace := func(option, v string) (string, error) {
		if r := repl.ReplaceKnown(v, ""); r != "" || v == "" {
			return r, nil
		}
		return "", fmt.Errorf("redis %s %q is empty once placeholders are replaced (is the environment variable set?)", option, v)
	}
	addrs := make([]string, 0, len(s.Addresses))
	for _, a := range s.Addresses {
		addr, err := replace("address", a)
		if err != nil {
			return err
		}
		addrs = append(addrs, addr)
	}
	masterName, err := replace("master_name", s.MasterName)
	if err != nil {
		return err
	}
	username, err := replace("username", s.Username)
	if err != nil {
		return err
	}
	password, err := replace("password", s.Password)
	if err != nil {
		return err
	}
	if len(addrs) == 0 {
		addrs = []string{"127.0.0.1:6379"}
	}
	opts := &redis.UniversalOptions{
		Addrs:      addrs,
		MasterName: masterName,
		Username:   username,
		Password:   password,
		DB:         s.DB,
		// Bounded: a dead Redis costs a request at most one timeout,
		// never a retry loop; the pool reconnects on its own.
		DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout,
		MaxRetries: -1, DialerRetries: 1,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
	if s.TLS {
		opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: repl.ReplaceKnown(s.TLSServerName, "")}
	}
	// The connection, and the sites' state opened through it, are shared
	// by every config with the same settings: the state outlives a reload,
	// so the connection it uses must too. The password is part of the
	// settings, so that a new one reconnects.
	id, _ := json.Marshal([]any{addrs, opts.MasterName, opts.Username, opts.Password, s.DB, s.KeyPrefix, s.TLS, s.TLSServerName, timeout, s.BudgetsOnError})
	sum := sha256.Sum256(id)
	poolKey := "redis." + hex.EncodeToString(sum[:8])
	val, _, err := redisConns.LoadOrNew(poolKey, func() (caddy.Destructor, error) {
		client := redis.NewUniversalClient(opts)
		backend, err := redisstore.New(redisstore.Config{Client: client, Prefix: s.KeyPrefix, Timeout: timeout, Logger: s.logger})
		if err != nil {
			_ = client.Close()
			return nil, err
		}
		return &redisConn{client: client, backend: backend}, nil
	})
	if err != nil {
		return err
	}
	conn := val.(*redisConn)
	s.poolKey, s.client, s.backend = poolKey, conn.client, conn.backend

	s.Timeout = caddy.Duration(timeout)
	s.rulesVersion.Store("")
	s.startSharingRules(ctx)

	cctx, cancel := context.WithTimeout(ctx, 2*timeout)
	defer cancel()
	switch warning, err := s.backend.CheckEviction(cctx); {
	case err != nil:
		s.logger.Warn("could not check Redis's maxmemory-policy: make sure it is noeviction, or spent records may be evicted and replayed", zap.Error(err))
	case warning != "":
		s.logger.Warn(warning)
	}
	s.watchClock(ctx, time.Now)
	return nil
}

// Cleanup stops sharing temporary rules and lets go of the connection,
// closed once no config uses it.
func (s *RedisStore) Cleanup() error {
	if s.client == nil {
		return nil
	}
	s.stopSharingRules()
	s.stopWatchingClock()
	_, err := redisConns.Delete(s.poolKey)
	return err
}

// redisConns holds the Redis connections of the configs running: a reload
// keeps the state of its sites (siteStates), which keeps using the
// connection it was opened through, so that connection must not close with
// the config unloaded.
var redisConns = caddy.NewUsagePool()

// redisConn is one shared connection to Redis.
type redisConn struct {
	client  redis.UniversalClient
	backend *redisstore.Backend
}

// Destruct closes the connection once no config uses it.
func (c *redisConn) Destruct() error { return c.client.Close() }

// Backend returns the Redis backend.
func (s *RedisStore) Backend() store.Backend { return s.backend }

// PoolKey names the state of this Redis and prefix.
func (s *RedisStore) PoolKey() string { return s.poolKey }

// LoadOrStoreSecret shares a generated secret through Redis.
func (s *RedisStore) LoadOrStoreSecret(ctx context.Context, candidate []byte) ([]byte, error) {
	return s.backend.LoadOrStoreSecret(ctx, candidate)
}

// BudgetsFailClosed reports whether budgets refuse when Redis fails.
func (s *RedisStore) BudgetsFailClosed() bool { return s.BudgetsOnError == "closed" }

// UnmarshalCaddyfile sets up the store from the `store redis` option of
// the rempart global options. Syntax:
//
//	store redis [<address>...] {
//	    address          <host:port>...
//	    master_name      <name>
//	    username         <user>
//	    password         <password>
//	    db               <number>
//	    key_prefix       <prefix>
//	    tls
//	    tls_server_name  <name>
//	    timeout          <duration>
//	    budgets_on_error open|closed
//	}
func (s *RedisStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // store
	d.Next() // redis
	s.Addresses = append(s.Addresses, d.RemainingArgs()...)
	for d.NextBlock(0) {
		option := d.Val()
		args := d.RemainingArgs()
		one := func() (string, error) {
			if len(args) != 1 {
				return "", d.Errf("%s: want one value", option)
			}
			return args[0], nil
		}
		var err error
		switch option {
		case "address":
			if len(args) == 0 {
				return d.Errf("address: want at least one host:port")
			}
			s.Addresses = append(s.Addresses, args...)
		case "master_name":
			s.MasterName, err = one()
		case "username":
			s.Username, err = one()
		case "password":
			s.Password, err = one()
		case "db":
			var v string
			if v, err = one(); err == nil {
				if s.DB, err = strconv.Atoi(v); err != nil || s.DB < 0 {
					return d.Errf("db %q: want a database number", v)
				}
			}
		case "key_prefix":
			s.KeyPrefix, err = one()
		case "tls":
			if len(args) != 0 {
				return d.ArgErr()
			}
			s.TLS = true
		case "tls_server_name":
			s.TLSServerName, err = one()
		case "timeout":
			var v string
			if v, err = one(); err == nil {
				dur, perr := caddy.ParseDuration(v)
				if perr != nil || dur <= 0 {
					return d.Errf("timeout %q: want a positive duration such as 500ms", v)
				}
				s.Timeout = caddy.Duration(dur)
			}
		case "budgets_on_error":
			if s.BudgetsOnError, err = one(); err == nil && s.BudgetsOnError != "open" && s.BudgetsOnError != "closed" {
				return d.Errf("budgets_on_error %q: want open or closed", s.BudgetsOnError)
			}
		default:
			return d.Errf("unknown redis store option %q", option)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// UnmarshalCaddyfile reads `store memory`, which takes no option.
func (*MemoryStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // store
	d.Next() // memory
	if d.NextArg() || d.NextBlock(0) {
		return d.Err("the memory store takes no option")
	}
	return nil
}

// Interface guards
var (
	_ Store                 = (*RedisStore)(nil)
	_ caddy.Provisioner     = (*RedisStore)(nil)
	_ caddy.CleanerUpper    = (*RedisStore)(nil)
	_ caddyfile.Unmarshaler = (*RedisStore)(nil)
	_ caddyfile.Unmarshaler = (*MemoryStore)(nil)
	_ secretKeeper          = (*RedisStore)(nil)
	_ budgetsPolicy         = (*RedisStore)(nil)
)
