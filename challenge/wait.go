package challenge

import (
	"fmt"
	"time"
)

// kindWait marks a no-JavaScript challenge: time instead of work.
const kindWait byte = 'W'

// MaxWait is the longest wait a no-JavaScript challenge can ask for.
const MaxWait = 255 * time.Second

// Wait is a challenge for browsers without JavaScript: instead of a proof
// of work, the browser must come back after a wait, which a meta refresh
// does by itself. It prices a signature in time only, so it is off unless
// the admin allows it.
type Wait struct {
	// Token is the signed wait challenge as the browser carries it.
	Token string
	// ID is unique per challenge, for single use.
	ID [IDSize]byte
	// Wait is how long the browser must wait before coming back.
	Wait time.Duration
	// Difficulty is the proof of work the wait stands in for: the pass it
	// buys is worth that much.
	Difficulty int
	// Credits is how many protected requests the pass it buys carries.
	Credits int
	// Issued is when the wait was issued.
	Issued time.Time
	// NotBefore is when the browser may come back.
	NotBefore time.Time
	// Expires is when the challenge stops being accepted.
	Expires time.Time
}

// IssueWait returns a wait challenge bound to b, standing in for a proof
// of difficulty bits that buys credits: it is accepted from now+wait until
// now+wait+window.
func (s *Signer) IssueWait(b Binding, wait, window time.Duration, difficulty, credits int, now time.Time) (Wait, error) {
	t, err := waitToken(wait, window, difficulty, credits, now)
	if err != nil {
		return Wait{}, err
	}
	enc, err := s.issue(&t, b)
	if err != nil {
		return Wait{}, err
	}
	return waitFrom(enc, t, window), nil
}

// IssueWaitFor returns a wait challenge that stands in for ch on the same
// page: bound to b, worth ch's difficulty and credits, and with ch's id, so
// that the single-use record that spends one spends the other, and one
// page buys one pass. It is accepted from now+wait until now+wait+window,
// which may be after ch expires: the record of either must outlive both.
func (s *Signer) IssueWaitFor(ch Challenge, b Binding, wait, window time.Duration, now time.Time) (Wait, error) {
	t, err := waitToken(wait, window, ch.Difficulty, ch.Credits, now)
	if err != nil {
		return Wait{}, err
	}
	t.id = ch.ID
	return waitFrom(s.seal(&t, b), t, window), nil
}

// waitToken checks a wait's parameters and returns its token, without id.
func waitToken(wait, window time.Duration, difficulty, credits int, now time.Time) (token, error) {
	if wait < time.Second || wait > MaxWait {
		return token{}, fmt.Errorf("wait %s out of range [1s, %s]", wait, MaxWait)
	}
	if difficulty < MinDifficulty || difficulty > MaxDifficulty {
		return token{}, fmt.Errorf("difficulty %d out of range [%d, %d]", difficulty, MinDifficulty, MaxDifficulty)
	}
	if credits < 1 || credits > MaxCredits {
		return token{}, fmt.Errorf("credits %d out of range [1, %d]", credits, MaxCredits)
	}
	secs := uint8(wait / time.Second)
	// Tokens count in whole seconds: the expiry is rounded up, so that the
	// wait it implies (expiry - window) is never shorter than asked.
	end := now.Add(time.Duration(secs)*time.Second + window)
	expires := end.Unix()
	if end.After(time.Unix(expires, 0)) {
		expires++
	}
	return token{
		kind: kindWait, wait: secs, difficulty: uint8(difficulty), credits: uint8(credits),
		issued: now.Unix(), expires: expires,
	}, nil
}

// VerifyWait checks that tokenStr is an authentic wait challenge issued to
// b, that its wait is over and that it has not expired. window must be the
// one it was issued with.
func (s *Signer) VerifyWait(tokenStr string, b Binding, window time.Duration, now time.Time) (Wait, error) {
	t, err := s.open(tokenStr, kindWait, b, now)
	if err != nil {
		return Wait{}, err
	}
	w := waitFrom(tokenStr, t, window)
	if now.Before(w.NotBefore) {
		return w, fmt.Errorf("%w: back %s too early", ErrTooEarly, w.NotBefore.Sub(now).Round(time.Second))
	}
	return w, nil
}

func waitFrom(enc string, t token, window time.Duration) Wait {
	exp := time.Unix(t.expires, 0)
	return Wait{
		Token: enc, ID: t.id, Wait: time.Duration(t.wait) * time.Second,
		Difficulty: int(t.difficulty), Credits: int(t.credits), Issued: time.Unix(t.issued, 0),
		NotBefore: exp.Add(-window), Expires: exp,
	}
}
