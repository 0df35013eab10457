package budget

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	libredis "github.com/redis/go-redis/v9"
	"github.com/ulule/limiter/v3"
	redisstore "github.com/ulule/limiter/v3/drivers/store/redis"
)

// redisForTest returns a client for the Redis at $REMPART_TEST_REDIS
// (default 127.0.0.1:6379), closed when the test ends. With no Redis there,
// the test is skipped, unless the address was given or CI is set: then a
// missing Redis is a failure, not a reason to test less.
func redisForTest(t *testing.T) *libredis.Client {
	t.Helper()
	addr, explicit := os.LookupEnv("REMPART_TEST_REDIS")
	if !explicit || addr == "" {
		addr = "127.0.0.1:6379"
	}
	client := libredis.NewClient(&libredis.Options{
		Addr:          addr,
		DialTimeout:   2 * time.Second,
		MaxRetries:    -1,
		DialerRetries: 1, // a missing Redis should cost a skip, not half a second
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		switch {
		case os.Getenv("CI") != "":
			t.Fatalf("Redis at %s unreachable with CI set: %v", addr, err)
		case explicit:
			t.Fatalf("Redis at %s (REMPART_TEST_REDIS) unreachable: %v", addr, err)
		default:
			t.Skipf("skipping: no Redis answers at %s; set REMPART_TEST_REDIS=host:port to run against one: %v", addr, err)
		}
	}
	t.Cleanup(func() {
		if err := client.Close(); err != nil {
			t.Errorf("closing Redis client: %v", err)
		}
	})
	return client
}

// TestRedisStoreMatchesLRUStore runs the same sequence through limiter's
// Redis store and the LRU store: the distributed mode and the single-node
// mode must count alike.
func TestRedisStoreMatchesLRUStore(t *testing.T) {
	client := redisForTest(t)
	prefix := fmt.Sprintf("rempart-budget-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	redis, err := redisstore.NewStoreWithOptions(client, limiter.StoreOptions{Prefix: prefix})
	if err != nil {
		t.Fatalf("limiter Redis store: %v", err)
	}
	t.Cleanup(func() {
		keys := make([]string, 0, len(sequenceSteps))
		for _, step := range sequenceSteps {
			keys = append(keys, prefix+":"+step.key)
		}
		if err := client.Del(context.Background(), keys...).Err(); err != nil {
			t.Errorf("deleting test keys: %v", err)
		}
	})
	lru, err := NewLRUStore(100)
	if err != nil {
		t.Fatal(err)
	}
	runSequence(t, map[string]limiter.Store{"lru": lru, "redis": redis})
}
