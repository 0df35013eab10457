package shield

import (
	"net/http"
	"testing"

	"github.com/rempart/rempart/budget"
	"github.com/rempart/rempart/policies"
)

// Observe mode counts the budgets in a shadow: what enforce would refuse
// shows as an observed limit with its budget, and every request still goes
// through.
func TestObserveModeCountsBudgetsInAShadow(t *testing.T) {
	h := newHarness(t, setup{protect: []string{"POST /sign"}, observe: true,
		limits: []policies.Budget{{Counts: policies.CountChallenges, Per: budget.KeyIP, Rate: "2/hour"}}})
	b := h.browser("198.51.100.7", 64496, "")
	const tried = 5
	for range tried {
		b.do(http.MethodGet, "/", "")
	}
	if n := h.forwardedCount(); n != tried {
		t.Fatalf("observe mode forwarded %d of %d", n, tried)
	}
	limited := 0
	for i, o := range h.outcomes {
		if !o.Observed {
			t.Fatalf("outcome %d not observed: %+v", i, o)
		}
		if o.Action == ActionLimit {
			limited++
			if o.Budget == "" || o.Status != 0 {
				t.Errorf("would-be limit %+v: want its budget named and no status answered", o)
			}
		}
		if o.Difficulty == 0 {
			t.Errorf("outcome %d: no difficulty in the shadow", i)
		}
	}
	t.Logf("challenges tried %d, would be limited %d, expected %d", tried, limited, tried-2)
	if limited != tried-2 {
		t.Fatalf("outcomes %+v", h.outcomes)
	}
}
