package shield

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/rempart/rempart/challenge"
)

// BenchmarkReadingWithParkedWaiters is one read entering and ending while
// an attacker's network keeps parked reads waiting over its share: what
// every signer's read costs the machine during such a flood. Reads come
// 100 µs apart, as in a busy site's traffic, so that the cost of waking
// parked reads (cpu-ns/op, the process's CPU time) is not hidden by reads
// ending faster than the woken can run.
func BenchmarkReadingWithParkedWaiters(b *testing.B) {
	for _, parked := range []int{0, 1000, 10000} {
		b.Run(fmt.Sprintf("parked=%d", parked), func(b *testing.B) {
			g := NewReading(challenge.StashConfig{MaxEntries: 4096, MaxBytes: 32 << 20})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			for range g.perOwner {
				if _, err := g.Enter(ctx, "attacker", 64<<10, nil); err != nil {
					b.Fatal(err)
				}
			}
			for range parked {
				go func() { _, _ = g.Enter(ctx, "attacker", 64<<10, nil) }()
			}
			// Let them park.
			time.Sleep(time.Duration(parked/1000+1) * 50 * time.Millisecond)
			b.ReportAllocs()
			b.ResetTimer()
			before := processCPU(b)
			for i := range b.N {
				leave, err := g.Enter(ctx, "signers", int64(1+i%64)<<10, nil)
				if err != nil {
					b.Fatal(err)
				}
				leave()
				time.Sleep(100 * time.Microsecond)
			}
			// Waking parked goroutines costs other threads' time.
			b.ReportMetric(float64(processCPU(b)-before)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU is the CPU time the process has used, in nanoseconds.
func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
