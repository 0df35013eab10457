package caddymodule

import (
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/rempart/rempart/shield"
)

// The counters kept per series count into the series their labels name:
// each action, rule and observe flag its own, a new rule a new series,
// and an action the lookout does not know still counted.
func TestRequestCountersGoToTheirSeries(t *testing.T) {
	// Series are process-wide: a site of its own for each run (-count).
	m := newSiteMetrics(t.Name() + "-" + strconv.FormatInt(time.Now().UnixNano(), 36))
	sends := []struct {
		action   shield.Action
		rule     string
		observed bool
		times    int
	}{
		{shield.ActionChallenge, "default", false, 5},
		{shield.ActionChallenge, "default", true, 3},
		{shield.ActionChallenge, "hosting", false, 2},
		{shield.ActionPass, "default", false, 4},
		{shield.ActionLimit, "", false, 1}, // counted under rule "none"
		{shield.ActionLimit, "signatures.asn", false, 4},
		{shield.ActionLimit, "signatures.asn", true, 2},
		{"unheard-of", "default", false, 2},
	}
	refusals := map[[2]string]int{} // budget, observed
	for _, s := range sends {
		budget := ""
		if s.action == shield.ActionLimit {
			budget = "budget-of-" + s.rule
			refusals[[2]string{budget, strconv.FormatBool(s.observed)}] += s.times
		}
		for range s.times {
			m.observe(&shield.Outcome{Action: s.action, Rule: s.rule, Observed: s.observed, Budget: budget})
		}
	}
	for k, want := range refusals {
		if got := counterValue(t, m.refusals.WithLabelValues(k[0], k[1])); got != float64(want) {
			t.Errorf("refusals over %s observed=%s: sent %d, counted %g", k[0], k[1], want, got)
		}
	}
	for _, s := range sends {
		rule, observed := s.rule, "false"
		if rule == "" {
			rule = "none"
		}
		if s.observed {
			observed = "true"
		}
		got := counterValue(t, m.requests.WithLabelValues(string(s.action), rule, observed))
		if got != float64(s.times) {
			t.Errorf("%s %s observed=%s: sent %d, counted %g", s.action, rule, observed, s.times, got)
		}
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var out dto.Metric
	if err := c.Write(&out); err != nil {
		t.Fatal(err)
	}
	return out.GetCounter().GetValue()
}
