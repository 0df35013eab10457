package redisstore_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/store"
	"github.com/rempart/rempart/store/redisstore"
	"github.com/rempart/rempart/store/redisstore/redistest"
	"github.com/rempart/rempart/store/storetest"
)

// TestMain checks for leaks, except go-redis's redial of a dead server,
// which sleeps a second after a failed dial and then ends by itself.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"))
}

// conformancePort is this package's redis-server (see HELPER ports).
const conformancePort = 6410

func TestConformance(t *testing.T) {
	srv := redistest.Start(t, conformancePort)
	client := srv.Client(t)
	open := func(t *testing.T) store.Backend {
		// Each call is one instance: a client of its own.
		b, err := redisstore.New(redisstore.Config{Client: srv.Client(t), Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	storetest.Run(t, storetest.Harness{
		Open:   open,
		Shared: true,
		// Redis restarted without its data, or flushed: every key of the
		// site is gone, its marker with them.
		Lose: func(t *testing.T, _ *store.Site, name string, _ time.Time) {
			ctx := context.Background()
			keys, err := client.Keys(ctx, redisstore.DefaultPrefix+"{"+name+"}:*").Result()
			if err != nil || len(keys) == 0 {
				t.Fatalf("site keys: %v, %v", keys, err)
			}
			if err := client.Del(ctx, keys...).Err(); err != nil {
				t.Fatal(err)
			}
		},
		Unreachable: func(t *testing.T) store.Backend { return unreachable(t) },
		Settle:      redisstore.LossSkew,
	})
}

// unreachable returns a Backend whose Redis never answers.
func unreachable(t *testing.T) *redisstore.Backend {
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6419", DialTimeout: 100 * time.Millisecond, MaxRetries: -1,
		DialerRetries: 1, MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}})
	t.Cleanup(func() { _ = dead.Close() })
	b, err := redisstore.New(redisstore.Config{Client: dead, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCheckEviction(t *testing.T) {
	srv := redistest.Start(t, conformancePort+1, "--maxmemory", "100mb", "--maxmemory-policy", "allkeys-lru")
	client := srv.Client(t)
	b, err := redisstore.New(redisstore.Config{Client: client})
	if err != nil {
		t.Fatal(err)
	}
	warning, err := b.CheckEviction(context.Background())
	if err != nil || !strings.Contains(warning, "allkeys-lru") || !strings.Contains(warning, "noeviction") {
		t.Fatalf("allkeys-lru: %q, %v; want a warning naming the policy and the fix", warning, err)
	}
	if err := client.ConfigSet(context.Background(), "maxmemory-policy", "noeviction").Err(); err != nil {
		t.Fatal(err)
	}
	if warning, err := b.CheckEviction(context.Background()); err != nil || warning != "" {
		t.Fatalf("noeviction: %q, %v; want no warning", warning, err)
	}
}

func TestPrefixWithBracesRefused(t *testing.T) {
	client := redis.NewClient(&redis.Options{MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}})
	defer client.Close()
	if _, err := redisstore.New(redisstore.Config{Client: client, Prefix: "a{b}"}); err == nil {
		t.Fatal("a prefix with braces was accepted")
	}
}

// TestHeldWhileAwayReachesEveryInstance holds a submission on one instance
// while Redis is stopped, and releases it once, on another, after Redis is
// back: the first instance moves it to Redis, and meanwhile the other
// answers "unavailable" (retry), never "gone".
func TestHeldWhileAwayReachesEveryInstance(t *testing.T) {
	srv := redistest.Start(t, conformancePort+2)
	open := func() *store.Site {
		b, err := redisstore.New(redisstore.Config{Client: srv.Client(t), Timeout: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		site, err := b.OpenSite(context.Background(), "away", storetest.Config)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = site.Close() })
		return site
	}
	a, b := open(), open()
	bind := challenge.NewBinding(netip.MustParseAddr("198.51.100.7"), 24, 48, "ua", "petition.example")
	srv.Stop()
	id, err := a.Stash.Put(context.Background(), challenge.Submission{Method: "POST", Path: "/sign", Body: []byte("kept"), Expires: time.Now().Add(time.Minute)}, bind, "asn:64496")
	if err != nil {
		t.Fatalf("Put with Redis away: %v", err)
	}
	if _, ok, err := b.Stash.Take(context.Background(), id, bind, time.Now()); ok || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("another instance with Redis away: %v, %v; want unavailable", ok, err)
	}
	srv.Restart()
	released, unavailable := 0, 0
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && released == 0 {
		_, ok, err := b.Stash.Take(context.Background(), id, bind, time.Now())
		switch {
		case ok:
			released++
		case errors.Is(err, store.ErrUnavailable):
			unavailable++
			time.Sleep(50 * time.Millisecond)
		default:
			t.Fatalf("Take on another instance after Redis came back: %v, %v; want the submission or unavailable", ok, err)
		}
	}
	for _, s := range []*store.Site{a, b} {
		if _, ok, _ := s.Stash.Take(context.Background(), id, bind, time.Now()); ok {
			released++
		}
	}
	t.Logf("held in memory while Redis was away: released %d time(s) on another instance after %d unavailable answers, expected 1", released, unavailable)
	if released != 1 {
		t.Fatal("want exactly one release")
	}
}

// A backend kept across config reloads logs its outages through the logger
// it was last given, the running config's, not the one it was made with.
func TestSetLoggerRoutesOutageLines(t *testing.T) {
	b := unreachable(t)
	first, firstLogs := observer.New(zap.InfoLevel)
	running, runningLogs := observer.New(zap.InfoLevel)
	b.SetLogger(zap.New(first))
	b.SetLogger(zap.New(running))
	site, err := b.OpenSite(t.Context(), "set-logger", storetest.Config)
	if err != nil {
		t.Fatal(err)
	}
	defer site.Close()
	got := runningLogs.FilterMessageSnippet("unreachable").Len()
	t.Logf("Redis away at start-up: %d lines to the running config's logger, %d to the first", got, firstLogs.Len())
	if got == 0 || firstLogs.Len() != 0 {
		t.Errorf("%d lines to the running config's logger, %d to the first; want some and none", got, firstLogs.Len())
	}
}
