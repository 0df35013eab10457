package challenge

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"net/netip"
	"sync"
	"time"
)

// Reasons a token or proof is refused. Callers match them with errors.Is;
// the wrapped message says what exactly was wrong.
var (
	ErrMalformed        = errors.New("malformed token")
	ErrWrongKind        = errors.New("token of the wrong kind")
	ErrExpired          = errors.New("token expired")
	ErrForged           = errors.New("token signature does not match this client")
	ErrInsufficientWork = errors.New("proof of work does not meet the difficulty")
	ErrTooEasy          = errors.New("challenge difficulty below the required minimum")
	ErrTooEarly         = errors.New("wait not over")
)

// Token kinds, carried in the signed payload so that a challenge can never be
// presented as a pass or the other way round.
const (
	kindChallenge byte = 'C'
	kindPass      byte = 'P'
)

const (
	// tokenVersion 2 added the issue time, the difficulty a pass was bought
	// at and the key epoch; version 1 tokens are refused.
	tokenVersion = 2
	// IDSize is the size of the random id that makes every token unique.
	IDSize = 16
	// payload: version, kind, difficulty (of a challenge, or that a pass or
	// wait was bought at), credits (a pass's, or the pass a challenge or
	// wait buys), wait seconds (of a wait), issue time, expiry, id.
	payloadSize = 1 + 1 + 1 + 1 + 1 + 8 + 8 + IDSize
	macSize     = sha256.Size
	tokenSize   = payloadSize + macSize
	// TokenLen is the length of an encoded token, for cheap rejection of
	// input of the wrong size before any decoding.
	TokenLen = (tokenSize*8 + 5) / 6

	// maxBoundUserAgent caps how much of the User-Agent enters the MAC, so a
	// huge header cannot make verification expensive.
	maxBoundUserAgent = 512
	maxBoundHost      = 255
)

// Binding is what ties a token to the client it was issued to. A token
// presented by another network, browser or site is refused.
type Binding struct {
	// Network is the client's address masked to its binding prefix (a /24 or
	// /48 by default), so that a phone moving inside its carrier's range
	// keeps its pass.
	Network netip.Prefix
	// UserAgent is the client's User-Agent header as sent.
	UserAgent string
	// Host is the host the request was addressed to.
	Host string
}

// NewBinding masks ip to bits (IPv4) or bits6 (IPv6) and returns the binding.
func NewBinding(ip netip.Addr, bits4, bits6 int, userAgent, host string) Binding {
	ip = ip.Unmap()
	bits := bits6
	if ip.Is4() {
		bits = bits4
	}
	network, err := ip.Prefix(bits)
	if err != nil {
		// Only an invalid address gets here; bind it to nothing rather than fail
		// open: its tokens then only match other invalid addresses.
		network = netip.Prefix{}
	}
	return Binding{Network: network, UserAgent: userAgent, Host: host}
}

// token is the decoded form shared by challenges, waits and passes.
type token struct {
	kind       byte
	difficulty uint8
	credits    uint8
	wait       uint8
	issued     int64
	expires    int64
	id         [IDSize]byte
	mac        [macSize]byte
}

// Signer issues and verifies tokens with one secret key. It is safe for
// concurrent use.
type Signer struct {
	macs sync.Pool
}

type macState struct {
	mac hash.Hash
	buf []byte
}

// NewSigner returns a Signer keyed by secret, which must hold at least 16
// bytes of entropy, and epoch, which names the single-use records the
// tokens are checked against. A token verifies only with the secret and
// the epoch it was issued with: when the records are lost (a restart, a
// new store), a new epoch makes every token issued before refused, so a
// spent pass or a solved proof can never be replayed against records that
// forgot it. The epoch costs nothing per token: it is folded into the key.
func NewSigner(secret, epoch []byte) (*Signer, error) {
	if len(secret) < 16 {
		return nil, fmt.Errorf("secret too short: %d bytes, want at least 16", len(secret))
	}
	derive := hmac.New(sha256.New, secret)
	derive.Write([]byte("rempart token key v2\x00"))
	derive.Write(epoch)
	key := derive.Sum(nil)
	s := &Signer{}
	s.macs.New = func() any {
		return &macState{mac: hmac.New(sha256.New, key), buf: make([]byte, 0, payloadSize+32+maxBoundHost+maxBoundUserAgent)}
	}
	return s, nil
}

// sign computes the MAC of payload bound to b.
func (s *Signer) sign(payload []byte, b Binding) [macSize]byte {
	st := s.macs.Get().(*macState)
	buf := append(st.buf[:0], payload...)
	addr := b.Network.Addr().As16()
	buf = append(buf, addr[:]...)
	buf = append(buf, byte(b.Network.Bits()+1)) // +1 so the zero Prefix differs from /0
	buf = appendBounded(buf, b.Host, maxBoundHost)
	buf = appendBounded(buf, b.UserAgent, maxBoundUserAgent)
	st.mac.Reset()
	st.mac.Write(buf)
	var out [macSize]byte
	st.mac.Sum(out[:0])
	st.buf = buf
	s.macs.Put(st)
	return out
}

// appendBounded appends a length-prefixed, truncated string, so that no two
// different (host, user agent) pairs produce the same MAC input.
func appendBounded(buf []byte, s string, limit int) []byte {
	if len(s) > limit {
		s = s[:limit]
	}
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(s)))
	return append(buf, s...)
}

func encodePayload(dst *[payloadSize]byte, t *token) {
	dst[0] = tokenVersion
	dst[1] = t.kind
	dst[2] = t.difficulty
	dst[3] = t.credits
	dst[4] = t.wait
	binary.BigEndian.PutUint64(dst[5:13], uint64(t.issued))
	binary.BigEndian.PutUint64(dst[13:21], uint64(t.expires))
	copy(dst[21:], t.id[:])
}

// issue fills in a fresh id and the MAC, and returns the encoded token.
func (s *Signer) issue(t *token, b Binding) (string, error) {
	if _, err := rand.Read(t.id[:]); err != nil {
		return "", fmt.Errorf("reading random token id: %w", err)
	}
	return s.seal(t, b), nil
}

// seal fills in the MAC of t, whose id is set, and returns the encoded
// token.
func (s *Signer) seal(t *token, b Binding) string {
	var payload [payloadSize]byte
	encodePayload(&payload, t)
	t.mac = s.sign(payload[:], b)
	var raw [tokenSize]byte
	copy(raw[:], payload[:])
	copy(raw[payloadSize:], t.mac[:])
	return tokenEncoding.EncodeToString(raw[:])
}

// tokenEncoding is strict so that each token has exactly one spelling
// (tokens are a whole number of 3-byte groups today, which has the same
// effect; strict keeps it so if the layout changes).
var tokenEncoding = base64.RawURLEncoding.Strict()

// open decodes and authenticates an encoded token of the given kind. It
// checks, in order of cost: length, encoding, version and kind, expiry, and
// finally the MAC (one HMAC, constant-time compare).
func (s *Signer) open(encoded string, kind byte, b Binding, now time.Time) (token, error) {
	var t token
	if len(encoded) != TokenLen {
		return t, fmt.Errorf("%w: length %d, want %d", ErrMalformed, len(encoded), TokenLen)
	}
	var raw [tokenSize]byte
	n, err := tokenEncoding.Decode(raw[:], []byte(encoded))
	if err != nil || n != tokenSize {
		return t, fmt.Errorf("%w: not base64url", ErrMalformed)
	}
	if raw[0] != tokenVersion {
		return t, fmt.Errorf("%w: version %d", ErrMalformed, raw[0])
	}
	if raw[1] != kind {
		return t, fmt.Errorf("%w: got %q, want %q", ErrWrongKind, raw[1], kind)
	}
	t.kind = raw[1]
	t.difficulty = raw[2]
	t.credits = raw[3]
	t.wait = raw[4]
	t.issued = int64(binary.BigEndian.Uint64(raw[5:13]))
	t.expires = int64(binary.BigEndian.Uint64(raw[13:21]))
	copy(t.id[:], raw[21:payloadSize])
	copy(t.mac[:], raw[payloadSize:])
	if now.Unix() >= t.expires {
		return t, fmt.Errorf("%w: at %s", ErrExpired, time.Unix(t.expires, 0).UTC().Format(time.RFC3339))
	}
	want := s.sign(raw[:payloadSize], b)
	if !hmac.Equal(want[:], t.mac[:]) {
		return t, ErrForged
	}
	return t, nil
}
