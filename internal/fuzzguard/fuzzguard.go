// Package fuzzguard bounds the time one fuzz execution may take.
//
// Go's native fuzzing has no per-input time limit: an input that makes
// the code under test loop for ever leaves the exec counter standing
// still ("execs: 4 (0/sec)") until -fuzztime runs out, and the run then
// passes, without saving the input. Wrapping the body of a fuzz target
// in [Within] turns such an input into an ordinary failure, which the
// fuzzer records in testdata/fuzz/<FuzzName>/ and which later runs of
// go test replay:
//
//	f.Fuzz(func(t *testing.T, data []byte) {
//		fuzzguard.WithinInput(t, fuzzguard.DefaultLimit, data, func() {
//			tbl, err := Parse(data, "f.mmdb")
//			check(t, tbl, err)
//		})
//	})
//
// # Leaked goroutines
//
// Go cannot stop a goroutine from outside, so f runs in a goroutine of
// its own and, when it overruns, is left running while the test fails.
// That leak is acceptable only because the test fails: the input is a
// bug to fix, and the process ends soon after (go test exits, or the
// fuzzer restarts its worker after minimising the input). A leaked
// goroutine may keep a core busy meanwhile, so when a hang is found,
// minimise it briefly (-fuzzminimizetime=10x) on a shared machine.
package fuzzguard

import (
	"crypto/sha256"
	"fmt"
	"runtime/debug"
	"testing"
	"time"
)

// DefaultLimit is a bound for one execution of a parser on a fuzz input
// of a few kilobytes: such executions take micro- to milliseconds, so a
// run of 2 s is a hang, not a slow machine, even under -race.
const DefaultLimit = 2 * time.Second

// Within runs f and fails t with t.Fatalf, naming the input by the name
// of t (which for a corpus entry ends with its file name), when f has
// not returned after d. See WithinInput to describe the input itself,
// which is what a freshly generated input needs.
//
// f runs in another goroutine: it may call t.Error, t.Log and friends,
// and also t.FailNow or t.Fatal, which Within carries over to the
// calling goroutine; a panic in f is re-raised in the caller, with
// f's stack in its message. After a timeout f keeps running, leaked
// (see the package documentation).
func Within(t testing.TB, d time.Duration, f func()) {
	t.Helper()
	run(t, d, "", f)
}

// WithinInput is Within for a fuzz input: on timeout the failure
// message also gives the input's length, SHA-256 and first bytes, so
// that the hanging input can be recognised in the corpus the fuzzer
// writes.
func WithinInput(t testing.TB, d time.Duration, input []byte, f func()) {
	t.Helper()
	run(t, d, Describe(input), f)
}

// Describe names an input in a failure message: its length, the start
// of its SHA-256 and up to its first 32 bytes, quoted.
func Describe(input []byte) string {
	sum := sha256.Sum256(input)
	head := input
	const maxHead = 32
	suffix := ""
	if len(head) > maxHead {
		head, suffix = head[:maxHead], "..."
	}
	return fmt.Sprintf("input of %d bytes, sha256 %x, starting %q%s", len(input), sum[:8], head, suffix)
}

// outcome is how f ended.
type outcome struct {
	panicked  bool
	recovered any
	stack     string
	goexit    bool // runtime.Goexit, as t.FailNow calls it
}

func run(t testing.TB, d time.Duration, desc string, f func()) {
	t.Helper()
	done := make(chan outcome, 1) // buffered: a late f never blocks
	go func() {
		var out outcome
		returned := false
		defer func() {
			if !returned {
				if r := recover(); r != nil {
					out.panicked, out.recovered = true, r
					out.stack = string(debug.Stack())
				} else {
					out.goexit = true
				}
			}
			done <- out
		}()
		f()
		returned = true
	}()

	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case out := <-done:
		switch {
		case out.panicked:
			panic(fmt.Sprintf("%v\n\ngoroutine running the guarded function:\n%s", out.recovered, out.stack))
		case out.goexit:
			t.FailNow()
		}
	case <-timer.C:
		name := t.Name()
		if desc != "" {
			name += ": " + desc
		}
		t.Fatalf("fuzzguard: one execution ran longer than %v, a hang (its goroutine is left running): %s", d, name)
	}
}
