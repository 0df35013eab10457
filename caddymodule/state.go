package caddymodule

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/ulule/limiter/v3"

	"github.com/rempart/rempart/budget"
	"github.com/rempart/rempart/challenge"
)

// sharedStates holds the records that must outlive a config reload: which
// challenges were solved and which passes spent. A reload that dropped
// them would let every spent token be replayed. Handlers with the same
// secret share one state, since their tokens are interchangeable.
var sharedStates = caddy.NewUsagePool()

type sharedState struct {
	challenges  *challenge.Spent
	passes      *challenge.Spent
	stash       *challenge.Stash
	budgetStore limiter.Store
}

// Destruct is called by the usage pool when no handler uses the state.
func (*sharedState) Destruct() error { return nil }

func loadSharedState(secret []byte) (string, *sharedState, error) {
	sum := sha256.Sum256(append([]byte("rempart state\x00"), secret...))
	key := "rempart.state." + hex.EncodeToString(sum[:8])
	val, _, err := sharedStates.LoadOrNew(key, func() (caddy.Destructor, error) {
		return newSharedState()
	})
	if err != nil {
		return "", nil, fmt.Errorf("creating shared state: %w", err)
	}
	return key, val.(*sharedState), nil
}

func newSharedState() (*sharedState, error) {
	challenges, err := challenge.NewSpent(DefaultSpentSize)
	if err != nil {
		return nil, err
	}
	passes, err := challenge.NewSpent(DefaultSpentSize)
	if err != nil {
		return nil, err
	}
	stash, err := challenge.NewStash(DefaultStashEntries, DefaultStashBytes)
	if err != nil {
		return nil, err
	}
	store, err := budget.NewLRUStore(defaultBudgetKeys)
	if err != nil {
		return nil, err
	}
	return &sharedState{challenges: challenges, passes: passes, stash: stash, budgetStore: store}, nil
}

// pressureState keeps the flood estimates of networks across reloads, as
// long as the flood settings stay the same.
type pressureState struct{ *budget.Pressure }

func (pressureState) Destruct() error { return nil }

func loadPressure(secret []byte, cfg budget.PressureConfig) (string, *budget.Pressure, error) {
	sum := sha256.Sum256(append([]byte("rempart state\x00"), secret...))
	key := fmt.Sprintf("rempart.pressure.%x.%g.%s.%d", sum[:8], cfg.Threshold, cfg.HalfLife, cfg.MaxExtraBits)
	val, _, err := sharedStates.LoadOrNew(key, func() (caddy.Destructor, error) {
		p, err := budget.NewPressure(cfg)
		return pressureState{p}, err
	})
	if err != nil {
		return "", nil, fmt.Errorf("flood: %w", err)
	}
	return key, val.(pressureState).Pressure, nil
}
