package caddymodule

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rempart/rempart/store/redisstore"
	"github.com/rempart/rempart/store/redisstore/redistest"
)

// clockRedisPort is the redis-server of the clock test.
const clockRedisPort = 6440

// TestClockWatch checks, against a real Redis, that an instance whose
// clock drifts ahead of Redis's is warned of once, however many checks
// find it so, and told when it agrees again.
func TestClockWatch(t *testing.T) {
	srv := redistest.Start(t, clockRedisPort)
	backend, err := redisstore.New(redisstore.Config{Client: srv.Client(t), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.InfoLevel)
	s := &RedisStore{backend: backend, logger: zap.New(core)}
	ctx := context.Background()
	skewed := false
	for i, ahead := range []time.Duration{0, 10 * time.Second, 10 * time.Second, 2 * time.Minute, 0, 0} {
		now := func() time.Time { return time.Now().Add(ahead) }
		skewed = s.checkClock(ctx, now, skewed)
		if want := ahead > redisstore.LossSkew; skewed != want {
			t.Errorf("check %d, %s ahead: skewed %v, want %v", i, ahead, skewed, want)
		}
	}
	var warned, agreed int
	for _, e := range logs.All() {
		switch e.Level {
		case zap.WarnLevel:
			warned++
		case zap.InfoLevel:
			agreed++
		}
	}
	// Three checks found the clock ahead in a row: one warning.
	if warned != 1 || agreed != 1 {
		t.Errorf("logged %d warnings and %d recoveries, want 1 and 1: %v", warned, agreed, logs.All())
	}
}
