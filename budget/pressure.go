package budget

import (
	"fmt"
	"math"
	"time"
)

// Defaults for the PressureConfig fields left at zero.
const (
	DefaultHalfLife    = time.Minute
	DefaultMaxNetworks = 10_000
)

// maxExtraBitsLimit bounds MaxExtraBits: each bit doubles a signer's work,
// and 24 bits more than any sane base is beyond what a phone finishes.
const maxExtraBitsLimit = 24

// PressureConfig tunes a Pressure.
type PressureConfig struct {
	// Threshold is the rate, in events per minute, above which a network's
	// difficulty starts rising. Required.
	Threshold float64
	// HalfLife is how fast past events are forgotten: an event weighs half
	// as much after one half-life. Default: DefaultHalfLife.
	HalfLife time.Duration
	// MaxExtraBits caps the bits added to the base difficulty (0 to 24).
	// Zero means the difficulty never rises; rates are still tracked.
	MaxExtraBits int
	// MaxNetworks bounds how many networks are tracked; the least recently
	// observed are forgotten first. Default: DefaultMaxNetworks.
	MaxNetworks int
}

// Pressure estimates each network's recent event rate and turns it into
// extra proof-of-work difficulty: the difficulty to use is the base plus
// one bit for each doubling of the rate above the threshold (2× the
// threshold: +1, 4×: +2, ...), up to MaxExtraBits. The estimate decays
// exponentially with the configured half-life, computed lazily from the
// caller's clock, so the difficulty falls back as the network calms without
// any background work.
//
// Keys are whatever identifies a network, typically a KeyKind.Key of kind
// asn or prefix. A Pressure is safe for concurrent use.
type Pressure struct {
	threshold    float64
	halfLife     time.Duration
	maxExtraBits int
	// perEvent is what one event adds to a rate estimate in events per
	// minute: 1/τ with τ = HalfLife/ln 2 the time constant, so that events
	// arriving steadily at λ per minute hold the estimate at about λ.
	perEvent float64
	networks *shardedLRU[networkRate]
}

// networkRate is one network's rate estimate as of a moment.
type networkRate struct {
	perMinute float64
	at        int64 // Unix nanoseconds
}

// NewPressure returns a Pressure tuned by cfg.
func NewPressure(cfg PressureConfig) (*Pressure, error) {
	if cfg.MaxNetworks == 0 {
		cfg.MaxNetworks = DefaultMaxNetworks
	}
	if cfg.MaxNetworks < 0 {
		return nil, fmt.Errorf("pressure: max networks must be positive, got %d", cfg.MaxNetworks)
	}
	p, err := tuned(cfg)
	if err != nil {
		return nil, err
	}
	if p.networks, err = newShardedLRU[networkRate](cfg.MaxNetworks, DefaultShards); err != nil {
		return nil, fmt.Errorf("pressure: %w", err)
	}
	return p, nil
}

// Retune returns a Pressure tuned by cfg that shares p's estimates, and
// p's bound on networks (cfg.MaxNetworks is ignored): staff who raise the
// cap or lower the threshold during a flood harden it, where a new
// Pressure would start every flooding network again at the base
// difficulty. Events observed through either count in both.
func (p *Pressure) Retune(cfg PressureConfig) (*Pressure, error) {
	q, err := tuned(cfg)
	if err != nil {
		return nil, err
	}
	q.networks = p.networks
	return q, nil
}

// tuned checks cfg and returns a Pressure without its table of networks.
func tuned(cfg PressureConfig) (*Pressure, error) {
	if cfg.HalfLife == 0 {
		cfg.HalfLife = DefaultHalfLife
	}
	switch {
	case !(cfg.Threshold > 0) || math.IsInf(cfg.Threshold, 1):
		return nil, fmt.Errorf("pressure: threshold must be a positive number of events per minute, got %v", cfg.Threshold)
	case cfg.HalfLife < 0:
		return nil, fmt.Errorf("pressure: half-life must be positive, got %v", cfg.HalfLife)
	case cfg.MaxExtraBits < 0 || cfg.MaxExtraBits > maxExtraBitsLimit:
		return nil, fmt.Errorf("pressure: max extra bits must be between 0 and %d, got %d", maxExtraBitsLimit, cfg.MaxExtraBits)
	}
	return &Pressure{
		threshold:    cfg.Threshold,
		halfLife:     cfg.HalfLife,
		maxExtraBits: cfg.MaxExtraBits,
		perEvent:     math.Ln2 / cfg.HalfLife.Minutes(),
	}, nil
}

// Observe records one event from the network key at now and returns the
// extra bits of difficulty the network has earned, this event included.
func (p *Pressure) Observe(key string, now time.Time) (extraBits int) {
	k := p.networks.key(key)
	sh := p.networks.shard(k)
	sh.mu.Lock()
	r, added := sh.getOrAdd(k)
	if added {
		r.at = now.UnixNano()
	}
	r.perMinute = p.decayed(r, now) + p.perEvent
	r.at = max(r.at, now.UnixNano())
	rate := r.perMinute
	sh.mu.Unlock()
	return p.extraBits(rate)
}

// Set replaces the network key's estimate with perMinute as of now, and
// returns the extra bits it earns. A shared store uses it to keep a local
// copy of the estimate every instance contributes to, so that reading it
// (Extra) costs no round trip and observing falls back on it when the
// store is away.
func (p *Pressure) Set(key string, perMinute float64, now time.Time) (extraBits int) {
	k := p.networks.key(key)
	sh := p.networks.shard(k)
	sh.mu.Lock()
	r, _ := sh.getOrAdd(k)
	r.perMinute = perMinute
	r.at = now.UnixNano()
	sh.mu.Unlock()
	return p.extraBits(perMinute)
}

// PerEvent is what one event adds to a network's rate estimate, in events
// per minute: a shared store adds it on its server.
func (p *Pressure) PerEvent() float64 { return p.perEvent }

// HalfLife is how fast the estimates decay.
func (p *Pressure) HalfLife() time.Duration { return p.halfLife }

// Extra returns the extra bits of difficulty the network key has earned as
// of now, without recording an event.
func (p *Pressure) Extra(key string, now time.Time) int {
	return p.extraBits(p.Rate(key, now))
}

// Rate returns the network key's estimated rate as of now, in events per
// minute; zero for a network not tracked. Reads, here and in Extra, do not
// keep a network tracked: only its events do.
func (p *Pressure) Rate(key string, now time.Time) float64 {
	k := p.networks.key(key)
	sh := p.networks.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if r, ok := sh.peek(k); ok {
		return p.decayed(r, now)
	}
	return 0
}

// Len returns how many networks are tracked, never more than MaxNetworks.
func (p *Pressure) Len() int {
	return p.networks.Len()
}

// decayed returns r's estimate carried forward to now. A now earlier than
// the estimate (clocks read by concurrent callers) decays nothing.
func (p *Pressure) decayed(r *networkRate, now time.Time) float64 {
	elapsed := now.UnixNano() - r.at
	if elapsed <= 0 {
		return r.perMinute
	}
	return r.perMinute * math.Exp2(-float64(elapsed)/float64(p.halfLife))
}

// extraBits returns floor(log2(rate/threshold)), clamped to
// [0, MaxExtraBits]. Frexp gives the exponent exactly, so that 2× the
// threshold is +1 and not, through rounding, sometimes +0.
func (p *Pressure) extraBits(rate float64) int {
	ratio := rate / p.threshold
	switch {
	case !(ratio >= 2):
		return 0
	case math.IsInf(ratio, 1):
		return p.maxExtraBits
	}
	_, exp := math.Frexp(ratio)
	return min(exp-1, p.maxExtraBits)
}
