package shield

import (
	"net/http"

	"github.com/rempart/rempart/challenge"
)

// unavailableRetry is the Retry-After, in seconds, of a 503 answered
// while the shared store does not answer.
const unavailableRetry = "5"

func unavailableText(t *challenge.Messages) (string, string) {
	return t.UnavailableTitle, t.Unavailable
}

// unavailable answers 503 when the store that must decide does not
// answer: nothing is accepted unchecked, and what the client sent stays
// held for when it answers again.
func (s *Shield) unavailable(w http.ResponseWriter, r *http.Request, out *Outcome) error {
	w.Header().Set("Retry-After", unavailableRetry)
	return s.refuse(w, r, out, http.StatusServiceUnavailable, unavailableText)
}
