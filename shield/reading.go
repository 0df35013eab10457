package shield

import (
	"container/list"
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
//
// Waiting reads are let in one by one, in the order they came, by the read
// that ends and makes room: none is woken to find no room, so that a flood
// of parked reads costs nothing while others come and go, and a large body
// is not passed over by smaller ones forever.
type Reading struct {
	maxBytes int64
	perOwner int

	mu     sync.Mutex
	reads  int
	bytes  int64
	owners map[string]*readingOwner
	// queue holds the waiting reads within their network's share, which
	// wait for bytes; only its front may enter.
	queue list.List // of *readWaiter
}

// readingOwner is one network's reads: let in, queued for bytes, and
// waiting beyond its share, in the order they came.
type readingOwner struct {
	name    string
	reads   int
	queued  int
	waiting list.List // of *readWaiter
}

type readWaiter struct {
	owner *readingOwner
	size  int64
	// entered is closed once the read is let in; in is the list that holds
	// it until then (the network's, or the queue), nil after.
	entered chan struct{}
	in      *list.List
	elem    *list.Element
}

// NewReading returns the bounds of a stash sized by cfg.
func NewReading(cfg challenge.StashConfig) *Reading {
	return &Reading{
		maxBytes: int64(max(cfg.MaxBytes, minReadCharge)),
		perOwner: max(cfg.OwnerShare(), 1),
		owners:   map[string]*readingOwner{},
	}
}

// Enter waits until a body of size bytes from owner fits within the
// bounds, or until ctx ends, and returns the function that ends the read.
func (g *Reading) Enter(ctx context.Context, owner string, size int64) (leave func(), err error) {
	size = min(max(size, minReadCharge), g.maxBytes)
	g.mu.Lock()
	o := g.owners[owner]
	if o == nil {
		o = &readingOwner{name: owner}
		g.owners[owner] = o
	}
	w := &readWaiter{owner: o, size: size}
	switch {
	case o.reads+o.queued >= g.perOwner || o.waiting.Len() > 0:
		w.in = &o.waiting
	case g.queue.Len() == 0 && g.bytes+size <= g.maxBytes:
		g.let(w)
		g.mu.Unlock()
		return g.leaver(w), nil
	default:
		w.in = &g.queue
		o.queued++
	}
	w.entered = make(chan struct{})
	w.elem = w.in.PushBack(w)
	g.mu.Unlock()

	select {
	case <-w.entered:
		return g.leaver(w), nil
	case <-ctx.Done():
	}
	g.mu.Lock()
	if w.in == nil {
		// Let in as ctx ended: the room goes to the next.
		g.mu.Unlock()
		g.leave(w)
		return nil, context.Cause(ctx)
	}
	w.in.Remove(w.elem)
	if w.in == &g.queue {
		o.queued--
		g.promote(o)
		g.letQueued() // the front may have been what held the others
	}
	g.forget(o)
	g.mu.Unlock()
	return nil, context.Cause(ctx)
}

// let counts w in. g.mu is held.
func (g *Reading) let(w *readWaiter) {
	w.owner.reads++
	g.reads++
	g.bytes += w.size
	w.in, w.elem = nil, nil
}

func (g *Reading) leaver(w *readWaiter) func() {
	var once sync.Once
	return func() { once.Do(func() { g.leave(w) }) }
}

func (g *Reading) leave(w *readWaiter) {
	g.mu.Lock()
	defer g.mu.Unlock()
	o := w.owner
	o.reads--
	g.reads--
	g.bytes -= w.size
	g.promote(o)
	g.letQueued()
	g.forget(o)
}

// promote moves o's first read waiting beyond its share to the queue, once
// the share has room. g.mu is held.
func (g *Reading) promote(o *readingOwner) {
	if o.waiting.Len() == 0 || o.reads+o.queued >= g.perOwner {
		return
	}
	w := o.waiting.Remove(o.waiting.Front()).(*readWaiter)
	w.in, w.elem = &g.queue, g.queue.PushBack(w)
	o.queued++
}

// letQueued lets the queue's reads in, first come first, while the front
// one fits. g.mu is held.
func (g *Reading) letQueued() {
	for e := g.queue.Front(); e != nil; e = g.queue.Front() {
		w := e.Value.(*readWaiter)
		if g.bytes+w.size > g.maxBytes {
			return
		}
		g.queue.Remove(e)
		w.owner.queued--
		g.let(w)
		close(w.entered)
	}
}

// forget drops o once it has nothing read or waiting. g.mu is held.
func (g *Reading) forget(o *readingOwner) {
	if o.reads == 0 && o.queued == 0 && o.waiting.Len() == 0 {
		delete(g.owners, o.name)
	}
}

// InUse returns how many bodies are being read and the bytes they count for.
func (g *Reading) InUse() (reads int, bytes int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.reads, g.bytes
}
