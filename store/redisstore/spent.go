package redisstore

import (
	"errors"

	"context"
	"fmt"
	"github.com/redis/go-redis/v9"
	"time"

	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/store"
)

// Spent records token uses in Redis: one key per token, counting its uses,
// expiring ClockSkew after the token. Spending is one script, so two instances
// spending the last use of a token at once cannot both succeed.
//
// It fails closed like challenge.Spent: when the site's marker key is
// missing (Redis restarted without its data, was flushed, or evicted the
// marker), the floor rises to that moment and every token issued at or
// before it that Redis does not know is refused; its holder is challenged
// again. That moment is Redis's clock plus LossSkew, since an instance
// whose clock runs ahead issued tokens "in the future": for LossSkew after
// a loss (or a site's first start) every token is refused. Records evicted
// one by one cannot be detected: run Redis with maxmemory-policy
// noeviction (Backend.CheckEviction warns otherwise).
type Spent struct {
	b    *Backend
	keys siteKeys
	kind string // "c:" solved challenges, "p:" passes
}

// ClockSkew is how far an instance's clock may stray from Redis's without
// letting a spent token be replayed: tokens carry their instance's times,
// while Redis expires records on its own clock, so a spent record is kept
// ClockSkew past its token's expiry (an instance behind Redis still takes
// the token for unexpired), and a token expired longer ago on Redis's
// clock is refused. A minute covers a clock that NTP has not set yet or a
// paused VM; keep the instances' clocks and Redis's synchronised.
const ClockSkew = time.Minute

// LossSkew is how far ahead of Redis an instance's clock may run without
// letting a token spent before Redis lost its data be spent again: after
// the loss every token issued up to LossSkew past it is refused. It is
// shorter than ClockSkew because every signer is asked to solve again for
// that long after a loss or a site's first start; a token stamped further
// ahead and spent in the last moments before the loss could be spent once
// more.
const LossSkew = 5 * time.Second

func (s *Spent) key(id [challenge.IDSize]byte) string {
	return s.keys.base + s.kind + string(id[:])
}

// Use spends one of limit uses of id in one round trip.
func (s *Spent) Use(ctx context.Context, id [challenge.IDSize]byte, limit int, issued, expires, now time.Time) (bool, error) {
	if !now.Before(expires) {
		return false, nil
	}
	v, err := s.b.call(ctx, "spending a token", spendScript,
		[]string{s.key(id), s.keys.marker(), s.keys.floor()},
		limit, issued.Unix(), expires.UnixMilli(), ClockSkew.Milliseconds(), LossSkew.Milliseconds())
	if err != nil {
		return false, err
	}
	n, ok := v.(int64)
	if !ok {
		return false, fmt.Errorf("redis store: spending a token: unexpected reply %T", v)
	}
	return n == 1, nil
}

// Exhausted reports whether id has been used limit times already.
func (s *Spent) Exhausted(ctx context.Context, id [challenge.IDSize]byte, limit int) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	tctx, cancel := context.WithTimeout(ctx, s.b.timeout)
	defer cancel()
	n, err := s.b.client.Get(tctx, s.key(id)).Int()
	if isNil(err) {
		return false, s.b.result(ctx, "reading a token's uses", nil)
	}
	if err := s.b.result(ctx, "reading a token's uses", err); err != nil {
		return false, err
	}
	return n >= limit, nil
}

// Interface guards
var _ store.Spent = (*Spent)(nil)

func isNil(err error) bool { return errors.Is(err, redis.Nil) }
