package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rempart/rempart/challenge"
)

// checkEvery is how many hashes a solver tries between looks at its context
// (and, for the browser-speed solver, at the clock).
const checkEvery = 1 << 13

// maxNonces bounds a search: at the hardest difficulty the shield issues
// (40 bits), a solver finds a nonce long before it; the scenario's deadline
// stops it much sooner.
const maxNonces = 1 << 48

var errNoNonce = errors.New("no nonce below the search bound")

// formatNonce writes a nonce the way the verify endpoint reads it.
func formatNonce(n uint64) string { return fmt.Sprintf("%016x", n) }

// nativeSolver solves challenges the way a well-equipped attacker does:
// native SHA-256 on every core. One challenge at a time has all the
// workers, which is the fastest way through a queue of them.
type nativeSolver struct {
	workers int
	turn    chan struct{}
	hashes  atomic.Uint64
}

func newNativeSolver(workers int) *nativeSolver {
	return &nativeSolver{workers: max(workers, 1), turn: make(chan struct{}, 1)}
}

// solve returns a nonce for p, or the context's error.
func (s *nativeSolver) solve(ctx context.Context, p challenge.Challenge) (string, error) {
	select {
	case s.turn <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-s.turn }()

	var (
		found atomic.Bool
		nonce atomic.Uint64
		wg    sync.WaitGroup
	)
	stride := uint64(s.workers)
	for w := range s.workers {
		wg.Go(func() {
			var tried uint64
			defer func() { s.hashes.Add(tried) }()
			for n := uint64(w); n < maxNonces; n += stride {
				if challenge.LeadingZeroBits(p.Seed, n) >= p.Difficulty {
					if found.CompareAndSwap(false, true) {
						nonce.Store(n)
					}
					return
				}
				tried++
				if tried%checkEvery == 0 && (found.Load() || ctx.Err() != nil) {
					return
				}
			}
		})
	}
	wg.Wait()
	if !found.Load() {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		return "", errNoNonce
	}
	return formatNonce(nonce.Load()), nil
}

// browserSpeedSolver solves at the pace of a signer's browser: it hashes in
// short batches and sleeps between them to hold hashesPerSecond, so that a
// crowd of signers costs the machine little and each one takes as long as
// it would in a browser.
type browserSpeedSolver struct {
	hashesPerSecond float64
}

// solve returns a nonce for p and the time it took, or the context's error.
func (s browserSpeedSolver) solve(ctx context.Context, p challenge.Challenge) (string, time.Duration, error) {
	start := time.Now()
	for n := uint64(0); n < maxNonces; n++ {
		if challenge.LeadingZeroBits(p.Seed, n) >= p.Difficulty {
			return formatNonce(n), time.Since(start), nil
		}
		if (n+1)%checkEvery != 0 {
			continue
		}
		due := time.Duration(float64(n+1) / s.hashesPerSecond * float64(time.Second))
		if wait := due - time.Since(start); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return "", time.Since(start), ctx.Err()
			}
		} else if ctx.Err() != nil {
			return "", time.Since(start), ctx.Err()
		}
	}
	return "", time.Since(start), errNoNonce
}
