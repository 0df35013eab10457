package main

import "fmt"

// fraudBudget is the most fraudulent signatures the replay's budgets let
// through in an hour: each hosting ASN's hourly budget.
func fraudBudget() int { return len(hostingNetworks) * hostingBudgetPerHour }

// violations lists what the replay found wrong, never a timing: a
// legitimate signer refused, more fraudulent signatures than the budgets
// allow, a petition whose count differs from the signatures the clients
// saw accepted, or one of the attacker's moves getting other than it
// should.
func (r *results) violations() []string {
	var v []string
	sc := r.scenario
	if sc == nil {
		return nil // a -load-only run: figures only
	}
	st := sc.Stats
	refused := 0
	var first string
	for _, s := range st.signers {
		if !s.signed {
			if refused == 0 {
				first = s.reason
			}
			refused++
		}
	}
	if refused > 0 {
		v = append(v, fmt.Sprintf("%d of %d legitimate signers were not let through (first: %s)", refused, len(st.signers), first))
	}
	if len(st.signers) != sc.Signers {
		v = append(v, fmt.Sprintf("%d legitimate signers planned, %d ran", sc.Signers, len(st.signers)))
	}
	for i, b := range st.browsers {
		if !b.signed {
			v = append(v, fmt.Sprintf("Chromium signer %d could not sign: %s", i, b.reason))
		}
	}
	if r.cfg.requireBrowser && r.cfg.browsers > 0 && len(st.browsers) == 0 {
		v = append(v, "no Chromium signer ran: "+sc.BrowserNote)
	}
	if got := st.accepted(fraudulent); got > fraudBudget() {
		v = append(v, fmt.Sprintf("%d fraudulent signatures accepted, above the budgets' %d (%d hosting ASNs x %d an hour)",
			got, fraudBudget(), len(hostingNetworks), hostingBudgetPerHour))
	}
	// A signature the petition recorded but whose answer never reached its
	// client (a timeout on a loaded machine) is counted, not seen; every
	// other must match.
	seen := st.accepted(fraudulent) + st.accepted(legitimate)
	unanswered := st.signAttempts[fraudulent][failed] + st.signAttempts[legitimate][failed]
	if sc.BackendCount < seen || sc.BackendCount > seen+unanswered {
		v = append(v, fmt.Sprintf("the petition counts %d signatures, the clients saw %d accepted and %d unanswered", sc.BackendCount, seen, unanswered))
	}
	if sc.Backend.Recorded != sc.BackendCount {
		v = append(v, fmt.Sprintf("the petition's access log shows %d signatures recorded, its count is %d", sc.Backend.Recorded, sc.BackendCount))
	}
	if r.moves != nil {
		v = append(v, r.moves.violations()...)
	}
	return v
}
