package budget

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/ulule/limiter/v3"
)

// rateUnits are the period units ParseRate accepts, largest first so that
// FormatRate picks the largest one that divides a period exactly. The first
// name of each is the canonical one.
var rateUnits = []struct {
	length time.Duration
	names  []string
}{
	{24 * time.Hour, []string{"d", "day", "days"}},
	{time.Hour, []string{"h", "hour", "hours"}},
	{time.Minute, []string{"m", "min", "minute", "minutes"}},
	{time.Second, []string{"s", "sec", "second", "seconds"}},
}

// ParseRate parses a rate as written in Caddyfiles and policy files:
// COUNT/PERIOD, where PERIOD is a unit optionally preceded by how many of
// it, such as 10/hour, 300/min, 5/30s or 100/d. Units are s, sec, second,
// m, min, minute, h, hour, d and day (plurals and any letter case too).
// The returned rate's Formatted field holds its canonical form (see
// FormatRate).
func ParseRate(s string) (limiter.Rate, error) {
	countText, periodText, ok := strings.Cut(s, "/")
	if !ok {
		return limiter.Rate{}, rateError(s, "")
	}

	countText = strings.TrimSpace(countText)
	if strings.HasPrefix(countText, "-") && isDigits(countText[1:]) {
		return limiter.Rate{}, rateError(s, "count must be at least 1")
	}
	if !isDigits(countText) {
		return limiter.Rate{}, rateError(s, "")
	}
	count, err := strconv.ParseInt(countText, 10, 64)
	if err != nil {
		return limiter.Rate{}, rateError(s, fmt.Sprintf("count too large (at most %d)", int64(math.MaxInt64)))
	}
	if count == 0 {
		return limiter.Rate{}, rateError(s, "count must be at least 1")
	}

	period, err := parsePeriod(strings.TrimSpace(periodText))
	if err != nil {
		return limiter.Rate{}, rateError(s, err.Error())
	}

	rate := limiter.Rate{Limit: count, Period: period}
	rate.Formatted = FormatRate(rate)
	return rate, nil
}

// parsePeriod parses [N]UNIT; its errors are only the reason, for
// rateError to wrap.
func parsePeriod(s string) (time.Duration, error) {
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("period must be longer than zero")
	}
	digits := len(s) - len(strings.TrimLeft(s, "0123456789"))
	n := int64(1)
	if digits > 0 {
		var err error
		n, err = strconv.ParseInt(s[:digits], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("period too long")
		}
	}
	unitName := strings.TrimSpace(s[digits:])
	if digits > 0 && strings.HasPrefix(unitName, ".") {
		return 0, fmt.Errorf("period must be a whole number of units, such as 90m rather than 1.5h")
	}
	if unitName == "" {
		return 0, fmt.Errorf("period %q has no unit (want s, m, h or d)", s)
	}
	unit, ok := lookupUnit(unitName)
	if !ok {
		return 0, fmt.Errorf("unknown unit %q (want s, m, h or d)", unitName)
	}
	if n == 0 {
		return 0, fmt.Errorf("period must be longer than zero")
	}
	if n > math.MaxInt64/int64(unit) {
		return 0, fmt.Errorf("period too long (at most %d%s)", math.MaxInt64/int64(unit), canonicalUnit(unit))
	}
	return time.Duration(n) * unit, nil
}

func lookupUnit(name string) (time.Duration, bool) {
	for _, u := range rateUnits {
		for _, n := range u.names {
			if strings.EqualFold(name, n) {
				return u.length, true
			}
		}
	}
	return 0, false
}

func canonicalUnit(length time.Duration) string {
	for _, u := range rateUnits {
		if u.length == length {
			return u.names[0]
		}
	}
	return ""
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// rateError explains why s is not a rate, always with an example of one.
func rateError(s, reason string) error {
	const want = "want COUNT/PERIOD such as 10/hour"
	if reason == "" {
		return fmt.Errorf("rate %q: %s", s, want)
	}
	return fmt.Errorf("rate %q: %s; %s", s, reason, want)
}

// FormatRate writes a rate in the canonical form ParseRate reads, with the
// largest unit that divides the period exactly: 10/h, 3/90m, 5/30s.
// ParseRate(FormatRate(r)) returns r for every r that ParseRate returned.
// A period that is not a whole number of seconds, which ParseRate never
// returns, is written as a Go duration (10/1.5s), which ParseRate rejects.
func FormatRate(r limiter.Rate) string {
	count := strconv.FormatInt(r.Limit, 10)
	if r.Period > 0 {
		for _, u := range rateUnits {
			if r.Period%u.length != 0 {
				continue
			}
			n := int64(r.Period / u.length)
			if n == 1 {
				return count + "/" + u.names[0]
			}
			return count + "/" + strconv.FormatInt(n, 10) + u.names[0]
		}
	}
	return count + "/" + r.Period.String()
}
