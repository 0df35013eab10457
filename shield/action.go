package shield

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/rempart/rempart/budget"
	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/policies"
	"github.com/rempart/rempart/store"
)

// action carries out one decision for one request.
type action struct {
	s      *Shield
	w      http.ResponseWriter
	r      *http.Request
	c      *client
	active *Active
	dec    *policies.Decision
	held   *held
	now    time.Time
	out    *Outcome
	// observed is set when admitting a challenge also added it to its
	// network's flood rate, which earned it floodExtra bits.
	observed   bool
	floodExtra int
}

// run acts on the decision.
func (a *action) run(next Next) error {
	switch a.dec.Action {
	case policies.ActionDeny:
		return a.deny()
	case policies.ActionAllow:
		if !a.dec.Signature {
			a.out.Action = ActionPass
			return a.forward(next)
		}
		// An allowed signature needs no proof but stays within the budgets.
		if ok, err := a.admit(policies.CountSignatures); !ok {
			return err
		}
		return a.forwardSignature(next, nil)
	}
	pass, hasPass := a.validPass()
	if !a.dec.Signature {
		if hasPass && pass.Difficulty >= a.capped(a.dec.Difficulty) {
			a.out.Action = ActionPass
			return a.forward(next)
		}
		if hasPass {
			a.out.Reason = fmt.Sprintf("pass bought with %d bits, page needs %d", pass.Difficulty, a.capped(a.dec.Difficulty))
		}
		return a.challenge()
	}
	required := a.required()
	a.out.Difficulty = required
	switch {
	case !hasPass:
		a.out.Reason = "no valid pass"
	case a.credits(pass) == 0 || (a.held != nil && a.exhausted(pass)):
		// Without a held submission, spending the pass tells as much, in
		// the same round trip of a shared store. With one, asking first
		// keeps a spent pass from taking the submission and putting it
		// back.
		a.out.Reason = "pass has no credit left"
	case pass.Difficulty < required:
		// A pass is worth what was paid for it: one bought on a cheap page
		// does not sign where the policy asks for more.
		a.out.Reason = fmt.Sprintf("pass bought with %d bits, signature needs %d", pass.Difficulty, required)
	default:
		return a.spend(pass, next)
	}
	return a.challenge()
}

// spend pays for a signature with one of the pass's credits and forwards
// it. A held submission is taken before the credit is spent, so that a
// submission that is gone costs no credit, and put back when a concurrent
// request spent the credit first.
func (a *action) spend(pass challenge.Pass, next Next) error {
	st := a.s.cfg.State
	var sub *challenge.Submission
	ctx := a.r.Context()
	takeUnknown := false
	if a.held != nil {
		got, ok, err := a.takeHeld()
		if err == nil && !ok {
			a.out.Reason = "held submission expired or already sent"
			return a.s.refuse(a.w, a.r, a.out, http.StatusGone, expired)
		}
		sub, takeUnknown = &got, err != nil
	}
	// A credit the store could not spend is never accepted: the signature
	// is held (in memory when the store is away) and challenged again.
	used, serr := st.Passes.Use(ctx, pass.ID, a.credits(pass), pass.Issued, pass.Expires, a.now)
	if !used {
		if sub != nil && (serr != nil || takeUnknown) {
			// The store failed around the take or the spend: hold the
			// submission anew, under an id that says where it is (a shared
			// store away keeps it in this instance's memory), and challenge
			// for that id. (After an unknown take the old id may still be
			// held too; it only expires.)
			id, err := st.Stash.Put(ctx, *sub, a.c.binding, a.c.stashOwner())
			if err != nil {
				a.s.log.Warn("could not hold a submission again after a failed spend", zapError(err))
				a.out.Reason = "held submission could not be kept"
				return a.s.refuse(a.w, a.r, a.out, http.StatusGone, expired)
			}
			a.held.id = id
		} else if sub != nil {
			if err := st.Stash.Restore(ctx, a.held.id, *sub, a.c.binding, a.c.stashOwner()); err != nil {
				// Never hold the re-posted proof form in its place: ask for
				// the form again.
				a.s.log.Warn("could not hold a submission again after a concurrent spend", zapError(err))
				a.out.Reason = "held submission could not be kept"
				return a.s.refuse(a.w, a.r, a.out, http.StatusGone, expired)
			}
		}
		a.out.Reason = "pass has no credit left"
		if serr != nil {
			a.out.Reason = "pass not checked: " + serr.Error()
		}
		return a.challenge()
	}
	// The proof is spent either way: a network over its budget pays for
	// its refused signatures too.
	if ok, err := a.admit(policies.CountSignatures); !ok {
		return err
	}
	// A one-credit pass is used up by this spend: no need to ask the store.
	if a.credits(pass) == 1 || a.exhausted(pass) {
		// Keep the browser able to read the site (a thank-you page) without a
		// new challenge; signing again will need one.
		if err := a.s.setPass(a.w, a.r, a.c, 0, pass.Difficulty, a.now, pass.Expires.Sub(a.now)); err != nil {
			return err
		}
	}
	a.paidWith(pass)
	return a.forwardSignature(next, sub)
}

// paidWith records, for the journal, the pass that pays for the signature.
func (a *action) paidWith(pass challenge.Pass) {
	a.out.PaidBits, a.out.PassID = pass.Difficulty, hex.EncodeToString(pass.ID[:len(pass.ID)/2])
}

// takeHeld releases the request's held submission from the stash. When
// the store fails, it cannot tell whether the take was made (a shared
// store may have run it and lost its answer, as Redis does for what it ran
// just before it stops), so it returns the submission as this request read
// it (see heldSubmission) with the error: dropping it then could lose it
// for good. The caller decides what may go on with it.
func (a *action) takeHeld() (challenge.Submission, bool, error) {
	got, ok, err := a.s.cfg.State.Stash.Take(a.r.Context(), a.held.id, a.c.binding, a.now)
	if err != nil {
		return a.held.sub, true, err
	}
	return got, ok, nil
}

// forwardSignature sends a signature on: the held submission, restored as
// the browser first sent it, when there is one.
func (a *action) forwardSignature(next Next, sub *challenge.Submission) error {
	a.out.Action = ActionSpend
	if sub == nil && a.held != nil {
		// Allowed without a credit, it goes on even when the take is
		// unanswered: sending it again would take no more than posting
		// the form again, which the rule allows.
		got, ok, err := a.takeHeld()
		if err == nil && !ok {
			a.out.Reason = "held submission expired or already sent"
			return a.s.refuse(a.w, a.r, a.out, http.StatusGone, expired)
		}
		sub = &got
	}
	if sub != nil {
		clearCookie(a.w, a.r, replayCookie, a.r.URL.Path)
		restoreSubmission(a.r, sub)
	}
	return a.forward(next)
}

// observe lets the request through, recording what enforce would do.
func (a *action) observe(next Next) error {
	a.out.Observed = true
	// A held submission is taken first, as enforce takes it before it
	// spends a credit: a re-post whose submission is already gone (sent by
	// a concurrent one) would be refused there, and spends nothing. A take
	// the store does not answer goes on with the copy read, as in enforce:
	// the signature is not lost for an outage.
	var sub challenge.Submission
	taken, gone := false, false
	if a.held != nil {
		sub, taken, _ = a.takeHeld()
		gone = !taken
	}
	switch a.dec.Action {
	case policies.ActionDeny:
		a.out.Action = ActionDeny
	case policies.ActionAllow:
		a.out.Action = ActionPass
		if a.dec.Signature {
			a.out.Action = ActionSpend
		}
		if a.dec.Signature && gone {
			a.out.Action, a.out.Reason = ActionRefuse, "held submission expired or already sent"
		}
	default:
		pass, ok := a.validPass()
		worth := a.dec.Signature && ok && a.credits(pass) > 0 && pass.Difficulty >= a.required()
		switch {
		case !a.dec.Signature && ok && pass.Difficulty >= a.capped(a.dec.Difficulty):
			a.out.Action = ActionPass
		case worth && gone:
			a.out.Action, a.out.Reason = ActionRefuse, "held submission expired or already sent"
		case worth && a.shadowSpend(pass):
			a.out.Action = ActionSpend
			a.paidWith(pass)
		case embeddedElsewhere(a.r):
			a.out.Action = ActionRefuse // as challenge would, uncounted
		case a.dec.Signature && !safeMethod(a.r.Method):
			a.out.Action = ActionHold
		default:
			a.out.Action = ActionChallenge
		}
	}
	a.shadow()
	if taken {
		clearCookie(a.w, a.r, replayCookie, a.r.URL.Path)
		restoreSubmission(a.r, &sub)
	}
	return a.forward(next)
}

// shadowSpend spends, in observe mode, a credit of the pass as enforce
// would, and reports whether there was one: a pass bought before the
// switch to observe mode pays for no more signatures in the journal's
// verdicts than it would have in enforce. A credit the store could not
// spend is not one, as in enforce.
func (a *action) shadowSpend(pass challenge.Pass) bool {
	used, err := a.s.cfg.State.Passes.Use(a.r.Context(), pass.ID, a.credits(pass), pass.Issued, pass.Expires, a.now)
	return err == nil && used
}

// shadow counts, in observe mode, what enforce would count: the budgets
// and the flood, so that a would-be 429 and a rising difficulty show in
// the outcome. It never refuses.
func (a *action) shadow() {
	what := policies.CountSignatures
	switch a.out.Action {
	case ActionSpend:
		if a.dec.Action != policies.ActionAllow {
			a.out.Difficulty = a.required()
		}
	case ActionChallenge, ActionHold:
		what = policies.CountChallenges
		a.out.Difficulty = a.issueDifficulty()
	default:
		return
	}
	if len(a.dec.Budgets) == 0 {
		return
	}
	// Take, not take: the flood was counted above.
	v, err := a.active.Budgets.Take(a.r.Context(), what, a.dec.Budgets, a.c.budgetClient(), a.now)
	if err != nil {
		a.s.log.Error("budget store failed; request not counted", zapError(err))
		return
	}
	if !v.Allowed {
		a.out.Action, a.out.Budget = ActionLimit, v.Budget
	}
}

// deny refuses the request as the rule says.
func (a *action) deny() error {
	a.out.Action = ActionDeny
	a.out.Status = a.dec.Status
	msg := a.dec.Message
	return a.s.message(a.w, a.r, a.dec.Status, "refuse", func(t *challenge.Messages) (string, string) {
		if msg != "" {
			return t.DeniedTitle, msg
		}
		return t.DeniedTitle, t.Denied
	})
}

// validPass returns the request's pass if it is authentic, unexpired and
// issued to this client. Whether it has credits left is the caller's
// question.
func (a *action) validPass() (challenge.Pass, bool) {
	token, ok := cookie(a.r, passCookieName(a.r))
	if !ok {
		return challenge.Pass{}, false
	}
	pass, err := a.s.cfg.Signer.VerifyPass(token, a.c.binding, a.now)
	if err != nil {
		a.out.Reason = passRefused(err)
		return challenge.Pass{}, false
	}
	return pass, true
}

// passForged is the reason validPass gives a pass that is not this
// client's, made once: a flood of stolen or forged passes gives it on
// every request.
var passForged = "pass refused: " + challenge.ErrForged.Error()

func passRefused(err error) string {
	if err == challenge.ErrForged {
		return passForged
	}
	return "pass refused: " + err.Error()
}

// exhausted reports whether the pass has no credit left. When the store
// cannot tell, the pass is not exhausted: spending it decides, and a spend
// the store cannot check is never accepted.
func (a *action) exhausted(pass challenge.Pass) bool {
	ex, err := a.s.cfg.State.Passes.Exhausted(a.r.Context(), pass.ID, a.credits(pass))
	return err == nil && ex
}

// credits is how many signatures the pass may pay for here: no more than
// it was bought with, nor than the signature's rule gives a pass. A pass
// bought on a page whose rule gives 5 credits pays for one signature where
// the signature's rule says 1, as its difficulty is checked against the
// signature's too.
func (a *action) credits(pass challenge.Pass) int {
	if a.dec.Credits > 0 {
		return min(pass.Credits, a.dec.Credits)
	}
	return pass.Credits
}

// take counts the request against the decision's budgets. A challenge is
// added to its network's flood rate in the same round trip when the store
// can (store.BudgetedPressure): Redis then answers a challenge in one
// round trip, not two.
func (a *action) take(what policies.Counter) (policies.Verdict, error) {
	ctx, client := a.r.Context(), a.c.budgetClient()
	bp, ok := a.s.cfg.Pressure.(store.BudgetedPressure)
	if what != policies.CountChallenges || !ok {
		return a.active.Budgets.Take(ctx, what, a.dec.Budgets, client, a.now)
	}
	return a.active.Budgets.TakeWith(ctx, what, a.dec.Budgets, client, a.now,
		func(ctx context.Context, charges []budget.Charge, now time.Time) (budget.TakeResult, error) {
			res, extra, err := bp.TakeAllAndObserve(ctx, charges, a.c.network(), now)
			a.observed, a.floodExtra = err == nil && res.Allowed, extra
			return res, err
		})
}

// required is the work a signature needs now: what the policy asks, plus
// what its network's flood adds, within the cap.
func (a *action) required() int {
	bits := a.dec.Difficulty
	if p := a.s.cfg.Pressure; p != nil {
		// Extra answers from this instance's copy: no round trip.
		extra, _ := p.Extra(a.r.Context(), a.c.network(), a.now)
		bits += extra
		a.out.FloodExtra = extra
	}
	return a.capped(bits)
}

// issueDifficulty is the difficulty of a challenge issued now, which
// counts towards the network's flood.
func (a *action) issueDifficulty() int {
	bits := a.dec.Difficulty
	if p := a.s.cfg.Pressure; p != nil {
		extra := a.floodExtra
		if !a.observed {
			// A store that fails still answers with this instance's
			// estimate, and logs its outage once: the challenge never
			// waits on it.
			extra, _ = p.Observe(a.r.Context(), a.c.network(), a.now)
		}
		bits += extra
		a.out.FloodExtra = extra
	}
	return a.capped(bits)
}

// capped bounds a difficulty by the challenge's range and the shield's
// DifficultyCap: however much the policy and the flood raise it, a signer
// is never asked for more than the cap's expected wait.
func (a *action) capped(bits int) int {
	top := challenge.MaxDifficulty
	if c := a.s.cfg.DifficultyCap; c > 0 {
		top = min(top, c)
	}
	return min(max(bits, challenge.MinDifficulty), top)
}

// admit counts one event against the decision's budgets, all or none.
// When one is exhausted it answers 429 itself and reports false.
func (a *action) admit(what policies.Counter) (bool, error) {
	if len(a.dec.Budgets) == 0 {
		return true, nil
	}
	v, err := a.take(what)
	if err != nil {
		// By default a budget store that fails (Redis down) does not take
		// the petition down with it: the request goes through uncounted.
		// A store that could not be reached logs its outage once.
		if !errors.Is(err, store.ErrUnavailable) {
			a.s.log.Error("budget store failed", zapError(err))
		}
		if !a.s.cfg.BudgetsFailClosed {
			a.out.Reason = "budgets not counted: " + err.Error()
			return true, nil
		}
		a.out.Reason = "budgets not counted, refused: " + err.Error()
		return false, a.s.unavailable(a.w, a.r, a.out)
	}
	if v.Allowed {
		return true, nil
	}
	a.out.Action = ActionLimit
	a.out.Budget = v.Budget
	if a.held != nil {
		// The held submission is refused with the request that came for it:
		// the browser must not come back for it with a stale replay cookie.
		_, _, _ = a.s.cfg.State.Stash.Take(a.r.Context(), a.held.id, a.c.binding, a.now)
		clearCookie(a.w, a.r, replayCookie, a.r.URL.Path)
	}
	a.out.Status = http.StatusTooManyRequests
	secs := int((v.RetryAfter + time.Second - 1) / time.Second)
	a.w.Header().Set("Retry-After", strconv.Itoa(secs))
	minutes := (secs + 59) / 60
	return false, a.s.message(a.w, a.r, http.StatusTooManyRequests, "limit", func(t *challenge.Messages) (string, string) {
		return t.TooManyTitle, tooManyText(t, what, minutes)
	})
}
