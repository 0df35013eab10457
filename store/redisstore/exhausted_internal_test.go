package redisstore

import (
	"strconv"
	"testing"
	"time"

	"github.com/ulule/limiter/v3"

	"github.com/rempart/rempart/budget"
)

// Two counters sharing a slot: the one remembered refuses, the other is
// never refused for it, and remembering the other replaces the first.
func TestExhaustedCountersShareSlotsSafely(t *testing.T) {
	e := newExhaustedCounters()
	rate := limiter.Rate{Limit: 1, Period: time.Hour}
	first := budget.Charge{Key: "as64500", Kind: budget.KeyASN, Rate: rate}
	var other budget.Charge
	for i := 0; ; i++ {
		other = budget.Charge{Key: "as" + strconv.Itoa(100000+i), Kind: budget.KeyASN, Rate: rate}
		if e.slot(&other) == e.slot(&first) {
			break
		}
	}
	now := time.Now().UnixNano()
	reset := now + int64(time.Hour)
	e.remember(first, now, reset)
	if res, ok := e.refused([]budget.Charge{other, first}, now); !ok || res.Exhausted != 1 || res.Reset.UnixNano() != reset {
		t.Fatalf("the remembered counter: %+v, %v; want refused as charge 1 until its reset", res, ok)
	}
	if res, ok := e.refused([]budget.Charge{other}, now); ok {
		t.Fatalf("a counter sharing its slot refused: %+v", res)
	}
	e.remember(other, now, reset)
	if _, ok := e.refused([]budget.Charge{first}, now); ok {
		t.Fatal("a replaced counter still refused")
	}
	if _, ok := e.refused([]budget.Charge{other}, now+int64(exhaustedHold)); ok {
		t.Fatal("refused from memory past the hold")
	}
	e.remember(first, now, now) // a window ending now is not remembered
	if _, ok := e.refused([]budget.Charge{first}, now); ok {
		t.Fatal("a window that ended is remembered")
	}
}
