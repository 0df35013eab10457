package redistest

import (
	"context"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// Scripts counts the scripts a client runs on Redis, the store's round
// trips: one each, but for a script's first run on a server, which costs
// two (NOSCRIPT, then EVAL) and is counted once.
type Scripts struct{ n atomic.Int64 }

// CountScripts counts the scripts c runs from now on.
func CountScripts(c *redis.Client) *Scripts {
	s := &Scripts{}
	c.AddHook(s)
	return s
}

// Count returns how many scripts were run.
func (s *Scripts) Count() int64 { return s.n.Load() }

// DialHook implements redis.Hook.
func (s *Scripts) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook implements redis.Hook.
func (s *Scripts) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if name := cmd.Name(); (name == "evalsha" || name == "eval") && !redis.HasErrorPrefix(err, "NOSCRIPT") {
			s.n.Add(1)
		}
		return err
	}
}

// ProcessPipelineHook implements redis.Hook.
func (s *Scripts) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// Interface guards
var _ redis.Hook = (*Scripts)(nil)
