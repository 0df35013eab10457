package fuzzguard

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// recorder is a testing.TB that records a failure instead of ending
// the test; FailNow and Fatalf stop the calling goroutine, as the real
// ones do.
type recorder struct {
	testing.TB
	failed bool
	msg    string
}

func (r *recorder) Helper()      {}
func (r *recorder) Name() string { return "FuzzX/seed#0" }
func (r *recorder) FailNow() {
	r.failed = true
	runtime.Goexit()
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	r.FailNow()
}

// guard runs Within on a recorder in a goroutine of its own, since
// FailNow ends it, and reports what happened.
func guard(d time.Duration, input []byte, f func()) (failed bool, msg string, panicked any) {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { panicked = recover() }()
		if input != nil {
			WithinInput(r, d, input, f)
		} else {
			Within(r, d, f)
		}
	}()
	<-done
	return r.failed, r.msg, panicked
}

func TestWithinPasses(t *testing.T) {
	ran := false
	failed, _, p := guard(time.Second, nil, func() { ran = true })
	if !ran || failed || p != nil {
		t.Fatalf("ran %v, failed %v, panic %v", ran, failed, p)
	}
}

func TestWithinFailsAHang(t *testing.T) {
	release := make(chan struct{})
	defer close(release) // lets the leaked goroutine end with the test
	failed, msg, _ := guard(50*time.Millisecond, []byte("\x00hang"), func() { <-release })
	if !failed {
		t.Fatal("a hang did not fail the input")
	}
	for _, want := range []string{"longer than 50ms", "FuzzX/seed#0", "input of 5 bytes", `"\x00hang"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not contain %q", msg, want)
		}
	}
}

func TestWithinCarriesFailNowAndPanics(t *testing.T) {
	failed, _, _ := guard(time.Second, nil, func() { runtime.Goexit() }) // as t.FailNow does
	if !failed {
		t.Error("Goexit in f did not fail the caller")
	}
	_, _, p := guard(time.Second, nil, func() { panic("boom") })
	if s, ok := p.(string); !ok || !strings.Contains(s, "boom") || !strings.Contains(s, "goroutine running the guarded function") {
		t.Errorf("panic = %v", p)
	}
}

func TestDescribe(t *testing.T) {
	d := Describe([]byte(strings.Repeat("a", 40)))
	if !strings.Contains(d, "40 bytes") || !strings.HasSuffix(d, "...") || strings.Contains(d, strings.Repeat("a", 33)) {
		t.Errorf("Describe = %q", d)
	}
}
