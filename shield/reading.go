package shield

import (
	"container/heap"
	"container/list"
	"context"
	"errors"
	"sync"

	"github.com/rempart/rempart/challenge"
)

// minReadCharge is what one body being read counts for at the least: its
// buffer and bookkeeping, so that the number of reads is bounded too.
const minReadCharge = 1 << 10

// errNoRoom is EnterNow's answer when the bounds leave no room.
var errNoRoom = errors.New("no room for another body being read")

// Reading bounds the submissions a site reads at once to hold them. Each is
// in memory while it arrives, before the stash counts it, for up to the
// body timeout. It has the stash's bounds: the bytes of all the reads
// together, and a number per network, so that one network cannot take the
// room. A read over a bound waits, reading nothing, until another ends: its
// bytes stay in the connection's socket buffer, and its sender is slowed,
// not refused, until its deadline.
//
// Nor can a handful of networks take the room between them. Waiting reads
// enter network reading fewest first, then first come first; and, as the
// stash pushes out the oldest submission of the network holding most, when
// the next to enter does not fit, the network reading most, if it reads
// two more than the next's (so that two networks do not cut each other's
// reads in turn), has its oldest read cut off. A flood only churns through
// its own reads, and a signer waits only when every network reads about
// as many as its own.
//
// Reads are let in one by one by the read that ends and makes room: none
// is woken to find no room, so that parked reads cost nothing while others
// come and go, and a large body is not passed over by smaller ones.
type Reading struct {
	maxBytes int64
	perOwner int

	mu      sync.Mutex
	reads   int
	bytes   int64
	cutting int64 // bytes of the reads cut off that have not ended
	arrived uint64
	owners  map[string]*readingOwner
	// next holds the networks with reads waiting within their share,
	// reading fewest first, then the one whose first waiting read came
	// first.
	next ownerQueue
	// byReads holds the networks by their number of reads not cut off:
	// byReads[n] those with n. top is the highest n with a network, or 0.
	byReads []map[*readingOwner]struct{}
	top     int
}

// readingOwner is one network's reads: being read, oldest first, and
// waiting, in the order they came.
type readingOwner struct {
	name    string
	reads   []*read
	cut     int       // of reads, those cut off
	waiting list.List // of *read
	index   int       // in Reading.next, or -1
}

type read struct {
	owner   *readingOwner
	size    int64
	arrived uint64
	cut     func() // ends the read soon; nil: it cannot be cut
	cutOff  bool
	now     bool // waits only for reads being cut off (EnterNow)
	refused bool // a now read whose room went to another
	// entered is closed once a waiting read is let in; elem is its place
	// in its network's waiting list until then.
	entered chan struct{}
	elem    *list.Element
}

// NewReading returns the bounds of a stash sized by cfg.
func NewReading(cfg challenge.StashConfig) *Reading {
	perOwner := max(cfg.OwnerShare(), 1)
	return &Reading{
		maxBytes: int64(max(cfg.MaxBytes, minReadCharge)),
		perOwner: perOwner,
		owners:   map[string]*readingOwner{},
		byReads:  make([]map[*readingOwner]struct{}, perOwner+1),
	}
}

// Enter waits until a body of size bytes from owner fits within the
// bounds, or until ctx ends, and returns the function that ends the read.
// cut, called at most once, under a lock, while the read has not ended,
// must make it end soon without blocking: a network reading fewer takes
// its room.
func (g *Reading) Enter(ctx context.Context, owner string, size int64, cut func()) (leave func(), err error) {
	return g.enter(ctx, owner, size, cut, true)
}

// EnterNow is Enter for a body that cannot wait for room without being
// held all the same: it waits only when it cut reads off, for them to
// end, and returns errNoRoom when it could not, or when a network reading
// fewer took that room.
func (g *Reading) EnterNow(ctx context.Context, owner string, size int64, cut func()) (leave func(), err error) {
	return g.enter(ctx, owner, size, cut, false)
}

func (g *Reading) enter(ctx context.Context, owner string, size int64, cut func(), wait bool) (leave func(), err error) {
	size = min(max(size, minReadCharge), g.maxBytes)
	g.mu.Lock()
	o := g.owners[owner]
	if o == nil {
		o = &readingOwner{name: owner, index: -1}
		g.owners[owner] = o
	}
	g.arrived++
	r := &read{owner: o, size: size, arrived: g.arrived, cut: cut, now: !wait, entered: make(chan struct{})}
	r.elem = o.waiting.PushBack(r)
	g.queue(o)
	g.letIn()
	switch {
	case r.refused:
		g.mu.Unlock()
		return nil, errNoRoom
	case r.elem == nil:
		g.mu.Unlock()
		return g.leaver(r), nil
	case !wait && !g.coming(r):
		g.drop(r)
		g.mu.Unlock()
		return nil, errNoRoom
	}
	g.mu.Unlock()

	select {
	case <-r.entered:
		if r.refused {
			return nil, errNoRoom
		}
		return g.leaver(r), nil
	case <-ctx.Done():
	}
	g.mu.Lock()
	if r.refused {
		g.mu.Unlock()
		return nil, errNoRoom
	}
	if r.elem == nil {
		// Let in as ctx ended: its room goes to the next.
		g.mu.Unlock()
		g.leave(r)
		return nil, context.Cause(ctx)
	}
	g.drop(r)
	g.mu.Unlock()
	return nil, context.Cause(ctx)
}

// coming reports whether the waiting read r is the next to enter, and
// the reads being cut off make room for it. g.mu is held.
func (g *Reading) coming(r *read) bool {
	return g.next.Len() > 0 && g.next.owners[0] == r.owner && r.owner.waiting.Front() == r.elem &&
		g.bytes-g.cutting+r.size <= g.maxBytes
}

// drop takes the waiting read r out, and lets in those it held back.
// g.mu is held.
func (g *Reading) drop(r *read) {
	o := r.owner
	o.waiting.Remove(r.elem)
	r.elem = nil
	g.queue(o)
	g.letIn()
	g.forget(o)
}

func (g *Reading) leaver(r *read) func() {
	var once sync.Once
	return func() { once.Do(func() { g.leave(r) }) }
}

func (g *Reading) leave(r *read) {
	g.mu.Lock()
	defer g.mu.Unlock()
	o := r.owner
	n := len(o.reads)
	for i, x := range o.reads {
		if x == r {
			o.reads = append(o.reads[:i], o.reads[i+1:]...)
			o.reads[:n][n-1] = nil
			break
		}
	}
	g.reads--
	g.bytes -= r.size
	if r.cutOff {
		o.cut--
		g.cutting -= r.size
	} else {
		g.count(o, n-o.cut, n-1-o.cut)
	}
	g.queue(o)
	g.letIn()
	g.forget(o)
}

// letIn lets waiting reads in, in their order, while the next fits; when
// it does not, it cuts off reads of the network reading most that give
// way to it. g.mu is held.
func (g *Reading) letIn() {
	for g.next.Len() > 0 {
		o := g.next.owners[0]
		r := o.waiting.Front().Value.(*read)
		if g.bytes+r.size > g.maxBytes {
			g.cutFor(len(o.reads), g.bytes-g.cutting+r.size-g.maxBytes)
			if !r.now || g.coming(r) {
				return
			}
			// A read that cannot wait, whose room went to a network
			// reading fewer: refused now, not when its deadline comes.
			o.waiting.Remove(r.elem)
			r.elem, r.refused = nil, true
			g.queue(o)
			g.forget(o)
			close(r.entered)
			continue
		}
		o.waiting.Remove(r.elem)
		r.elem = nil
		o.reads = append(o.reads, r)
		g.count(o, len(o.reads)-1-o.cut, len(o.reads)-o.cut)
		g.reads++
		g.bytes += r.size
		g.queue(o)
		close(r.entered)
	}
}

// cutFor cuts off reads one by one, each the oldest of a network reading
// most, as long as it reads two more than fewer, until need more bytes are
// being cut. A network cut off reads one fewer: the next cut may be
// another's. It cuts nothing when that would not make the room: the read
// waits, or is refused, all the same. g.mu is held.
func (g *Reading) cutFor(fewer int, need int64) {
	if need <= 0 || !g.canCut(fewer, need) {
		return
	}
	for n := g.top; n >= fewer+2 && need > 0; {
		r := g.cuttable(n)
		if r == nil {
			n--
			continue
		}
		o := r.owner
		r.cutOff = true
		o.cut++
		g.count(o, n, n-1)
		g.cutting += r.size
		need -= r.size
		r.cut()
	}
}

// canCut reports whether cutFor(fewer, need) makes need bytes of room.
// g.mu is held.
func (g *Reading) canCut(fewer int, need int64) bool {
	for n := g.top; n >= fewer+2; n-- {
		for o := range g.byReads[n] {
			left := n - fewer - 1 // cut off before it reads too few to give way
			for _, r := range o.reads {
				if left == 0 {
					break
				}
				if r.cutOff || r.cut == nil {
					continue
				}
				left--
				if need -= r.size; need <= 0 {
					return true
				}
			}
		}
	}
	return false
}

// cuttable returns the oldest read that can be cut off of a network with
// n reads not cut off, or nil. g.mu is held.
func (g *Reading) cuttable(n int) *read {
	for o := range g.byReads[n] {
		for _, r := range o.reads {
			if !r.cutOff && r.cut != nil {
				return r
			}
		}
	}
	return nil
}

// queue puts o in the order of the networks with reads to let in, where
// its reads and its first waiting read place it, or takes it out. g.mu is
// held.
func (g *Reading) queue(o *readingOwner) {
	ready := o.waiting.Len() > 0 && len(o.reads) < g.perOwner
	switch {
	case ready && o.index < 0:
		heap.Push(&g.next, o)
	case ready:
		heap.Fix(&g.next, o.index)
	case o.index >= 0:
		heap.Remove(&g.next, o.index)
	}
}

// count moves o from the networks with from reads to those with to.
// g.mu is held.
func (g *Reading) count(o *readingOwner, from, to int) {
	if from > 0 {
		delete(g.byReads[from], o)
	}
	if to > 0 {
		if g.byReads[to] == nil {
			g.byReads[to] = map[*readingOwner]struct{}{}
		}
		g.byReads[to][o] = struct{}{}
	}
	g.top = max(g.top, to)
	for g.top > 0 && len(g.byReads[g.top]) == 0 {
		g.top--
	}
}

// forget drops o once it has nothing read or waiting. g.mu is held.
func (g *Reading) forget(o *readingOwner) {
	if len(o.reads) == 0 && o.waiting.Len() == 0 {
		delete(g.owners, o.name)
	}
}

// InUse returns how many bodies are being read and the bytes they count for.
func (g *Reading) InUse() (reads int, bytes int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.reads, g.bytes
}

// ownerQueue is a heap of networks with reads to let in (container/heap).
type ownerQueue struct{ owners []*readingOwner }

func (q *ownerQueue) Len() int { return len(q.owners) }

func (q *ownerQueue) Less(i, j int) bool {
	a, b := q.owners[i], q.owners[j]
	if len(a.reads) != len(b.reads) {
		return len(a.reads) < len(b.reads)
	}
	return a.waiting.Front().Value.(*read).arrived < b.waiting.Front().Value.(*read).arrived
}

func (q *ownerQueue) Swap(i, j int) {
	q.owners[i], q.owners[j] = q.owners[j], q.owners[i]
	q.owners[i].index, q.owners[j].index = i, j
}

func (q *ownerQueue) Push(x any) {
	o := x.(*readingOwner)
	o.index = len(q.owners)
	q.owners = append(q.owners, o)
}

func (q *ownerQueue) Pop() any {
	n := len(q.owners) - 1
	o := q.owners[n]
	q.owners[n], o.index = nil, -1
	q.owners = q.owners[:n]
	return o
}
