package caddymodule

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/rempart/rempart/budget"
	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/policies"
)

// Flood makes a network's difficulty rise with its recent rate of
// challenges: one more bit for each doubling above the threshold, falling
// back as the network calms.
type Flood struct {
	// Off turns the rising difficulty off: every challenge has the base
	// difficulty.
	Off bool `json:"off,omitempty"`
	// Threshold is the rate of challenges from one network (an ASN, or a
	// network prefix when the ASN is unknown) above which its difficulty
	// rises, such as "60/min" (the default).
	Threshold string `json:"threshold,omitempty"`
	// MaxExtraBits caps the bits added to the base difficulty. Default: 6,
	// 64 times the base work.
	MaxExtraBits int `json:"max_extra_bits,omitempty"`
	// HalfLife is how fast a network's past challenges are forgotten.
	// Default: 1m.
	HalfLife caddy.Duration `json:"half_life,omitempty"`
}

const (
	defaultFloodThreshold = "60/min"
	defaultFloodExtraBits = 6
	defaultBudgetKeys     = 200_000
)

func (f *Flood) pressureConfig() (budget.PressureConfig, error) {
	threshold := f.Threshold
	if threshold == "" {
		threshold = defaultFloodThreshold
	}
	rate, err := budget.ParseRate(threshold)
	if err != nil {
		return budget.PressureConfig{}, fmt.Errorf("flood threshold: %w", err)
	}
	extra := f.MaxExtraBits
	if extra == 0 {
		extra = defaultFloodExtraBits
	}
	return budget.PressureConfig{
		Threshold:    float64(rate.Limit) / rate.Period.Minutes(),
		HalfLife:     time.Duration(f.HalfLife),
		MaxExtraBits: extra,
	}, nil
}

// networkKey names the client's network for flood pressure: its ASN when
// known, else its network prefix.
func networkKey(id Identity, client challenge.Binding) string {
	if id.Known {
		return "asn:" + strconv.FormatUint(uint64(id.ASN), 10)
	}
	return "prefix:" + client.Network.String()
}

func budgetClient(id Identity, client challenge.Binding) budget.Client {
	return budget.Client{IP: id.IP, Prefix: client.Network, ASN: id.ASN, Class: id.Class}
}

// admit counts one event against the budgets the decision names. When a
// budget is exhausted it answers 429 itself and reports false.
func (h *Handler) admit(w http.ResponseWriter, r *http.Request, what policies.Counter, dec *decision, client challenge.Binding, now time.Time) (bool, error) {
	if len(dec.Budgets) == 0 {
		return true, nil
	}
	v, err := dec.active.budgets.TakeNamed(r.Context(), what, dec.Budgets, budgetClient(dec.id, client), now)
	if err != nil {
		// A budget store that fails (Redis down) must not take the petition
		// down with it: let the request through and say so loudly.
		h.logger.Error("budget store failed; request not counted", zap.Error(err))
		return true, nil
	}
	if v.Allowed {
		return true, nil
	}
	// Debug: under a flood this line comes for every refused request.
	h.logger.Debug("over budget",
		zap.String("budget", v.Budget), zap.String("counts", string(what)),
		zap.Uint32("asn", dec.id.ASN), zap.String("class", dec.id.Class), zap.Stringer("network", client.Network),
		zap.Duration("retry_after", v.RetryAfter))
	secs := int((v.RetryAfter + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	minutes := (secs + 59) / 60
	return false, h.message(w, r, http.StatusTooManyRequests, func(t *challenge.Messages) (string, string) {
		return t.TooManyTitle, fmt.Sprintf(t.TooMany, minutes)
	})
}

// difficulty returns the difficulty for a new challenge to the client:
// what the policy decided, plus what its network's flood adds.
func (h *Handler) difficulty(dec *decision, client challenge.Binding, now time.Time) int {
	if h.pressure == nil {
		return dec.Difficulty
	}
	bits := dec.Difficulty + h.pressure.Observe(networkKey(dec.id, client), now)
	return min(bits, challenge.MaxDifficulty)
}
