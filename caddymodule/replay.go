package caddymodule

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/rempart/rempart/challenge"
)

// A held submission comes back in two steps. The verify endpoint answers a
// good proof with a redirect to the submission's path and a short-lived
// replay cookie naming it, scoped to that path; the browser comes back
// there (a 307 re-post after the JavaScript proof, a GET after the
// no-JavaScript wait), the pass pays one credit when the submission's
// method and path are protected, and the shield swaps in the held method
// and body before forwarding. The backend sees the original request, once.

// heldRequest is a held submission that the request comes to release.
type heldRequest struct {
	ID     string
	Method string
}

// heldSubmission looks at the request's replay cookie. It returns the held
// submission the request releases, if any. When the cookie names nothing
// held for this client and path any more, it clears the cookie; a request
// with a body then gets 410 (answered is true), since its body is the
// browser's re-post of the proof form, not the signer's submission.
func (h *Handler) heldSubmission(w http.ResponseWriter, r *http.Request, client challenge.Binding) (held *heldRequest, answered bool, err error) {
	c, cookieErr := r.Cookie(replayCookie)
	if cookieErr != nil {
		return nil, false, nil
	}
	sub, ok := h.state.stash.Peek(c.Value, client)
	if ok && sub.Path == r.URL.RequestURI() {
		return &heldRequest{ID: c.Value, Method: sub.Method}, false, nil
	}
	clearCookie(w, r, replayCookie, r.URL.Path)
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return nil, false, nil
	}
	return nil, true, h.message(w, r, http.StatusGone, expired)
}

// release takes the held submission out of the stash and makes the request
// the one the browser originally sent. It reports false when the
// submission is gone meanwhile.
func (h *Handler) release(w http.ResponseWriter, r *http.Request, client challenge.Binding, held *heldRequest, now time.Time) bool {
	clearCookie(w, r, replayCookie, r.URL.Path)
	sub, ok := h.state.stash.Take(held.ID, client, now)
	if !ok {
		return false
	}
	restoreSubmission(r, &sub)
	h.logger.Debug("held submission released", zap.String("path", r.URL.Path), zap.String("method", sub.Method))
	return true
}

// restoreSubmission turns the browser's re-post into the request it
// originally sent.
func restoreSubmission(r *http.Request, sub *challenge.Submission) {
	r.Method = sub.Method
	r.Body = io.NopCloser(bytes.NewReader(sub.Body))
	r.ContentLength = int64(len(sub.Body))
	r.Header.Set("Content-Length", strconv.Itoa(len(sub.Body)))
	if sub.ContentType == "" {
		r.Header.Del("Content-Type")
	} else {
		r.Header.Set("Content-Type", sub.ContentType)
	}
	r.Form, r.PostForm, r.MultipartForm = nil, nil, nil
	removeCookie(r, replayCookie)
}
