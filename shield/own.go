package shield

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/policies"
)

// maxVerifyBody bounds a proof form: a token, a nonce, a return path and
// a submission id fit easily.
const maxVerifyBody = 8 << 10

var errReplayedChallenge = errors.New("challenge already solved once")

func notAllowed(t *challenge.Messages) (string, string) { return t.NotAllowedTitle, t.NotAllowed }

// serveOwn answers requests under the shield's prefix: the page's assets
// and the verify and wait endpoints. Nothing there is forwarded.
func (s *Shield) serveOwn(w http.ResponseWriter, r *http.Request, c *client, now time.Time, out *Outcome) error {
	switch path := r.URL.Path; {
	case path == s.verifyPath:
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			out.Reason = "the verify endpoint takes POST"
			return s.refuse(w, r, out, http.StatusMethodNotAllowed, notAllowed)
		}
		return s.verify(w, r, c, now, out)
	case path == s.waitPath && s.cfg.NoScriptWait > 0:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			out.Reason = "the wait endpoint takes GET"
			return s.refuse(w, r, out, http.StatusMethodNotAllowed, notAllowed)
		}
		return s.waited(w, r, c, now, out)
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		if s.cfg.Pages.ServeAsset(w, r, strings.TrimPrefix(path, s.cfg.Prefix)) {
			out.Action = ActionAsset
			return nil
		}
	}
	out.Reason = "no such shield resource"
	return s.refuse(w, r, out, http.StatusNotFound, notFound)
}

// verify checks a proof of work. On success it sets a pass worth the work
// done and sends the browser on: back to the page it asked for (303), or,
// when the proof releases a held submission, to re-post it (307). A proof
// that fails is answered as the page it was for (see rechallenge), so a
// browser never gets stuck.
func (s *Shield) verify(w http.ResponseWriter, r *http.Request, c *client, now time.Time, out *Outcome) error {
	s.bodyDeadline(w, r)
	r.Body = http.MaxBytesReader(w, r.Body, maxVerifyBody)
	if err := r.ParseForm(); err != nil {
		out.Reason = "unreadable proof: " + err.Error()
		return s.refuse(w, r, out, http.StatusBadRequest, badRequest)
	}
	ret := challenge.SafeReturn(r.PostForm.Get("return"), s.cfg.Prefix)
	submission := r.PostForm.Get("submission")
	ch, err := s.cfg.Signer.VerifyProof(r.PostForm.Get("challenge"), r.PostForm.Get("nonce"), c.binding, challenge.MinDifficulty, now)
	// 307 makes the browser re-post (the proof form) to the submission's
	// path, where the held body replaces it.
	return s.accept(w, r, c, now, out, "proof", solved{ch.ID, ch.Issued, ch.Expires, ch.Difficulty, ch.Credits}, err,
		ret, submission, http.StatusTemporaryRedirect)
}

// waited accepts a browser without JavaScript back after its wait.
func (s *Shield) waited(w http.ResponseWriter, r *http.Request, c *client, now time.Time, out *Outcome) error {
	q := r.URL.Query()
	ret := challenge.SafeReturn(q.Get("return"), s.cfg.Prefix)
	submission := q.Get("submission")
	wait, err := s.cfg.Signer.VerifyWait(q.Get("t"), c.binding, s.cfg.ChallengeTTL, now)
	if errors.Is(err, challenge.ErrTooEarly) {
		out.Reason = "wait refused: " + err.Error()
		return s.waitMore(w, r, now, wait, ret, submission, out)
	}
	// 303: the browser comes back with a GET; the held submission restores
	// the method it was sent with.
	return s.accept(w, r, c, now, out, "wait", solved{wait.ID, wait.Issued, wait.Expires, wait.Difficulty, wait.Credits}, err,
		ret, submission, http.StatusSeeOther)
}

// solved is what a proof or a finished wait proves: the challenge it
// answers (for single use), the work it stands for and the credits it buys.
type solved struct {
	id                  [challenge.IDSize]byte
	issued, expires     time.Time
	difficulty, credits int
}

// accept checks that what was verified (err is the verification's) is
// solved once only, and grants its pass; a malformed token gets 400, a
// refused one what rechallenge answers.
func (s *Shield) accept(w http.ResponseWriter, r *http.Request, c *client, now time.Time, out *Outcome, what string, sol solved, err error, ret, submission string, status int) error {
	if errors.Is(err, challenge.ErrMalformed) || errors.Is(err, challenge.ErrWrongKind) {
		out.Proof = ProofMalformed
		out.Reason = "malformed " + what + ": " + err.Error()
		return s.refuse(w, r, out, http.StatusBadRequest, badRequest)
	}
	if err == nil {
		// A proof the store could not check is never accepted: the browser
		// solves again, its held submission kept, until the store answers.
		// A page's wait shares its challenge's id and is accepted up to
		// its wait longer: the record of a proof outlives both.
		until := sol.expires
		if what == "proof" && s.cfg.NoScriptWait > 0 {
			until = until.Add(s.cfg.NoScriptWait + time.Second)
		}
		used, serr := s.cfg.State.Challenges.Use(r.Context(), sol.id, 1, sol.issued, until, now)
		switch {
		case serr != nil:
			err = serr
		case !used:
			err = errReplayedChallenge
		}
	}
	if out.Proof = proofResult(err); err == nil {
		out.Solved = now.Sub(sol.issued)
	}
	if err != nil {
		out.Reason = what + " refused: " + err.Error()
		return s.rechallenge(w, r, c, now, ret, submission, status, out)
	}
	out.Difficulty = sol.difficulty
	return s.grant(w, r, c, now, sol.credits, sol.difficulty, ret, submission, status, out)
}

// waitMore answers a browser that comes back before its wait is over (its
// signer clicked "Continue" early): the same wait goes on, and the page says
// how long is left. It is neither a failure nor a new wait.
func (s *Shield) waitMore(w http.ResponseWriter, r *http.Request, now time.Time, wait challenge.Wait, ret, submission string, out *Outcome) error {
	left := int((wait.NotBefore.Sub(now) + time.Second - 1) / time.Second)
	q := url.Values{"t": {wait.Token}, "return": {ret}}
	if submission != "" {
		q.Set("submission", submission)
	}
	lang, t := challenge.Negotiate(r.Header.Get("Accept-Language"))
	out.Action = ActionChallenge
	out.Status = StatusChallenge
	out.Difficulty = wait.Difficulty
	// The page carries the wait's token and return path: it is rendered
	// for this request, never kept, so that early clicks with ever new
	// return paths cannot fill the kept refusal pages (see s.page).
	var page bytes.Buffer
	if err := s.cfg.Pages.RenderMessage(&page, challenge.MessagePage{
		Lang: lang, T: t, Title: t.Title, Text: fmt.Sprintf(t.WaitMore, max(left, 1)),
		Link: s.waitPath + "?" + q.Encode(), LinkText: t.Continue,
	}); err != nil {
		return internalError("rendering wait page", err)
	}
	writePage(w, r, StatusChallenge, "challenge", challenge.MessageSecurityPolicy, page.Bytes(), strconv.Itoa(page.Len()), false)
	return nil
}

// rechallenge answers a refused proof with a fresh challenge for what the
// browser was after: the held submission, or the page it asked for. What
// needs no challenge gets none: a refused proof naming an allowed page
// (robots.txt, say) would otherwise buy a challenge at that page's
// difficulty, counted against none of the budgets that its allow rule
// comes before. So an allowed target is reached without a pass, and a
// denied one is refused.
func (s *Shield) rechallenge(w http.ResponseWriter, r *http.Request, c *client, now time.Time, ret, submission string, submissionStatus int, out *Outcome) error {
	method, target := http.MethodGet, ret
	if submission != "" {
		// A submission the store cannot reach now stays named: it is
		// released once the store answers. One that is gone (expired, sent,
		// or lost with a restart) is said to be, as grant says it: a
		// challenge for its page would end on that page with nothing sent.
		switch sub, ok, err := s.cfg.State.Stash.Peek(r.Context(), submission, c.binding, now); {
		case ok:
			method, target = sub.Method, sub.Path
		case err == nil:
			out.Reason += "; held submission expired or already sent"
			return s.refuse(w, r, out, http.StatusGone, expired)
		}
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		u = &url.URL{Path: "/"}
	}
	active := s.cfg.Policy.Active(now)
	probe := r.Clone(r.Context())
	probe.Method, probe.URL = method, u
	var req policies.Request
	if _, answered, err := s.classify(w, probe, c, active, now, &Outcome{}, &req); answered {
		return err
	}
	dec := active.Chain.Decide(&req)
	a := action{s: s, w: w, r: probe, c: c, active: active, dec: &dec, now: now, out: out}
	switch dec.Action {
	case policies.ActionDeny:
		return a.deny()
	case policies.ActionAllow:
		// An allowed signature is released as the rule allows it, within
		// its signature budgets, when it comes back.
		out.Action = ActionRefuse
		w.Header().Set("Rempart-Action", "refuse")
		return s.sendOn(w, r, c, now, ret, submission, submissionStatus, out)
	}
	if ok, err := a.admitChallenge(); !ok {
		return err
	}
	_, t := challenge.Negotiate(r.Header.Get("Accept-Language"))
	out.Action = ActionChallenge
	return s.renderChallenge(w, r, c, now, a.issueDifficulty(), dec.Credits, ret, submission, t.Retry, out)
}

// grant gives the client a pass worth the work done and sends it on: back
// to ret, or to the held submission's path with a replay cookie naming it.
// When the submission is gone, the pass is kept (its credit unspent) and
// the browser is asked to submit again.
func (s *Shield) grant(w http.ResponseWriter, r *http.Request, c *client, now time.Time, credits, difficulty int, ret, submission string, submissionStatus int, out *Outcome) error {
	if err := s.setPass(w, r, c, credits, difficulty, now, s.cfg.PassTTL); err != nil {
		return err
	}
	out.Action = ActionVerify
	return s.sendOn(w, r, c, now, ret, submission, submissionStatus, out)
}

// sendOn sends the browser back to ret, or to the held submission's path
// with a replay cookie naming it.
func (s *Shield) sendOn(w http.ResponseWriter, r *http.Request, c *client, now time.Time, ret, submission string, submissionStatus int, out *Outcome) error {
	if submission == "" {
		http.Redirect(w, r, ret, http.StatusSeeOther)
		out.Status = http.StatusSeeOther
		return nil
	}
	out.Held = true
	sub, ok, err := s.cfg.State.Stash.Peek(r.Context(), submission, c.binding, now)
	if err != nil {
		out.Reason = "held submission unreachable: " + err.Error()
		return s.unavailable(w, r, out)
	}
	if !ok {
		out.Reason = "held submission expired or already sent"
		return s.refuse(w, r, out, http.StatusGone, expired)
	}
	target := challenge.SafeReturn(sub.Path, s.cfg.Prefix)
	setCookie(w, r, replayCookie, submission, pathOf(target), s.cfg.ChallengeTTL)
	w.Header().Set("Location", target)
	w.WriteHeader(submissionStatus)
	out.Status = submissionStatus
	return nil
}

// pathOf returns the path part of a same-site target, without
// ;parameters, which a cookie's Path cannot hold.
func pathOf(target string) string {
	if i := strings.IndexAny(target, "?#;"); i >= 0 {
		return target[:i]
	}
	return target
}
