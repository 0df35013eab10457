package shield

import (
	"errors"
	"net/netip"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/rempart/rempart/challenge"
)

// Action is what the shield did with a request.
type Action string

// The actions, one per Outcome.
const (
	// ActionPass forwarded a request that is not a signature.
	ActionPass Action = "pass"
	// ActionSpend forwarded a signature, paid with one credit of a pass
	// (or let through by an allow rule, within the budgets).
	ActionSpend Action = "spend"
	// ActionChallenge answered with a challenge page.
	ActionChallenge Action = "challenge"
	// ActionHold held a signature's body and answered with a challenge.
	ActionHold Action = "hold"
	// ActionLimit refused a request over one of its budgets (429).
	ActionLimit Action = "limit"
	// ActionDeny refused a request as a deny rule says.
	ActionDeny Action = "deny"
	// ActionRefuse refused a request the shield cannot accept: unreadable,
	// from another site's form, too large, too early, expired.
	ActionRefuse Action = "refuse"
	// ActionVerify accepted a proof or a no-JavaScript wait and gave a pass.
	ActionVerify Action = "verify"
	// ActionAsset served one of the shield's own files.
	ActionAsset Action = "asset"
)

// Outcome is what happened to one request: the single value the shield
// produces for every request, where logs, metrics and a signature journal
// observe it.
type Outcome struct {
	// Action is what the shield did; in observe mode, what it would have
	// done (the request went through).
	Action Action
	// Status is the HTTP status the shield answered, or 0 when the request
	// went on to the next handler.
	Status int
	// Observed is set in observe mode.
	Observed bool
	// Signature reports whether the request was a signature.
	Signature bool
	// Method and Path are the request's, canonical when it is a signature.
	Method, Path string
	// Rule and Line name the policy rule that decided.
	Rule string
	Line int
	// Difficulty is the work a challenge asked for, or a signature needed.
	Difficulty int
	// FloodExtra is what the network's flood added to Difficulty (before
	// the cap), when the shield asked.
	FloodExtra int
	// Budget names the budget that refused a request.
	Budget string
	// Reason says, for refusals and failed proofs, why.
	Reason string
	// Held reports that a held submission was involved (held or released).
	Held bool
	// Client is who sent the request.
	Client Identity
	// Network is the prefix the client's tokens are bound to.
	Network netip.Prefix
	// Proof is the result of checking a proof of work or a finished wait
	// (one of the Proof constants), empty when the request brought none.
	Proof ProofResult
	// Solved is how long the proof took, from its challenge's issue to
	// its acceptance.
	Solved time.Duration
	// SignatureID is the id a forwarded signature carries to the petition
	// (SignatureHeader) and in the journal; empty for anything else.
	SignatureID string
	// PaidBits is the work the pass that paid for a forwarded signature
	// was bought with, 0 when no pass paid (an allow rule let it through).
	PaidBits int
	// PassID names that pass (the first half of its id, in hex): the
	// signatures one solved challenge paid for share it.
	PassID string
	// Upstream is the status the next handler answered a forwarded
	// signature with, when the shield keeps a journal; UpstreamError is
	// the error it returned, if any.
	Upstream      int
	UpstreamError string
	// Time is when the shield decided, by its clock.
	Time time.Time
}

// ProofResult is what checking a proof found.
type ProofResult string

// The results of checking a proof.
const (
	ProofOK        ProofResult = "ok"
	ProofForged    ProofResult = "forged"
	ProofReplayed  ProofResult = "replayed"
	ProofExpired   ProofResult = "expired"
	ProofTooLittle ProofResult = "too_little_work"
	ProofMalformed ProofResult = "malformed"
	ProofOther     ProofResult = "other"
)

// proofResult names what err, a proof's verification error, found.
func proofResult(err error) ProofResult {
	switch {
	case err == nil:
		return ProofOK
	case errors.Is(err, errReplayedChallenge):
		return ProofReplayed
	case errors.Is(err, challenge.ErrForged):
		return ProofForged
	case errors.Is(err, challenge.ErrExpired):
		return ProofExpired
	case errors.Is(err, challenge.ErrInsufficientWork), errors.Is(err, challenge.ErrTooEasy):
		return ProofTooLittle
	case errors.Is(err, challenge.ErrMalformed), errors.Is(err, challenge.ErrWrongKind):
		return ProofMalformed
	}
	return ProofOther
}

// MarshalLogObject writes the outcome as log fields.
func (o *Outcome) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("action", string(o.Action))
	if o.Status != 0 {
		enc.AddInt("status", o.Status)
	}
	if o.Observed {
		enc.AddBool("observed", true)
	}
	enc.AddBool("signature", o.Signature)
	enc.AddString("method", o.Method)
	enc.AddString("path", o.Path)
	if o.Rule != "" {
		enc.AddString("rule", o.Rule)
		enc.AddInt("line", o.Line)
	}
	if o.Difficulty != 0 {
		enc.AddInt("difficulty", o.Difficulty)
	}
	if o.Budget != "" {
		enc.AddString("budget", o.Budget)
	}
	if o.Reason != "" {
		enc.AddString("reason", o.Reason)
	}
	if o.Held {
		enc.AddBool("held", true)
	}
	o.addClient(enc)
	if o.Proof != "" {
		enc.AddString("proof", string(o.Proof))
	}
	return nil
}

// addClient writes who sent the request: its address, its network's
// ASN, organisation and class, and the prefix its tokens are bound to.
func (o *Outcome) addClient(enc zapcore.ObjectEncoder) {
	enc.AddString("ip", o.Client.IP.String())
	if o.Client.Tunneled.IsValid() {
		enc.AddString("tunneled_from", o.Client.Tunneled.String())
	}
	if o.Client.Known {
		enc.AddUint32("asn", o.Client.ASN)
		enc.AddString("org", journalText(o.Client.Org))
		enc.AddString("class", o.Client.Class)
	}
	enc.AddString("network", o.Network.String())
}

var _ zapcore.ObjectMarshaler = (*Outcome)(nil)

func outcomeField(o *Outcome) zap.Field { return zap.Object("outcome", o) }
