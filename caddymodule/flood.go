package caddymodule

import (
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/rempart/rempart/budget"
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
