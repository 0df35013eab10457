// Package redisstore keeps a shield's state in Redis, so that several
// instances behind a load balancer share one truth: a pass spent on one is
// spent on all, a held submission is released once whichever instance the
// browser comes back to, and budgets count every instance's events.
//
// Every decision costs at most one round trip: each operation is one Lua
// script, atomic on the server; a challenge's budgets and its network's
// flood rate are one script too (Pressure.TakeAllAndObserve). A network
// flooding past an exhausted budget costs about one a second per
// instance: an instance remembers for a second the counters Redis refused
// (see Budgets). All the keys of a site share one hash tag, "{site}", so
// that the scripts run on Redis Cluster too (one site's state then lives
// on one shard).
//
// When Redis is slow or away, operations fail within Timeout with an error
// wrapping store.ErrUnavailable, and the shield never accepts a token it
// could not spend. Held submissions are kept in this instance's memory,
// bounded, and moved to Redis when it answers again. One line is logged
// when Redis stops answering and one when it is back.
//
// Tokens carry their instance's times, while Redis expires keys and dates
// a loss of data on its own clock; the two may differ by up to ClockSkew
// (LossSkew across a loss of Redis's data) without letting a spent token
// be replayed (see Spent).
package redisstore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/rempart/rempart/budget"
	"github.com/rempart/rempart/store"
)

// DefaultPrefix starts every key unless Config says otherwise.
const DefaultPrefix = "rempart:"

// DefaultTimeout bounds each operation unless Config says otherwise: a
// dead Redis must not stall requests.
const DefaultTimeout = 500 * time.Millisecond

// Config sets up a Backend.
type Config struct {
	// Client talks to Redis: a single node, Sentinel or Cluster.
	Client redis.UniversalClient
	// Prefix starts every key (DefaultPrefix).
	Prefix string
	// Timeout bounds each operation (DefaultTimeout).
	Timeout time.Duration
	// Logger receives the outage and recovery lines; nil discards them.
	Logger *zap.Logger
}

// Backend opens sites whose state lives in Redis.
type Backend struct {
	client  redis.UniversalClient
	prefix  string
	timeout time.Duration
	health  *health

	// exhausted holds each site's exhaustedCounters, shared by its
	// Budgets and its Pressure (which counts budgets too).
	mu        sync.Mutex
	exhausted map[string]*exhaustedCounters
}

// New returns a Backend using cfg's client. It does not contact Redis: a
// site starts even when Redis is away.
func New(cfg Config) (*Backend, error) {
	if cfg.Client == nil {
		return nil, errors.New("redis store: no client")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if strings.ContainsAny(cfg.Prefix, "{}") {
		return nil, fmt.Errorf("redis store: key prefix %q must not contain braces (the site's hash tag follows it)", cfg.Prefix)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	b := &Backend{client: cfg.Client, prefix: cfg.Prefix, timeout: cfg.Timeout, health: &health{}}
	b.SetLogger(cfg.Logger)
	return b, nil
}

// siteKeys are the keys of one site: every one starts with its hash tag.
type siteKeys struct{ base string }

func (b *Backend) keys(site string) siteKeys {
	// Braces in a site name would end the hash tag early.
	site = strings.NewReplacer("{", "(", "}", ")").Replace(site)
	return siteKeys{base: b.prefix + "{" + site + "}:"}
}

// exhaustedOf returns the exhausted counters of the site whose keys are k.
func (b *Backend) exhaustedOf(k siteKeys) *exhaustedCounters {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.exhausted[k.base]
	if !ok {
		if b.exhausted == nil {
			b.exhausted = make(map[string]*exhaustedCounters)
		}
		e = newExhaustedCounters()
		b.exhausted[k.base] = e
	}
	return e
}

func (k siteKeys) marker() string { return k.base + "marker" }
func (k siteKeys) floor() string  { return k.base + "floor" }
func (k siteKeys) secret() string { return k.base + "secret" }

// budget is the key of a budget counter.
func (k siteKeys) budget(key string, kind budget.KeyKind) string {
	return k.base + "b:" + strconv.Itoa(int(kind)) + ":" + key
}

// OpenSite returns the Redis-backed state of site. Its epoch is derived
// from the prefix and the site name, so that every instance agrees on it
// without asking Redis; records lost by Redis (a restart without
// persistence, a flush, an eviction of the marker) are detected by the
// marker key and fail closed (see Spent). Redis being away at start-up is
// logged, not fatal.
func (b *Backend) OpenSite(ctx context.Context, name string, cfg store.SiteConfig) (*store.Site, error) {
	k := b.keys(name)
	sum := sha256.Sum256([]byte("rempart redis epoch\x00" + k.base))
	fallback, err := newLocalStash(cfg.Stash)
	if err != nil {
		return nil, err
	}
	stash := &Stash{b: b, keys: k, cfg: cfg.Stash, local: fallback}
	stash.cfg.PerOwner = cfg.Stash.OwnerShare()
	site := &store.Site{
		Epoch:      sum[:16],
		Challenges: &Spent{b: b, keys: k, kind: "c:"},
		Passes:     &Spent{b: b, keys: k, kind: "p:"},
		Stash:      stash,
		Budgets:    &Budgets{b: b, keys: k, exhausted: b.exhaustedOf(k)},
	}
	stop := stash.startFlushing()
	site.Close = func() error { stop(); return nil }
	if err := b.markSite(ctx, k); err != nil {
		b.health.log.Load().Warn("Redis store unreachable at start-up: the site starts, spends fail closed until it answers", zap.String("site", name), zap.Error(err))
	}
	return site, nil
}

// markSite sets the site's marker if it is missing, raising the floor to
// Redis's now plus LossSkew: a site seen for the first time has no record
// to lose, but one whose records Redis lost looks the same.
func (b *Backend) markSite(ctx context.Context, k siteKeys) error {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	err := markScript.Run(ctx, b.client, []string{k.marker(), k.floor()}, LossSkew.Milliseconds()).Err()
	return b.result(ctx, "marking site", err)
}

// CheckEviction returns a warning when Redis may evict the shield's keys
// under memory pressure (any maxmemory-policy but noeviction, with a
// maxmemory set): an evicted spent record could be replayed. It returns ""
// when the policy is safe, and an error when it cannot tell (managed
// services often refuse CONFIG GET).
func (b *Backend) CheckEviction(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	policy, err := b.client.ConfigGet(ctx, "maxmemory-policy").Result()
	if err != nil {
		return "", fmt.Errorf("reading maxmemory-policy: %w", err)
	}
	maxmemory, err := b.client.ConfigGet(ctx, "maxmemory").Result()
	if err != nil {
		return "", fmt.Errorf("reading maxmemory: %w", err)
	}
	p := policy["maxmemory-policy"]
	if p == "noeviction" {
		return "", nil
	}
	limit := maxmemory["maxmemory"]
	if limit == "0" || limit == "" {
		return fmt.Sprintf("maxmemory-policy is %s: harmless while maxmemory is 0 (no limit), but once a limit is set Redis may evict spent records, which could then be replayed; set maxmemory-policy noeviction", p), nil
	}
	return fmt.Sprintf("maxmemory-policy is %s with maxmemory %s: Redis may evict spent records under memory pressure, which could then be replayed; set maxmemory-policy noeviction", p, limit), nil
}

// LoadOrStoreSecret returns the secret every instance shares: the one in
// Redis, or candidate, stored there first when there is none.
func (b *Backend) LoadOrStoreSecret(ctx context.Context, candidate []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	k := b.keys("secret").secret()
	v, err := secretScript.Run(ctx, b.client, []string{k}, candidate).Text()
	if err := b.result(ctx, "loading the shared secret", err); err != nil {
		return nil, err
	}
	return []byte(v), nil
}

// call runs one script within the backend's timeout.
func (b *Backend) call(ctx context.Context, what string, s *redis.Script, keys []string, args ...any) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	tctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	v, err := s.Run(tctx, b.client, keys, args...).Result()
	if errors.Is(err, redis.Nil) {
		return nil, b.result(ctx, what, nil)
	}
	return v, b.result(ctx, what, err)
}

// result records in the backend's health whether Redis answered, and
// wraps err. The caller's own cancellation says nothing of Redis.
func (b *Backend) result(caller context.Context, what string, err error) error {
	if err == nil {
		b.health.up()
		return nil
	}
	if caller.Err() != nil {
		return fmt.Errorf("redis store: %s: %w", what, caller.Err())
	}
	b.health.down(err)
	return fmt.Errorf("redis store: %s: %w: %w", what, store.ErrUnavailable, err)
}

// SetLogger sends the outage and recovery lines to log from now on: a
// backend that outlives the config it was made for (Caddy keeps it across
// reloads) logs through the config running.
// A nil log discards them.
func (b *Backend) SetLogger(log *zap.Logger) {
	if log == nil {
		log = zap.NewNop()
	}
	b.health.log.Store(log)
}

// Healthy reports whether the last operation reached Redis.
func (b *Backend) Healthy() bool { return !b.health.isDown.Load() }

// health logs one line when Redis stops answering and one when it is
// back, however many requests fail in between.
type health struct {
	log    atomic.Pointer[zap.Logger]
	isDown atomic.Bool
	since  atomic.Int64 // unix nanoseconds of the outage's first failure
	failed atomic.Int64 // operations failed during the outage
	upAt   atomic.Int64 // unix nanoseconds of the last recovery
	// quiet marks an outage not logged yet: one that began within
	// flapWindow of a recovery, as when connections a restart broke fail
	// one after the other once Redis answers again.
	quiet atomic.Bool
}

// flapWindow is how long after a recovery a failure is taken for the end
// of the same outage, logged only if it lasts that long again.
const flapWindow = 10 * time.Second

func (h *health) down(err error) {
	h.failed.Add(1)
	now := time.Now().UnixNano()
	if h.isDown.CompareAndSwap(false, true) {
		h.since.Store(now)
		if now-h.upAt.Load() < int64(flapWindow) {
			h.quiet.Store(true)
			return
		}
		h.quiet.Store(false)
		h.announce(err)
		return
	}
	// A quiet outage that lasts is a real one: say so, once.
	if h.quiet.Load() && now-h.since.Load() >= int64(flapWindow) && h.quiet.CompareAndSwap(true, false) {
		h.announce(err)
	}
}

func (h *health) announce(err error) {
	h.log.Load().Error("Redis store unreachable: spends fail closed, held submissions kept in memory until it answers", zap.Error(err))
}

func (h *health) up() {
	if h.isDown.Load() && h.isDown.CompareAndSwap(true, false) {
		h.upAt.Store(time.Now().UnixNano())
		if h.quiet.Swap(false) {
			return // never announced: nothing to end
		}
		h.log.Load().Warn("Redis store reachable again",
			zap.Duration("outage", time.Since(time.Unix(0, h.since.Load()))),
			zap.Int64("failed_operations", h.failed.Swap(0)))
	}
}

// Interface guards
var _ store.Backend = (*Backend)(nil)
