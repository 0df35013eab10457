package budget

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ulule/limiter/v3"

	"github.com/rempart/rempart/internal/fuzzguard"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		in        string
		limit     int64
		period    time.Duration
		canonical string
	}{
		{"10/h", 10, time.Hour, "10/h"},
		{"10/hour", 10, time.Hour, "10/h"},
		{"300/m", 300, time.Minute, "300/m"},
		{"300/min", 300, time.Minute, "300/m"},
		{"3/1h", 3, time.Hour, "3/h"},
		{"5/30s", 5, 30 * time.Second, "5/30s"},
		{"100/d", 100, 24 * time.Hour, "100/d"},
		{"1/2m", 1, 2 * time.Minute, "1/2m"},
		{"7/sec", 7, time.Second, "7/s"},
		{"7/second", 7, time.Second, "7/s"},
		{"7/minute", 7, time.Minute, "7/m"},
		{"7/day", 7, 24 * time.Hour, "7/d"},
		{"7/2days", 7, 48 * time.Hour, "7/2d"},
		{"7/10seconds", 7, 10 * time.Second, "7/10s"},
		{"20/90m", 20, 90 * time.Minute, "20/90m"},
		{"20/120m", 20, 2 * time.Hour, "20/2h"},
		{"20/3600s", 20, time.Hour, "20/h"},
		{"10/Hour", 10, time.Hour, "10/h"},
		{" 10 / 2 h ", 10, 2 * time.Hour, "10/2h"},
		{"010/h", 10, time.Hour, "10/h"},
		{"9223372036854775807/s", 1<<63 - 1, time.Second, "9223372036854775807/s"},
		{"1/106751d", 1, 106751 * 24 * time.Hour, "1/106751d"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRate(tt.in)
			if err != nil {
				t.Fatalf("ParseRate(%q): %v", tt.in, err)
			}
			want := limiter.Rate{Formatted: tt.canonical, Limit: tt.limit, Period: tt.period}
			if got != want {
				t.Errorf("ParseRate(%q) = %+v, want %+v", tt.in, got, want)
			}
		})
	}
}

func TestParseRateErrors(t *testing.T) {
	tests := []struct {
		in     string
		reason string // what the error must say besides the example
	}{
		{"", ""},
		{"10", ""},
		{"10-H", ""}, // limiter's own format is not this one
		{"/h", ""},
		{"ten/h", ""},
		{"1.5/h", ""},
		{"+5/h", ""},
		{"10/h/m", "unknown unit"},
		{"0/h", "count must be at least 1"},
		{"-3/h", "count must be at least 1"},
		{"99999999999999999999/h", "count too large"},
		{"5/0s", "period must be longer than zero"},
		{"5/0h", "period must be longer than zero"},
		{"5/-1h", "period must be longer than zero"},
		{"5/", "has no unit"},
		{"5/30", "has no unit"},
		{"5/fortnight", `unknown unit "fortnight"`},
		{"5/1.5h", "whole number"},
		{"5/ms", `unknown unit "ms"`},
		{"5/106752d", "period too long"},
		{"5/99999999999999999999s", "period too long"},
		{"5/9223372037s", "period too long"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := ParseRate(tt.in)
			if err == nil {
				t.Fatalf("ParseRate(%q) = %+v, want an error", tt.in, r)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "rate "+strconv.Quote(tt.in)+": ") {
				t.Errorf("error %q does not start by quoting the input", msg)
			}
			if !strings.Contains(msg, "want COUNT/PERIOD such as 10/hour") {
				t.Errorf("error %q gives no example", msg)
			}
			if !strings.Contains(msg, tt.reason) {
				t.Errorf("error %q does not say %q", msg, tt.reason)
			}
		})
	}
}

func TestFormatRate(t *testing.T) {
	tests := []struct {
		rate limiter.Rate
		want string
	}{
		{limiter.Rate{Limit: 10, Period: time.Hour}, "10/h"},
		{limiter.Rate{Limit: 10, Period: 3 * time.Hour}, "10/3h"},
		{limiter.Rate{Limit: 3, Period: 90 * time.Minute}, "3/90m"},
		{limiter.Rate{Limit: 5, Period: 30 * time.Second}, "5/30s"},
		{limiter.Rate{Limit: 5, Period: 61 * time.Second}, "5/61s"},
		{limiter.Rate{Limit: 100, Period: 7 * 24 * time.Hour}, "100/7d"},
		{limiter.Rate{Limit: 1, Period: 25 * time.Hour}, "1/25h"},
		// Not whole seconds, or not positive: written so that a reader
		// understands, though ParseRate refuses them.
		{limiter.Rate{Limit: 10, Period: 1500 * time.Millisecond}, "10/1.5s"},
		{limiter.Rate{Limit: 10, Period: 0}, "10/0s"},
	}
	for _, tt := range tests {
		if got := FormatRate(tt.rate); got != tt.want {
			t.Errorf("FormatRate(%+v) = %q, want %q", tt.rate, got, tt.want)
		}
	}
}

// checkRoundTrip checks that a rate ParseRate accepted survives formatting
// and parsing again unchanged, and is sane.
func checkRoundTrip(t *testing.T, in string, r limiter.Rate) {
	t.Helper()
	if r.Limit < 1 || r.Period < time.Second || r.Period%time.Second != 0 {
		t.Fatalf("ParseRate(%q) = %+v: count must be positive, period whole seconds", in, r)
	}
	if r.Formatted != FormatRate(r) {
		t.Fatalf("ParseRate(%q).Formatted = %q, want FormatRate's %q", in, r.Formatted, FormatRate(r))
	}
	again, err := ParseRate(FormatRate(r))
	if err != nil {
		t.Fatalf("ParseRate(FormatRate(%+v) = %q): %v", r, FormatRate(r), err)
	}
	if again != r {
		t.Fatalf("round trip of %q: %+v became %+v", in, r, again)
	}
}

func TestRateRoundTrip(t *testing.T) {
	for _, in := range []string{"10/h", "10/3600s", "3/90m", "1/2days", "5/30s", "7/86400s", "1/106751d"} {
		r, err := ParseRate(in)
		if err != nil {
			t.Fatal(err)
		}
		checkRoundTrip(t, in, r)
	}
}

func FuzzParseRate(f *testing.F) {
	for _, seed := range []string{
		"10/h", "10/hour", "300/m", "300/min", "3/1h", "5/30s", "100/d", "1/2m",
		"0/h", "-1/h", "5/0s", "5/", "/", "", "10-H", " 1 / 2 days ",
		"9223372036854775807/s", "1/106752d", "1/9223372037s",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		fuzzguard.WithinInput(t, fuzzguard.DefaultLimit, []byte(in), func() {
			r, err := ParseRate(in)
			if err != nil {
				if !strings.HasPrefix(err.Error(), "rate ") || !strings.Contains(err.Error(), "want COUNT/PERIOD") {
					t.Fatalf("ParseRate(%q): unhelpful error %q", in, err)
				}
				return
			}
			checkRoundTrip(t, in, r)
		})
	})
}
