package shield

import (
	"context"
	"sync"

	"github.com/rempart/rempart/challenge"
)

// minReadCharge is what one body being read counts for at the least: its
// buffer and bookkeeping, so that the number of reads is bounded too.
const minReadCharge = 1 << 10

// Reading bounds the submissions a site reads at once to hold them. Each is
// in memory while it arrives, before the stash counts it, for up to the
// body timeout. It has the stash's bounds: the bytes of all the reads
// together, and a number per network, so that one network cannot take the
// room. A read over a bound waits, reading nothing, until another ends: its
// bytes stay in the connection's socket buffer, and its sender is slowed,
// not refused, until its deadline.
type Reading struct {
	maxBytes int64
	perOwner int

	mu     sync.Mutex
	reads  int
	bytes  int64
	owners map[string]int
	freed  chan struct{} // closed, and replaced, whenever a read ends
}

// NewReading returns the bounds of a stash sized by cfg.
func NewReading(cfg challenge.StashConfig) *Reading {
	return &Reading{
		maxBytes: int64(max(cfg.MaxBytes, minReadCharge)),
		perOwner: max(cfg.OwnerShare(), 1),
		owners:   map[string]int{},
		freed:    make(chan struct{}),
	}
}

// Enter waits until a body of size bytes from owner fits within the
// bounds, or until ctx ends, and returns the function that ends the read.
func (g *Reading) Enter(ctx context.Context, owner string, size int64) (leave func(), err error) {
	size = min(max(size, minReadCharge), g.maxBytes)
	for {
		g.mu.Lock()
		if g.owners[owner] < g.perOwner && g.bytes+size <= g.maxBytes {
			g.owners[owner]++
			g.reads++
			g.bytes += size
			g.mu.Unlock()
			var once sync.Once
			return func() { once.Do(func() { g.leave(owner, size) }) }, nil
		}
		freed := g.freed
		g.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
}

func (g *Reading) leave(owner string, size int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.reads--
	g.bytes -= size
	if g.owners[owner]--; g.owners[owner] == 0 {
		delete(g.owners, owner)
	}
	close(g.freed)
	g.freed = make(chan struct{})
}

// InUse returns how many bodies are being read and the bytes they count for.
func (g *Reading) InUse() (reads int, bytes int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.reads, g.bytes
}
