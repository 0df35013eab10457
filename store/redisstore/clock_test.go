package redisstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rempart/rempart/store/redisstore"
	"github.com/rempart/rempart/store/redisstore/redistest"
)

// TestClockOffset measures a real Redis's clock against instances whose
// clocks run ahead of or behind it, and checks which offsets are warned
// of: a clock that agrees within the allowances gets no warning, one that
// puts spent tokens at risk gets the warning that names its allowance.
func TestClockOffset(t *testing.T) {
	srv := redistest.Start(t, skewPort)
	b, err := redisstore.New(redisstore.Config{Client: srv.Client(t), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		ahead time.Duration // the instance's clock against Redis's
		warns string        // "" for no warning, else a word of it
	}{
		{"in sync", 0, ""},
		{"3s behind", -3 * time.Second, ""},
		{"3s ahead", 3 * time.Second, ""},
		{"8s ahead", 8 * time.Second, "loss of Redis's data"},
		{"8s behind", -8 * time.Second, ""},
		{"2m ahead", 2 * time.Minute, "refused as expired"},
		{"2m behind", -2 * time.Minute, "refused as expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := func() time.Time { return time.Now().Add(tc.ahead) }
			offset, uncertainty, err := b.ClockOffset(context.Background(), now)
			if err != nil {
				t.Fatal(err)
			}
			// Redis's clock is this machine's: the offset is the shift.
			if d := offset + tc.ahead; d < -time.Second || d > time.Second {
				t.Errorf("offset %s, uncertainty %s, want about %s", offset, uncertainty, -tc.ahead)
			}
			warning := redisstore.ClockWarning(offset, uncertainty)
			switch {
			case tc.warns == "" && warning != "":
				t.Errorf("unexpected warning: %s", warning)
			case tc.warns != "" && !strings.Contains(warning, tc.warns):
				t.Errorf("warning %q, want one about %q", warning, tc.warns)
			}
		})
	}

	srv.Stop()
	if _, _, err := b.ClockOffset(context.Background(), time.Now); err == nil || !strings.Contains(err.Error(), "TIME") {
		t.Errorf("with Redis stopped: error %v, want one saying TIME could not be read", err)
	}
}

// TestClockWarningUncertainty checks that a slow round trip, which leaves
// the offset uncertain, is not taken for a skew: only an offset beyond
// the allowance by more than its uncertainty is warned of.
func TestClockWarningUncertainty(t *testing.T) {
	for _, tc := range []struct {
		offset, uncertainty time.Duration
		warns               bool
	}{
		{-6 * time.Second, 0, true},
		{-6 * time.Second, 2 * time.Second, false},
		{-redisstore.LossSkew, 0, false},
		{-redisstore.LossSkew - time.Millisecond, 0, true},
		{redisstore.ClockSkew + time.Second, 2 * time.Second, false},
		{redisstore.ClockSkew + 3*time.Second, 2 * time.Second, true},
	} {
		if got := redisstore.ClockWarning(tc.offset, tc.uncertainty) != ""; got != tc.warns {
			t.Errorf("offset %s ± %s: warned %v, want %v", tc.offset, tc.uncertainty, got, tc.warns)
		}
	}
}
