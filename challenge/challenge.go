package challenge

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/bits"
	"time"
)

// Difficulty bounds, in leading zero bits of SHA-256. Above MaxDifficulty a
// browser would need hours; below MinDifficulty the work is meaningless.
const (
	MinDifficulty = 1
	MaxDifficulty = 40
)

// NonceLen is the length of a proof's nonce: 8 bytes in hexadecimal.
const NonceLen = 16

// Challenge is a puzzle issued to one client.
type Challenge struct {
	// Token is the signed challenge as the client carries it.
	Token string
	// ID is unique per challenge, so that a solved one can be refused when
	// presented again.
	ID [IDSize]byte
	// Seed is what the client hashes with its nonce.
	Seed [macSize]byte
	// Difficulty is the number of leading zero bits a proof needs.
	Difficulty int
	// Credits is how many protected requests the pass a proof buys will
	// carry: the policy decides it when the challenge is issued.
	Credits int
	// Issued is when the challenge was issued: single-use records fail
	// closed by issue time.
	Issued time.Time
	// Expires is when the challenge stops being accepted.
	Expires time.Time
}

// SeedHex returns the seed in the hexadecimal form the solver takes.
func (c Challenge) SeedHex() string { return hex.EncodeToString(c.Seed[:]) }

// IssueChallenge returns a fresh challenge of the given difficulty, whose
// pass will carry credits, bound to b, that expires after ttl.
func (s *Signer) IssueChallenge(b Binding, difficulty, credits int, now time.Time, ttl time.Duration) (Challenge, error) {
	if difficulty < MinDifficulty || difficulty > MaxDifficulty {
		return Challenge{}, fmt.Errorf("difficulty %d out of range [%d, %d]", difficulty, MinDifficulty, MaxDifficulty)
	}
	if credits < 1 || credits > MaxCredits {
		return Challenge{}, fmt.Errorf("credits %d out of range [1, %d]", credits, MaxCredits)
	}
	t := token{kind: kindChallenge, difficulty: uint8(difficulty), credits: uint8(credits), issued: now.Unix(), expires: now.Add(ttl).Unix()}
	enc, err := s.issue(&t, b)
	if err != nil {
		return Challenge{}, err
	}
	return challengeFrom(enc, t), nil
}

func challengeFrom(enc string, t token) Challenge {
	return Challenge{
		Token: enc, ID: t.id, Seed: t.mac, Difficulty: int(t.difficulty), Credits: int(t.credits),
		Issued: time.Unix(t.issued, 0), Expires: time.Unix(t.expires, 0),
	}
}

// VerifyProof checks that nonceHex solves the challenge token for client b:
// the token is authentic, unexpired, at least minDifficulty, and
// SHA-256(seed || nonce) has the leading zero bits the token asks for. It
// costs one HMAC and one SHA-256. It does not know whether the challenge was
// already solved: the caller keeps that record (see Spent).
func (s *Signer) VerifyProof(tokenStr, nonceHex string, b Binding, minDifficulty int, now time.Time) (Challenge, error) {
	nonce, err := parseNonce(nonceHex)
	if err != nil {
		return Challenge{}, err
	}
	t, err := s.open(tokenStr, kindChallenge, b, now)
	if err != nil {
		return Challenge{}, err
	}
	c := challengeFrom(tokenStr, t)
	if c.Difficulty < minDifficulty {
		return c, fmt.Errorf("%w: %d bits, want at least %d", ErrTooEasy, c.Difficulty, minDifficulty)
	}
	if got := LeadingZeroBits(c.Seed, nonce); got < c.Difficulty {
		return c, fmt.Errorf("%w: %d leading zero bits, want %d", ErrInsufficientWork, got, c.Difficulty)
	}
	return c, nil
}

func parseNonce(s string) (uint64, error) {
	if len(s) != NonceLen {
		return 0, fmt.Errorf("%w: nonce length %d, want %d hex digits", ErrMalformed, len(s), NonceLen)
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		var v byte
		switch {
		case '0' <= c && c <= '9':
			v = c - '0'
		case 'a' <= c && c <= 'f':
			v = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			v = c - 'A' + 10
		default:
			return 0, fmt.Errorf("%w: nonce is not hexadecimal", ErrMalformed)
		}
		n = n<<4 | uint64(v)
	}
	return n, nil
}

// LeadingZeroBits returns the number of leading zero bits of
// SHA-256(seed || big-endian nonce). The 40-byte input fits one SHA-256
// block, which the browser solver exploits.
func LeadingZeroBits(seed [macSize]byte, nonce uint64) int {
	var in [macSize + 8]byte
	copy(in[:], seed[:])
	binary.BigEndian.PutUint64(in[macSize:], nonce)
	sum := sha256.Sum256(in[:])
	n := 0
	for i := 0; i < len(sum); i += 8 {
		w := binary.BigEndian.Uint64(sum[i:])
		if w != 0 {
			return n + bits.LeadingZeros64(w)
		}
		n += 64
	}
	return n
}

// Solve finds a nonce for c by brute force in Go. The shield never calls
// it; tests and load tools use it to play the client.
func Solve(c Challenge) string {
	for nonce := uint64(0); ; nonce++ {
		if LeadingZeroBits(c.Seed, nonce) >= c.Difficulty {
			return fmt.Sprintf("%016x", nonce)
		}
	}
}
