package caddymodule

import (
	"fmt"

	"github.com/caddyserver/caddy/v2"

	"github.com/rempart/rempart/budget"
	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/shield"
)

// siteStates holds what each site's shield remembers across config
// reloads: a reload that dropped the spent records would let every spent
// token be replayed. It is keyed by site, never by secret, so that one
// site's budgets and records never count on another's, and a reload from
// secret A to B and back still finds the records of A's tokens. Records
// that are lost all the same (a restart) come back with a new epoch, which
// refuses every token issued before them.
var siteStates = caddy.NewUsagePool()

// siteState is one site's state: the shield's records and its budget
// counters.
type siteState struct {
	*shield.State
	budgets budget.Store
}

// Destruct is called by the usage pool when no handler uses the state.
func (*siteState) Destruct() error { return nil }

func (h *Handler) stateConfig() shield.StateConfig {
	return shield.StateConfig{
		SpentSize: h.SpentSize,
		Stash:     challenge.StashConfig{MaxEntries: DefaultStashEntries, MaxBytes: DefaultStashBytes},
	}
}

// loadSiteState returns the state of site, made with cfg when no running
// handler holds it. A reload that changes cfg keeps the state in use.
func loadSiteState(site string, cfg shield.StateConfig) (string, *siteState, error) {
	key := "rempart.site." + site
	val, _, err := siteStates.LoadOrNew(key, func() (caddy.Destructor, error) {
		st, err := shield.NewState(cfg)
		if err != nil {
			return nil, err
		}
		tables, err := budget.NewTables(budget.TablesConfig{})
		if err != nil {
			return nil, err
		}
		return &siteState{State: st, budgets: tables}, nil
	})
	if err != nil {
		return "", nil, fmt.Errorf("site %q state: %w", site, err)
	}
	return key, val.(*siteState), nil
}

// pressureState keeps the flood estimates of a site's networks across
// reloads, as long as the flood settings stay the same.
type pressureState struct{ *budget.Pressure }

func (pressureState) Destruct() error { return nil }

func loadPressure(site string, cfg budget.PressureConfig) (string, *budget.Pressure, error) {
	key := fmt.Sprintf("rempart.pressure.%s.%g.%s.%d", site, cfg.Threshold, cfg.HalfLife, cfg.MaxExtraBits)
	val, _, err := siteStates.LoadOrNew(key, func() (caddy.Destructor, error) {
		p, err := budget.NewPressure(cfg)
		return pressureState{p}, err
	})
	if err != nil {
		return "", nil, fmt.Errorf("flood: %w", err)
	}
	return key, val.(pressureState).Pressure, nil
}
