package shield

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rempart/rempart/challenge"
)

// checkReading verifies the bookkeeping of g against its reads. g.mu is
// held.
func checkReading(g *Reading) error {
	reads, bytes, cutting := 0, int64(0), int64(0)
	for name, o := range g.owners {
		if o.name != name {
			return fmt.Errorf("owner %q filed as %q", o.name, name)
		}
		if len(o.reads) == 0 && o.waiting.Len() == 0 {
			return fmt.Errorf("owner %q kept with nothing", name)
		}
		if len(o.reads) > g.perOwner {
			return fmt.Errorf("owner %q reads %d, share %d", name, len(o.reads), g.perOwner)
		}
		cut := 0
		for _, r := range o.reads {
			reads++
			bytes += r.size
			if r.cutOff {
				cutting += r.size
				cut++
			}
		}
		if cut != o.cut {
			return fmt.Errorf("owner %q has %d reads cut, counted %d", name, cut, o.cut)
		}
		n := len(o.reads) - cut
		if n > 0 {
			if _, ok := g.byReads[n][o]; !ok {
				return fmt.Errorf("owner %q reading %d not in byReads", name, n)
			}
		}
		ready := o.waiting.Len() > 0 && len(o.reads) < g.perOwner
		if ready != (o.index >= 0) {
			return fmt.Errorf("owner %q ready %v, index %d", name, ready, o.index)
		}
		if o.index >= 0 && g.next.owners[o.index] != o {
			return fmt.Errorf("owner %q index %d wrong", name, o.index)
		}
	}
	for n, m := range g.byReads {
		for o := range m {
			if len(o.reads)-o.cut != n || g.owners[o.name] != o {
				return fmt.Errorf("byReads[%d] holds %q reading %d, %d cut", n, o.name, len(o.reads), o.cut)
			}
		}
		if len(m) > 0 && n > g.top {
			return fmt.Errorf("top %d below %d", g.top, n)
		}
	}
	if reads != g.reads || bytes != g.bytes || cutting != g.cutting {
		return fmt.Errorf("counted %d reads %d bytes %d cutting, kept %d %d %d", reads, bytes, cutting, g.reads, g.bytes, g.cutting)
	}
	if bytes > g.maxBytes {
		return fmt.Errorf("%d bytes over %d", bytes, g.maxBytes)
	}
	q := g.next.owners
	for i := 1; i < len(q); i++ {
		if g.next.Less(i, (i-1)/2) {
			return fmt.Errorf("heap out of order at %d", i)
		}
	}
	// The front fits, or letIn would have let it in.
	if len(q) > 0 {
		r := q[0].waiting.Front().Value.(*read)
		if g.bytes+r.size <= g.maxBytes {
			return fmt.Errorf("front read of %q fits (%d+%d <= %d) but waits", q[0].name, g.bytes, r.size, g.maxBytes)
		}
	}
	return nil
}

// Many reads entering, giving up, cut off and ending at random keep the
// bounds and the bookkeeping, and all end.
func TestReadingModel(t *testing.T) {
	const kib = 1 << 10
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			g := NewReading(challenge.StashConfig{MaxEntries: 256, MaxBytes: 160 * kib}) // 8 a network
			var mu sync.Mutex
			var bad error
			check := func() {
				g.mu.Lock()
				err := checkReading(g)
				g.mu.Unlock()
				if err != nil {
					mu.Lock()
					if bad == nil {
						bad = err
					}
					mu.Unlock()
				}
			}
			var wg sync.WaitGroup
			var entered, refused, cuts atomic.Int64
			for i := range 400 {
				owner := fmt.Sprint("n", rng.IntN(6))
				size := int64(rng.IntN(20 * kib))
				now := rng.IntN(3) == 0
				hold := time.Duration(rng.IntN(2000)) * time.Microsecond
				wait := time.Duration(rng.IntN(20000)) * time.Microsecond
				start := time.Duration(rng.IntN(50000)) * time.Microsecond
				cutAsync := rng.IntN(2) == 0
				wg.Add(1)
				go func() {
					defer wg.Done()
					time.Sleep(start)
					ctx, cancel := context.WithTimeout(context.Background(), wait)
					defer cancel()
					ended := make(chan struct{})
					var once sync.Once
					cut := func() {
						cuts.Add(1)
						if cutAsync {
							once.Do(func() { close(ended) })
						}
					}
					if i%7 == 0 {
						cut = nil
					}
					enter := g.Enter
					if now {
						enter = g.EnterNow
					}
					leave, err := enter(ctx, owner, size, cut)
					check()
					if err != nil {
						refused.Add(1)
						return
					}
					entered.Add(1)
					select {
					case <-ended:
					case <-time.After(hold):
					}
					leave()
					check()
					leave()
				}()
			}
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("reads never ended: deadlock")
			}
			if bad != nil {
				t.Fatal(bad)
			}
			g.mu.Lock()
			defer g.mu.Unlock()
			if err := checkReading(g); err != nil {
				t.Fatal(err)
			}
			if g.reads != 0 || g.bytes != 0 || g.cutting != 0 || len(g.owners) != 0 || g.next.Len() != 0 || g.top != 0 {
				t.Fatalf("after every read ended: %d reads, %d bytes, %d cutting, %d owners, %d queued, top %d", g.reads, g.bytes, g.cutting, len(g.owners), g.next.Len(), g.top)
			}
			t.Logf("entered %d, refused %d, cuts %d", entered.Load(), refused.Load(), cuts.Load())
		})
	}
}
