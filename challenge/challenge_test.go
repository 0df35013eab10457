package challenge

import (
	"encoding/base64"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var (
	testNow    = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	testClient = NewBinding(netip.MustParseAddr("203.0.113.7"), 24, 48, "Mozilla/5.0 Test", "petition.example")
)

func newTestSigner(t testing.TB, secret string) *Signer {
	t.Helper()
	s, err := NewSigner([]byte(secret), []byte("epoch-1"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// solved returns a challenge of the given difficulty and a nonce solving it.
func solved(t testing.TB, s *Signer, b Binding, bits int) (Challenge, string) {
	t.Helper()
	c, err := s.IssueChallenge(b, bits, 1, testNow, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return c, Solve(c)
}

// unsolving returns a nonce that does not meet c's difficulty.
func unsolving(c Challenge) string {
	for n := uint64(0); ; n++ {
		if LeadingZeroBits(c.Seed, n) < c.Difficulty {
			return strings.Repeat("0", 16-len(hex16(n))) + hex16(n)
		}
	}
}

func hex16(n uint64) string {
	const digits = "0123456789abcdef"
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = digits[n&15]
		n >>= 4
	}
	return string(b[:])
}

func flipByte(token string, i int) string {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		panic(err)
	}
	raw[i] ^= 0x01
	return base64.RawURLEncoding.EncodeToString(raw)
}

func TestVerifyProof(t *testing.T) {
	s := newTestSigner(t, "0123456789abcdef-test-secret")
	other := newTestSigner(t, "another-secret-of-enough-length")
	c, nonce := solved(t, s, testClient, 10)
	forged, forgedNonce := solved(t, other, testClient, 10)
	pass, err := s.IssuePass(testClient, 1, 18, testNow, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	otherNetwork := NewBinding(netip.MustParseAddr("198.51.100.7"), 24, 48, testClient.UserAgent, testClient.Host)
	sameNetwork := NewBinding(netip.MustParseAddr("203.0.113.200"), 24, 48, testClient.UserAgent, testClient.Host)
	otherBrowser := testClient
	otherBrowser.UserAgent = "curl/8.0"
	otherHost := testClient
	otherHost.Host = "other.example"

	tests := []struct {
		name    string
		token   string
		nonce   string
		client  Binding
		minBits int
		now     time.Time
		want    error
	}{
		{"valid", c.Token, nonce, testClient, 10, testNow, nil},
		{"valid from same /24", c.Token, nonce, sameNetwork, 10, testNow, nil},
		{"forged with another secret", forged.Token, forgedNonce, testClient, 10, testNow, ErrForged},
		{"expired", c.Token, nonce, testClient, 10, testNow.Add(5 * time.Minute), ErrExpired},
		{"tampered difficulty", flipByte(c.Token, 2), nonce, testClient, 1, testNow, ErrForged},
		{"tampered credits", flipByte(c.Token, 3), nonce, testClient, 10, testNow, ErrForged},
		{"tampered id", flipByte(c.Token, 15), nonce, testClient, 10, testNow, ErrForged},
		{"tampered mac", flipByte(c.Token, tokenSize-1), nonce, testClient, 10, testNow, ErrForged},
		{"tampered version", flipByte(c.Token, 0), nonce, testClient, 10, testNow, ErrMalformed},
		{"below required difficulty", c.Token, nonce, testClient, 11, testNow, ErrTooEasy},
		{"not enough work", c.Token, unsolving(c), testClient, 10, testNow, ErrInsufficientWork},
		{"other network", c.Token, nonce, otherNetwork, 10, testNow, ErrForged},
		{"other browser", c.Token, nonce, otherBrowser, 10, testNow, ErrForged},
		{"other host", c.Token, nonce, otherHost, 10, testNow, ErrForged},
		{"pass as challenge", pass.Token, nonce, testClient, 10, testNow, ErrWrongKind},
		{"truncated", c.Token[:TokenLen-4], nonce, testClient, 10, testNow, ErrMalformed},
		{"empty", "", nonce, testClient, 10, testNow, ErrMalformed},
		{"not base64", strings.Repeat("*", TokenLen), nonce, testClient, 10, testNow, ErrMalformed},
		{"standard base64 alphabet", strings.Repeat("+", TokenLen), nonce, testClient, 10, testNow, ErrMalformed},
		{"nonce too short", c.Token, nonce[:15], testClient, 10, testNow, ErrMalformed},
		{"nonce not hex", c.Token, "zzzzzzzzzzzzzzzz", testClient, 10, testNow, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.VerifyProof(tt.token, tt.nonce, tt.client, tt.minBits, tt.now)
			if !errors.Is(err, tt.want) {
				t.Fatalf("VerifyProof error = %v, want %v", err, tt.want)
			}
			if tt.want == nil && (got.ID != c.ID || got.Credits != 1) {
				t.Errorf("verified challenge id %x with %d credits, want %x with 1", got.ID, got.Credits, c.ID)
			}
			if err != nil && err.Error() == "" {
				t.Error("error without a reason")
			}
		})
	}
}

func TestVerifyPass(t *testing.T) {
	s := newTestSigner(t, "0123456789abcdef-test-secret")
	pass, err := s.IssuePass(testClient, 3, 18, testNow, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := solved(t, s, testClient, 1)
	otherBrowser := testClient
	otherBrowser.UserAgent = "python-requests/2.31"
	tests := []struct {
		name   string
		token  string
		client Binding
		now    time.Time
		want   error
	}{
		{"valid", pass.Token, testClient, testNow.Add(59 * time.Minute), nil},
		{"expired", pass.Token, testClient, testNow.Add(time.Hour), ErrExpired},
		{"copied to another browser", pass.Token, otherBrowser, testNow, ErrForged},
		{"challenge as pass", c.Token, testClient, testNow, ErrWrongKind},
		{"tampered credits", flipByte(pass.Token, 2), testClient, testNow, ErrForged},
		{"garbage", "not a token", testClient, testNow, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.VerifyPass(tt.token, tt.client, tt.now)
			if !errors.Is(err, tt.want) {
				t.Fatalf("VerifyPass error = %v, want %v", err, tt.want)
			}
			if tt.want == nil && (got.ID != pass.ID || got.Credits != 3) {
				t.Errorf("got pass %+v, want id %x with 3 credits", got, pass.ID)
			}
		})
	}
}

func TestIssueBounds(t *testing.T) {
	s := newTestSigner(t, "0123456789abcdef-test-secret")
	for _, bits := range []int{0, -1, MaxDifficulty + 1} {
		if _, err := s.IssueChallenge(testClient, bits, 1, testNow, time.Minute); err == nil {
			t.Errorf("IssueChallenge(%d bits) succeeded", bits)
		}
	}
	for _, credits := range []int{-1, MaxCredits + 1} {
		if _, err := s.IssuePass(testClient, credits, 18, testNow, time.Minute); err == nil {
			t.Errorf("IssuePass(%d credits) succeeded", credits)
		}
	}
	if _, err := NewSigner([]byte("short"), nil); err == nil {
		t.Error("NewSigner accepted a 5-byte secret")
	}
}

func TestTokensAreUnique(t *testing.T) {
	s := newTestSigner(t, "0123456789abcdef-test-secret")
	seen := map[string]bool{}
	for range 1000 {
		c, err := s.IssueChallenge(testClient, 10, 1, testNow, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if seen[c.Token] {
			t.Fatalf("token %s issued twice", c.Token)
		}
		seen[c.Token] = true
	}
}

func TestLeadingZeroBits(t *testing.T) {
	// A nonce found by Solve meets the difficulty, and the previous nonces
	// (tried first) do not.
	s := newTestSigner(t, "0123456789abcdef-test-secret")
	for _, bits := range []int{1, 4, 12} {
		c, nonce := solved(t, s, testClient, bits)
		n, err := parseNonce(nonce)
		if err != nil {
			t.Fatal(err)
		}
		if got := LeadingZeroBits(c.Seed, n); got < bits {
			t.Errorf("Solve at %d bits gave %d zero bits", bits, got)
		}
		for m := uint64(0); m < n; m++ {
			if LeadingZeroBits(c.Seed, m) >= bits {
				t.Fatalf("nonce %d solves %d bits before the one Solve found (%d)", m, bits, n)
			}
		}
	}
	var zero [32]byte
	// SHA-256 of 40 zero bytes is 2c34ce1d...: 0x2c = 0b00101100, two zero bits.
	if got := LeadingZeroBits(zero, 0); got != 2 {
		t.Errorf("LeadingZeroBits(zero seed, 0) = %d, want 2", got)
	}
}

func TestNewBindingMasks(t *testing.T) {
	tests := []struct {
		ip   string
		want string
	}{
		{"203.0.113.7", "203.0.113.0/24"},
		{"::ffff:203.0.113.7", "203.0.113.0/24"},
		{"2001:db8:1234:5678::1", "2001:db8:1234::/48"},
	}
	for _, tt := range tests {
		b := NewBinding(netip.MustParseAddr(tt.ip), 24, 48, "", "")
		if b.Network.String() != tt.want {
			t.Errorf("NewBinding(%s).Network = %s, want %s", tt.ip, b.Network, tt.want)
		}
	}
	if b := NewBinding(netip.Addr{}, 24, 48, "", ""); b.Network.IsValid() {
		t.Errorf("invalid address bound to %s", b.Network)
	}
}

func TestVerifyWait(t *testing.T) {
	s := newTestSigner(t, "0123456789abcdef-test-secret")
	const window = 5 * time.Minute
	w, err := s.IssueWait(testClient, 10*time.Second, window, 18, 1, testNow)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := solved(t, s, testClient, 1)
	otherBrowser := testClient
	otherBrowser.UserAgent = "wget"
	tests := []struct {
		name   string
		token  string
		client Binding
		now    time.Time
		want   error
	}{
		{"after the wait", w.Token, testClient, testNow.Add(10 * time.Second), nil},
		{"too early", w.Token, testClient, testNow.Add(9 * time.Second), ErrTooEarly},
		{"expired", w.Token, testClient, testNow.Add(10*time.Second + window), ErrExpired},
		{"other browser", w.Token, otherBrowser, testNow.Add(time.Minute), ErrForged},
		{"challenge as wait", c.Token, testClient, testNow.Add(time.Minute), ErrWrongKind},
		{"tampered wait", flipByte(w.Token, 2), testClient, testNow.Add(time.Minute), ErrForged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.VerifyWait(tt.token, tt.client, window, tt.now)
			if !errors.Is(err, tt.want) {
				t.Fatalf("VerifyWait error = %v, want %v", err, tt.want)
			}
			if tt.want == nil && got.ID != w.ID {
				t.Errorf("id %x, want %x", got.ID, w.ID)
			}
		})
	}
	// Issued late in a second, a wait is still the whole wait: tokens count
	// whole seconds, and rounding down gave up to a second off (a 1s wait
	// could be over at once).
	late := testNow.Add(999 * time.Millisecond)
	short, err := s.IssueWait(testClient, time.Second, window, 18, 1, late)
	if err != nil {
		t.Fatal(err)
	}
	for _, after := range []time.Duration{time.Millisecond, 500 * time.Millisecond, 999 * time.Millisecond} {
		if _, err := s.VerifyWait(short.Token, testClient, window, late.Add(after)); !errors.Is(err, ErrTooEarly) {
			t.Errorf("1s wait issued at .999, back %s later: %v, want too early", after, err)
		}
	}
	if _, err := s.VerifyWait(short.Token, testClient, window, late.Add(1001*time.Millisecond)); err != nil {
		t.Errorf("1s wait, back after 1.001s: %v", err)
	}
	for _, bad := range []time.Duration{0, MaxWait + time.Second} {
		if _, err := s.IssueWait(testClient, bad, window, 18, 1, testNow); err == nil {
			t.Errorf("IssueWait(%s) succeeded", bad)
		}
	}
}
