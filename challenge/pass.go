package challenge

import (
	"fmt"
	"time"
)

// MaxCredits is the most signatures one pass can buy.
const MaxCredits = 255

// Pass is proof that a client solved a challenge: it lets the client read
// the site and spend a number of signature credits until it expires.
type Pass struct {
	// Token is the signed pass as the client carries it (a cookie value).
	Token string
	// ID is unique per pass; spending records use it.
	ID [IDSize]byte
	// Credits is how many protected requests the pass buys.
	Credits int
	// Difficulty is the work the pass was bought with, in bits: a signature
	// whose decision asks for more needs a new proof (a pass is worth only
	// what was paid for it).
	Difficulty int
	// Issued is when the pass was issued.
	Issued time.Time
	// Expires is when the pass stops being accepted.
	Expires time.Time
}

// IssuePass returns a pass bound to b carrying credits, bought with
// difficulty bits of work, valid for ttl.
func (s *Signer) IssuePass(b Binding, credits, difficulty int, now time.Time, ttl time.Duration) (Pass, error) {
	if credits < 0 || credits > MaxCredits {
		return Pass{}, fmt.Errorf("credits %d out of range [0, %d]", credits, MaxCredits)
	}
	if difficulty < 0 || difficulty > MaxDifficulty {
		return Pass{}, fmt.Errorf("difficulty %d out of range [0, %d]", difficulty, MaxDifficulty)
	}
	t := token{kind: kindPass, credits: uint8(credits), difficulty: uint8(difficulty), issued: now.Unix(), expires: now.Add(ttl).Unix()}
	enc, err := s.issue(&t, b)
	if err != nil {
		return Pass{}, err
	}
	return passFrom(enc, t), nil
}

// VerifyPass checks that tokenStr is an authentic, unexpired pass issued to
// client b. It costs one HMAC. Whether its credits are spent is the
// caller's record (see Spent).
func (s *Signer) VerifyPass(tokenStr string, b Binding, now time.Time) (Pass, error) {
	t, err := s.open(tokenStr, kindPass, b, now)
	if err != nil {
		return Pass{}, err
	}
	return passFrom(tokenStr, t), nil
}

func passFrom(enc string, t token) Pass {
	return Pass{
		Token: enc, ID: t.id, Credits: int(t.credits), Difficulty: int(t.difficulty),
		Issued: time.Unix(t.issued, 0), Expires: time.Unix(t.expires, 0),
	}
}
