package caddymodule

import (
	"bytes"
	"io"
	"net/http"
	"strconv"

	"github.com/rempart/rempart/challenge"
)

// A held submission comes back in two steps. The verify endpoint answers a
// good proof with 307 to the submission's path and a short-lived replay
// cookie naming it; the browser re-posts there (307 keeps the method), the
// pass pays one credit, and the shield swaps in the held body before
// forwarding. The backend sees the original request, once.

// replayCookieValue returns the id of the held submission the request
// re-posts, or "".
func replayCookieValue(r *http.Request) string {
	c, err := r.Cookie(replayCookie)
	if err != nil {
		return ""
	}
	return c.Value
}

// heldFor reports whether the submission id is held for this client and
// this request's path.
func (h *Handler) heldFor(id string, r *http.Request, client challenge.Binding) bool {
	sub, ok := h.state.stash.Peek(id, client)
	return ok && sub.Path == r.URL.RequestURI()
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
