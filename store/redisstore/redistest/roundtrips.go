package redistest

import (
	"context"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// RoundTrips counts a client's round trips to Redis: one a command or
// pipeline, but for a script's first run on a server, which costs two
// (NOSCRIPT, then EVAL) and is counted once.
type RoundTrips struct{ n atomic.Int64 }

// CountRoundTrips counts the round trips c makes from now on.
func CountRoundTrips(c *redis.Client) *RoundTrips {
	s := &RoundTrips{}
	c.AddHook(s)
	return s
}

// Count returns how many round trips were made.
func (s *RoundTrips) Count() int64 { return s.n.Load() }

// DialHook implements redis.Hook.
func (s *RoundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook implements redis.Hook.
func (s *RoundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if !redis.HasErrorPrefix(err, "NOSCRIPT") {
			s.n.Add(1)
		}
		return err
	}
}

// ProcessPipelineHook implements redis.Hook.
func (s *RoundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		s.n.Add(1)
		return next(ctx, cmds)
	}
}

// Interface guards
var _ redis.Hook = (*RoundTrips)(nil)
