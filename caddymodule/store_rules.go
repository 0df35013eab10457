package caddymodule

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// rulesPollInterval is how soon a temporary rule added on one instance
// applies on the others.
const rulesPollInterval = time.Second

// rulesPublishers are the Redis stores of the configs loaded, the newest
// last: temporary rules added here reach every instance through the newest,
// and none with the memory store. A config that fails to load lets go of
// its store, and the one in force publishes again. Temporary rules are
// process-wide, so is this.
var rulesPublishers struct {
	sync.Mutex
	stores []*RedisStore
}

// rulesPublisher returns the store temporary rules are shared through, or
// nil.
func rulesPublisher() *RedisStore {
	rulesPublishers.Lock()
	defer rulesPublishers.Unlock()
	if n := len(rulesPublishers.stores); n > 0 {
		return rulesPublishers.stores[n-1]
	}
	return nil
}

// sharedRules is what Redis holds of the temporary rules: the whole list,
// and a version that changes with every change.
type sharedRules struct {
	Version string     `json:"version"`
	Rules   []tempRule `json:"rules"`
}

func (s *RedisStore) rulesKey() string {
	prefix := s.KeyPrefix
	if prefix == "" {
		prefix = "rempart:"
	}
	return prefix + "temporary-rules"
}

// startSharingRules makes this store the publisher of temporary rules and
// applies those other instances publish, until ctx is done (the config is
// unloaded).
func (s *RedisStore) startSharingRules(ctx caddy.Context) {
	rulesPublishers.Lock()
	rulesPublishers.stores = append(rulesPublishers.stores, s)
	rulesPublishers.Unlock()
	done := make(chan struct{})
	s.rulesDone = done
	go func() {
		defer close(done)
		tick := time.NewTicker(rulesPollInterval)
		defer tick.Stop()
		for {
			s.pullRules(ctx)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
}

// pullRules applies the rules in Redis when they changed.
func (s *RedisStore) pullRules(ctx context.Context) {
	tctx, cancel := context.WithTimeout(ctx, time.Duration(s.Timeout)+time.Second)
	defer cancel()
	data, err := s.client.Get(tctx, s.rulesKey()).Bytes()
	if errors.Is(err, redis.Nil) || err != nil {
		return // none shared yet; an outage is logged by the store
	}
	var shared sharedRules
	if err := json.Unmarshal(data, &shared); err != nil {
		s.logger.Error("temporary rules in Redis are unreadable", zap.String("key", s.rulesKey()), zap.Error(err))
		return
	}
	if shared.Version == s.rulesVersion.Load() {
		return
	}
	if err := setTemporaryRules(shared.Rules, time.Now()); err != nil {
		s.logger.Error("temporary rules from another instance refused", zap.Error(err))
	}
	s.rulesVersion.Store(shared.Version)
}

// publishRules shares rules, now in force here, with every instance.
func publishRules(rules []tempRule) {
	s := rulesPublisher()
	if s == nil {
		return
	}
	var v [8]byte
	_, _ = rand.Read(v[:])
	shared := sharedRules{Version: hex.EncodeToString(v[:]), Rules: rules}
	data, err := json.Marshal(shared)
	if err != nil {
		s.logger.Error("encoding temporary rules", zap.Error(err))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(s.Timeout)+time.Second)
	defer cancel()
	if err := s.client.Set(ctx, s.rulesKey(), data, 0).Err(); err != nil {
		s.logger.Error("temporary rules in force here but not shared with the other instances: Redis failed", zap.Error(err))
		return
	}
	s.rulesVersion.Store(shared.Version)
}

// stopSharingRules waits for the poller and lets go of the publisher.
func (s *RedisStore) stopSharingRules() {
	rulesPublishers.Lock()
	rulesPublishers.stores = slices.DeleteFunc(rulesPublishers.stores, func(p *RedisStore) bool { return p == s })
	rulesPublishers.Unlock()
	if s.rulesDone != nil {
		<-s.rulesDone
	}
}
