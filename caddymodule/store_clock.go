package caddymodule

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/rempart/rempart/store/redisstore"
)

// clockCheckInterval is how often an instance compares its clock with
// Redis's: clocks drift slowly, but NTP can stop at any time.
const clockCheckInterval = 10 * time.Minute

// watchClock compares this instance's clock with Redis's now and every
// clockCheckInterval until ctx is done, and logs when they come to differ
// by more than the shield allows (see redisstore.ClockWarning) and when
// they agree again: a skewed instance weakens single use without any
// request failing.
func (s *RedisStore) watchClock(ctx context.Context, now func() time.Time) {
	done := make(chan struct{})
	s.clockDone = done
	go func() {
		defer close(done)
		skewed := s.checkClock(ctx, now, false)
		tick := time.NewTicker(clockCheckInterval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				skewed = s.checkClock(ctx, now, skewed)
			}
		}
	}()
}

// checkClock measures the clocks once, logs a change from skewed, and
// returns whether they differ too much now. A Redis that cannot be read
// changes nothing: its outage is logged by the store.
func (s *RedisStore) checkClock(ctx context.Context, now func() time.Time, skewed bool) bool {
	offset, uncertainty, err := s.backend.ClockOffset(ctx, now)
	if err != nil {
		return skewed
	}
	warning := redisstore.ClockWarning(offset, uncertainty)
	switch {
	case warning != "":
		if !skewed {
			s.logger.Warn(warning, zap.Duration("redis_minus_local", offset), zap.Duration("uncertainty", uncertainty))
		}
		return true
	case skewed:
		s.logger.Info("this instance's clock agrees with Redis's again", zap.Duration("redis_minus_local", offset))
	}
	return false
}

func (s *RedisStore) stopWatchingClock() {
	if s.clockDone != nil {
		<-s.clockDone
	}
}
