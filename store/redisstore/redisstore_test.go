package redisstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"go.uber.org/goleak"

	"github.com/rempart/rempart/store"
	"github.com/rempart/rempart/store/redisstore"
	"github.com/rempart/rempart/store/redisstore/redistest"
	"github.com/rempart/rempart/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

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
		Unreachable: func(t *testing.T) store.Backend {
			dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6419", DialTimeout: 100 * time.Millisecond, MaxRetries: -1,
				DialerRetries: 1, MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}})
			t.Cleanup(func() { _ = dead.Close() })
			b, err := redisstore.New(redisstore.Config{Client: dead, Timeout: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
	})
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
	if _, err := redisstore.New(redisstore.Config{Client: redis.NewClient(&redis.Options{}), Prefix: "a{b}"}); err == nil {
		t.Fatal("a prefix with braces was accepted")
	}
}
