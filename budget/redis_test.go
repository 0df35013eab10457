package budget

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
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

// TestRedisStoreMatchesTables runs the same sequence through limiter's
// Redis store, adapted by FromLimiter, and through Tables: the distributed
// mode and the single-node mode must count alike.
func TestRedisStoreMatchesTables(t *testing.T) {
	client := redisForTest(t)
	prefix := fmt.Sprintf("rempart-budget-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	redis, err := redisstore.NewStoreWithOptions(client, limiter.StoreOptions{Prefix: prefix})
	if err != nil {
		t.Fatalf("limiter Redis store: %v", err)
	}
	t.Cleanup(func() {
		keys := make([]string, 0, len(sequenceCounters))
		for _, c := range sequenceCounters {
			keys = append(keys, prefix+":"+c.Key)
		}
		if err := client.Del(context.Background(), keys...).Err(); err != nil {
			t.Errorf("deleting test keys: %v", err)
		}
	})
	tables, err := NewTables(TablesConfig{})
	if err != nil {
		t.Fatal(err)
	}
	runStoreSequence(t, map[string]Store{"tables": tables, "redis": FromLimiter(redis)})
}

// TestRedisConcurrentLimitHolds takes from several goroutines through one
// Redis: FromLimiter is not atomic across takes, but no counter ever
// accepts more than its limit.
func TestRedisConcurrentLimitHolds(t *testing.T) {
	client := redisForTest(t)
	prefix := fmt.Sprintf("rempart-budget-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	redis, err := redisstore.NewStoreWithOptions(client, limiter.StoreOptions{Prefix: prefix})
	if err != nil {
		t.Fatalf("limiter Redis store: %v", err)
	}
	store := FromLimiter(redis)
	const workers, perWorker, limit = 8, 20, 25
	network := Charge{Key: "asn:conc:64500", Kind: KeyASN, Rate: limiter.Rate{Limit: limit, Period: time.Hour}}
	keys := []string{network.Key}
	var mu sync.Mutex
	accepted := 0
	var wg sync.WaitGroup
	for w := range workers {
		address := Charge{Key: "ip:conc:192.0.2." + strconv.Itoa(w), Kind: KeyIP, Rate: limiter.Rate{Limit: 100, Period: time.Hour}}
		keys = append(keys, address.Key)
		wg.Go(func() {
			for range perWorker {
				res, err := store.TakeAll(context.Background(), []Charge{network, address}, time.Now())
				if err != nil {
					t.Error(err)
					return
				}
				if res.Allowed {
					mu.Lock()
					accepted++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	t.Cleanup(func() {
		for i := range keys {
			keys[i] = prefix + ":" + keys[i]
		}
		if err := client.Del(context.Background(), keys...).Err(); err != nil {
			t.Errorf("deleting test keys: %v", err)
		}
	})
	t.Logf("tried %d, accepted %d, limit %d", workers*perWorker, accepted, limit)
	if accepted > limit || accepted == 0 {
		t.Errorf("accepted %d through a limit of %d", accepted, limit)
	}
}
