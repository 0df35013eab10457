package redisstore

import (
	"hash/maphash"
	"sync/atomic"
	"time"

	"github.com/rempart/rempart/budget"
)

// exhaustedSlots is how many exhausted counters an instance remembers: a
// flood comes from a few networks at a time, and one that no slot holds
// is asked of Redis as before. A power of two.
const exhaustedSlots = 4096

// exhaustedHold is how long an instance answers for an exhausted counter
// without asking Redis again. A counter only grows until its window ends,
// so it stays exhausted until then; the hold bounds how long a counter
// that was deleted behind the shield's back (an admin's DEL, a Redis
// restarted without its data) keeps being refused here.
const exhaustedHold = time.Second

// exhaustedCounters remembers the budget counters that Redis last found
// exhausted, so that a network flooding past its budget is refused without
// a round trip for each request: about one a second for each counter
// instead. It only ever refuses, and only what Redis refused: every
// instance together still counts a budget of k exactly k events.
//
// Slots are read without a lock: each holds an entry that is never
// changed, replaced whole when another counter hashes to it.
type exhaustedCounters struct {
	seed  maphash.Seed
	slots [exhaustedSlots]atomic.Pointer[exhaustedCounter]
}

// exhaustedCounter is one counter Redis refused an event on.
type exhaustedCounter struct {
	key    string
	kind   budget.KeyKind
	limit  int64
	period time.Duration
	// reset is when the counter's window ends (unix ns); until is when
	// this instance asks Redis again, at most reset.
	reset, until int64
}

func newExhaustedCounters() *exhaustedCounters {
	return &exhaustedCounters{seed: maphash.MakeSeed()}
}

func (e *exhaustedCounters) slot(c *budget.Charge) *atomic.Pointer[exhaustedCounter] {
	h := maphash.String(e.seed, c.Key) ^ uint64(c.Kind)
	return &e.slots[h&(exhaustedSlots-1)]
}

// refused reports whether one of charges is a counter remembered as
// exhausted at now, and if so which (the one whose window ends last) and
// when its window ends. Other charges may be exhausted too, unknown here:
// the reset is then earlier than Redis would say, never later.
func (e *exhaustedCounters) refused(charges []budget.Charge, now int64) (budget.TakeResult, bool) {
	res := budget.TakeResult{Allowed: true, Exhausted: -1}
	var resetAt int64
	for i := range charges {
		c := &charges[i]
		x := e.slot(c).Load()
		if x == nil || now >= x.until || x.key != c.Key || x.kind != c.Kind ||
			x.limit != c.Rate.Limit || x.period != c.Rate.Period {
			continue
		}
		if res.Allowed || x.reset > resetAt {
			res.Allowed, res.Exhausted, resetAt = false, i, x.reset
		}
	}
	if res.Allowed {
		return res, false
	}
	res.Reset = time.Unix(0, resetAt)
	return res, true
}

// remember notes that Redis found c exhausted at now, until reset.
func (e *exhaustedCounters) remember(c budget.Charge, now, reset int64) {
	until := min(reset, now+int64(exhaustedHold))
	if until <= now {
		return
	}
	e.slot(&c).Store(&exhaustedCounter{key: c.Key, kind: c.Kind, limit: c.Rate.Limit, period: c.Rate.Period, reset: reset, until: until})
}
