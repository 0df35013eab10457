package shield

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/policies"
)

// admitChallenge counts a challenge about to be issued against the
// challenge budgets, or answers itself and reports false: 429 when they are
// spent, and a refusal, counted against nothing, for a load by another
// site's page, which could never solve it (see embeddedElsewhere).
func (a *action) admitChallenge() (bool, error) {
	if embeddedElsewhere(a.r) {
		a.out.Reason = joinReason(a.out.Reason, "loaded by another site's page, which cannot solve a challenge")
		return false, a.s.refuse(a.w, a.r, a.out, http.StatusForbidden, denied)
	}
	return a.admit(policies.CountChallenges)
}

// joinReason adds more to a reason already given.
func joinReason(reason, more string) string {
	if reason == "" {
		return more
	}
	return reason + "; " + more
}

// challenge answers with a fresh challenge page, counted against the
// challenge budgets. A signature's body is held first, so that it is sent
// on once the browser has solved the challenge; only signatures are held,
// so nothing else can take their room in the stash.
func (a *action) challenge() error {
	if ok, err := a.admitChallenge(); !ok {
		return err
	}
	ret := challenge.SafeReturn(a.r.URL.RequestURI(), a.s.cfg.Prefix)
	submission := ""
	a.out.Action = ActionChallenge
	switch {
	case a.held != nil:
		// The body is held already: challenge again for the same one.
		submission, ret = a.held.id, "/"
		a.out.Action = ActionHold
	case a.dec.Signature && !safeMethod(a.r.Method):
		id, answered, err := a.hold()
		if answered {
			return err
		}
		submission = id
		a.out.Action = ActionHold
	}
	return a.s.renderChallenge(a.w, a.r, a.c, a.now, a.issueDifficulty(), a.dec.Credits, ret, submission, "", a.out)
}

// hold puts the request's body in the stash, in the client's network's
// share. It returns the id that releases it, or answers the request itself
// (an address it could not be released at, body too large or unreadable).
func (a *action) hold() (id string, answered bool, err error) {
	s := a.s
	// A held submission is released by a redirect to its own address,
	// which the verify endpoint gives back only as SafeReturn does: held at
	// one it changes, the submission is lost after the proof. Refused now,
	// its form is still a page back.
	if uri := a.r.URL.RequestURI(); challenge.SafeReturn(uri, s.cfg.Prefix) != uri {
		if len(uri) > challenge.MaxReturnLen {
			a.out.Reason = "address too long to hold a submission for"
			return "", true, s.refuse(a.w, a.r, a.out, http.StatusRequestURITooLong, addressTooLong)
		}
		a.out.Reason = "address a held submission could not be sent back to"
		return "", true, s.refuse(a.w, a.r, a.out, http.StatusBadRequest, unreadablePath)
	}
	if a.r.ContentLength > int64(s.cfg.MaxBody) {
		a.out.Reason = "body too large to hold"
		return "", true, s.refuse(a.w, a.r, a.out, http.StatusRequestEntityTooLarge, tooLarge)
	}
	body, answered, err := a.readToHold()
	if answered {
		return "", true, err
	}
	id, err = s.cfg.State.Stash.Put(a.r.Context(), challenge.Submission{
		Method: a.r.Method, Path: a.r.URL.RequestURI(), ContentType: a.r.Header.Get("Content-Type"),
		Body: body, Expires: a.now.Add(s.cfg.ChallengeTTL),
	}, a.c.binding, a.c.stashOwner())
	if err != nil {
		return "", true, internalError("holding submission", err)
	}
	return id, false, nil
}

// readToHold reads the body of a submission to hold, within the site's
// bounds on the bodies being read (State.Reading), or answers the request
// itself: the wait for room counts in the body's time to arrive.
func (a *action) readToHold() (body []byte, answered bool, err error) {
	s := a.s
	deadline := s.bodyDeadlineFor(a.r)
	if _, begun := a.r.Body.(formBody); !begun {
		deadline = s.bodyDeadline(a.w, a.r) // one deadline for a body, however often read
	}
	charge := a.r.ContentLength
	if charge < 0 {
		charge = int64(s.cfg.MaxBody)
	}
	// A read cut off for a network reading fewer (see Reading) ends at
	// once, and is asked to send again as one that found no room.
	var cut atomic.Bool
	cutOff := func() {
		cut.Store(true)
		_ = http.NewResponseController(a.w).SetReadDeadline(longAgo)
	}
	enter := s.cfg.State.Reading.Enter
	if a.r.ProtoMajor >= 2 {
		// HTTP/2 and HTTP/3 read a stream's body into the server's memory
		// whether the shield reads it or not, up to their flow-control
		// window (1 MiB a connection in net/http): one waiting for room
		// would be held all the same, uncounted. It is refused at once.
		enter = s.cfg.State.Reading.EnterNow
	}
	ctx, cancel := context.WithDeadline(a.r.Context(), deadline)
	leave, err := enter(ctx, a.c.stashOwner(), charge, cutOff)
	cancel()
	if err != nil {
		// Nothing was read: the browser still has the form, and sends it
		// again when the signer reloads.
		a.out.Reason = "too many submissions being read at once, from this network or in all"
		return nil, true, s.unavailable(a.w, a.r, a.out)
	}
	defer leave() // once, whatever happens to the read
	body, err = readBody(a.r.Body, a.r.ContentLength, s.cfg.MaxBody)
	// Ended before bodyRead clears the deadline: a cut, which sets it,
	// can only come before.
	leave()
	if err != nil && cut.Load() {
		a.out.Reason = "gave way to a network with fewer submissions being read"
		return nil, true, s.unavailable(a.w, a.r, a.out)
	}
	if errors.Is(err, errBodyTooLarge) {
		a.out.Reason = "body too large to hold"
		return nil, true, s.refuse(a.w, a.r, a.out, http.StatusRequestEntityTooLarge, tooLarge)
	}
	if err != nil {
		a.out.Reason = "unreadable body: " + err.Error()
		return nil, true, s.refuse(a.w, a.r, a.out, http.StatusBadRequest, badRequest)
	}
	s.bodyRead(a.w)
	return body, false, nil
}

var errBodyTooLarge = errors.New("body too large")

// longAgo is a read deadline that has passed: a read set to it ends at
// once, on every protocol (HTTP/2 resets the stream only for one before
// the time it is set at).
var longAgo = time.Unix(1, 0)

// readBody reads a body to its end, into one buffer of its length when it
// is known (-1 when not), and refuses one longer than limit.
func readBody(r io.Reader, length int64, limit int) ([]byte, error) {
	if length > int64(limit) {
		return nil, errBodyTooLarge
	}
	if length < 0 {
		body, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
		if err == nil && len(body) > limit {
			return nil, errBodyTooLarge
		}
		return body, err
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	var more [1]byte
	if n, err := io.ReadFull(r, more[:]); n > 0 {
		return nil, errBodyTooLarge
	} else if err != io.EOF {
		return nil, err
	}
	return body, nil
}

// renderChallenge writes a challenge page of the given difficulty whose
// pass carries credits; problem, when set, says why a proof was refused.
func (s *Shield) renderChallenge(w http.ResponseWriter, r *http.Request, c *client, now time.Time, difficulty, credits int, ret, submission, problem string, out *Outcome) error {
	if credits < 1 {
		credits = 1
	}
	ch, err := s.cfg.Signer.IssueChallenge(c.binding, difficulty, credits, now, s.cfg.ChallengeTTL)
	if err != nil {
		return internalError("issuing challenge", err)
	}
	var noScript *challenge.NoScriptWait
	if s.cfg.NoScriptWait > 0 {
		// One page, one pass: the wait shares the challenge's id.
		wait, err := s.cfg.Signer.IssueWaitFor(ch, c.binding, s.cfg.NoScriptWait, s.cfg.ChallengeTTL, now)
		if err != nil {
			return internalError("issuing wait challenge", err)
		}
		q := url.Values{"t": {wait.Token}, "return": {ret}}
		if submission != "" {
			q.Set("submission", submission)
		}
		noScript = &challenge.NoScriptWait{URL: s.waitPath + "?" + q.Encode(), Seconds: int(wait.Wait.Seconds())}
	}
	lang, t := challenge.Negotiate(r.Header.Get("Accept-Language"))
	buf := pageBuffers.Get().(*[]byte)
	defer pageBuffers.Put(buf)
	page, gzipped, err := s.cfg.Pages.AppendChallenge((*buf)[:0], &challenge.ChallengePage{
		Lang: lang, T: t, Challenge: ch, VerifyPath: s.verifyPath,
		Return: ret, Submission: submission, Problem: problem, NoScript: noScript,
	}, challenge.AcceptsGzip(r.Header.Get("Accept-Encoding")))
	if err != nil {
		return internalError("rendering challenge page", err)
	}
	if cap(page) <= maxPooledPage {
		*buf = page
	}
	out.Difficulty = ch.Difficulty
	out.Status = StatusChallenge
	writePage(w, r, StatusChallenge, "challenge", challenge.ContentSecurityPolicy, page, strconv.Itoa(len(page)), gzipped)
	return nil
}

// pageBuffers holds the buffers challenge pages are written into: one
// page is sent per challenge, and a flood is made of challenges.
var pageBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// maxPooledPage bounds the buffers kept in pageBuffers, so that one page
// with a long return path does not pin a large buffer.
const maxPooledPage = 16 << 10
