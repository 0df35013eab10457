package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/rempart/rempart/challenge"
)

const (
	verifyPath = PublicPrefix + "verify"
	waitPath   = PublicPrefix + "wait"
	// maxVerifyBody bounds a proof form: a token, a nonce, a return path
	// and a submission id fit easily.
	maxVerifyBody = 8 << 10
)

// serveOwn answers requests under the shield's public prefix: the page's
// assets and the verify endpoint. Nothing there is forwarded.
func (h *Handler) serveOwn(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if r.URL.Path == verifyPath {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			return caddyhttp.Error(http.StatusMethodNotAllowed, errors.New("the verify endpoint takes POST"))
		}
		return h.verify(w, r)
	}
	if r.URL.Path == waitPath && h.NoScriptWait > 0 && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		return h.waited(w, r)
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		if h.pages.ServeAsset(w, r, strings.TrimPrefix(r.URL.Path, PublicPrefix)) {
			return nil
		}
	}
	return caddyhttp.Error(http.StatusNotFound, errors.New("no such shield resource"))
}

// verify checks a proof of work. On success it sets a pass and sends the
// browser on: back to the page it asked for (303), or, when the proof
// releases a held submission, to re-post it (307, see replay.go). A proof
// that fails gets a fresh challenge, so a browser never gets stuck.
func (h *Handler) verify(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxVerifyBody)
	if err := r.ParseForm(); err != nil {
		h.logger.Debug("unreadable proof", zap.Error(err))
		return h.message(w, r, http.StatusBadRequest, badRequest)
	}
	now := time.Now()
	client := h.binding(r)
	ret := challenge.SafeReturn(r.PostForm.Get("return"), PublicPrefix)
	submission := r.PostForm.Get("submission")

	// The difficulty is signed into the challenge, as the policy chose it
	// (a rule may ask for less than the default): any valid one is accepted.
	c, err := h.signer.VerifyProof(r.PostForm.Get("challenge"), r.PostForm.Get("nonce"), client, challenge.MinDifficulty, now)
	if errors.Is(err, challenge.ErrMalformed) || errors.Is(err, challenge.ErrWrongKind) {
		h.logger.Debug("malformed proof", zap.Error(err))
		return h.message(w, r, http.StatusBadRequest, badRequest)
	}
	if err == nil && !h.state.challenges.Use(c.ID, 1, c.Expires, now) {
		err = errReplayedChallenge
	}
	_, t := challenge.Negotiate(r.Header.Get("Accept-Language"))
	if err != nil {
		h.logger.Debug("proof refused", zap.Error(err))
		return h.challengePage(w, r, client, h.decide(r, http.MethodGet, pathOf(ret)), now, ret, submission, t.Retry)
	}

	// 307 makes the browser re-post (the proof form) to the submission's
	// path, where the held body replaces it.
	return h.grant(w, r, client, now, c.Credits, ret, submission, http.StatusTemporaryRedirect)
}

// waited accepts a browser without JavaScript back after its wait.
func (h *Handler) waited(w http.ResponseWriter, r *http.Request) error {
	now := time.Now()
	client := h.binding(r)
	q := r.URL.Query()
	ret := challenge.SafeReturn(q.Get("return"), PublicPrefix)
	submission := q.Get("submission")
	wait, err := h.signer.VerifyWait(q.Get("t"), client, time.Duration(h.ChallengeTTL), now)
	if errors.Is(err, challenge.ErrMalformed) || errors.Is(err, challenge.ErrWrongKind) {
		h.logger.Debug("malformed wait challenge", zap.Error(err))
		return h.message(w, r, http.StatusBadRequest, badRequest)
	}
	if err == nil && !h.state.challenges.Use(wait.ID, 1, wait.Expires, now) {
		err = errReplayedChallenge
	}
	if err != nil {
		h.logger.Debug("wait challenge refused", zap.Error(err))
		_, t := challenge.Negotiate(r.Header.Get("Accept-Language"))
		return h.challengePage(w, r, client, h.decide(r, http.MethodGet, pathOf(ret)), now, ret, submission, t.Retry)
	}
	// 303: the browser comes back with a GET; the held submission restores
	// the method it was sent with.
	return h.grant(w, r, client, now, h.Credits, ret, submission, http.StatusSeeOther)
}

// grant gives the client a pass and sends it on: back to ret, or to the
// held submission's path with a replay cookie naming it.
func (h *Handler) grant(w http.ResponseWriter, r *http.Request, client challenge.Binding, now time.Time, credits int, ret, submission string, submissionStatus int) error {
	if err := h.setPass(w, r, client, credits, now, time.Duration(h.PassTTL)); err != nil {
		return err
	}
	if submission == "" {
		http.Redirect(w, r, ret, http.StatusSeeOther)
		return nil
	}
	sub, ok := h.state.stash.Peek(submission, client)
	if !ok {
		return h.message(w, r, http.StatusGone, expired)
	}
	target := challenge.SafeReturn(sub.Path, PublicPrefix)
	setCookie(w, r, replayCookie, submission, pathOf(target), time.Duration(h.ChallengeTTL))
	w.Header().Set("Location", target)
	w.WriteHeader(submissionStatus)
	return nil
}

// noScriptWait returns the way through for browsers without JavaScript,
// or nil when it is off.
func (h *Handler) noScriptWait(client challenge.Binding, now time.Time, ret, submission string) (*challenge.NoScriptWait, error) {
	if h.NoScriptWait == 0 {
		return nil, nil
	}
	wait, err := h.signer.IssueWait(client, time.Duration(h.NoScriptWait), time.Duration(h.ChallengeTTL), now)
	if err != nil {
		return nil, fmt.Errorf("issuing wait challenge: %w", err)
	}
	q := url.Values{"t": {wait.Token}, "return": {ret}}
	if submission != "" {
		q.Set("submission", submission)
	}
	return &challenge.NoScriptWait{URL: waitPath + "?" + q.Encode(), Seconds: int(wait.Wait / time.Second)}, nil
}

var errReplayedChallenge = errors.New("challenge already solved once")

// pathOf returns the path part of a same-site target.
func pathOf(target string) string {
	if i := strings.IndexAny(target, "?#"); i >= 0 {
		return target[:i]
	}
	return target
}
