package caddymodule

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/rempart/rempart/challenge"
)

const (
	verifyPath = PublicPrefix + "verify"
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

	c, err := h.signer.VerifyProof(r.PostForm.Get("challenge"), r.PostForm.Get("nonce"), client, h.Difficulty, now)
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
		return h.challengePage(w, r, client, now, ret, submission, t.Retry)
	}

	if err := h.setPass(w, r, client, h.Credits, now, time.Duration(h.PassTTL)); err != nil {
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
	setCookie(w, r, replayCookie, submission, time.Duration(h.ChallengeTTL))
	w.Header().Set("Location", challenge.SafeReturn(sub.Path, PublicPrefix))
	w.WriteHeader(http.StatusTemporaryRedirect)
	return nil
}

var errReplayedChallenge = errors.New("challenge already solved once")
