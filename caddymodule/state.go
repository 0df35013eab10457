package caddymodule

import (
	"context"
	"fmt"

	"github.com/caddyserver/caddy/v2"

	"github.com/rempart/rempart/budget"
	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/shield"
	"github.com/rempart/rempart/store"
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
// counters, kept by the app's store.
type siteState struct {
	*shield.State
	budgets budget.Store
	close   func() error
	// sized is the configuration the state was made with: a reload that
	// asks for other sizes keeps it (see resizedWarning).
	sized store.SiteConfig
}

// Destruct is called by the usage pool when no handler uses the state.
func (s *siteState) Destruct() error {
	if s.close != nil {
		return s.close()
	}
	return nil
}

func (h *Handler) stateConfig() store.SiteConfig {
	return store.SiteConfig{
		SpentSize: h.SpentSize,
		Stash:     challenge.StashConfig{MaxEntries: DefaultStashEntries, MaxBytes: DefaultStashBytes},
	}
}

// loadSiteState returns the state of site in st, made with cfg when no
// running handler holds it. A reload that changes cfg keeps the state in
// use; one that changes the store (another Redis) opens the site there.
func loadSiteState(ctx context.Context, st Store, site string, cfg store.SiteConfig) (string, *siteState, error) {
	key := "rempart.site." + site
	if k := st.PoolKey(); k != "" {
		key = "rempart.site." + k + "." + site
	}
	val, _, err := siteStates.LoadOrNew(key, func() (caddy.Destructor, error) {
		s, err := st.Backend().OpenSite(ctx, site, cfg)
		if err != nil {
			return nil, err
		}
		return &siteState{State: shield.StateOf(s, cfg.Stash), budgets: s.Budgets, close: s.Close, sized: cfg}, nil
	})
	if err != nil {
		return "", nil, fmt.Errorf("site %q state: %w", site, err)
	}
	return key, val.(*siteState), nil
}

// resizedWarning says why a spent_size asked for by a reload is not the
// one in force, or returns "": a site's records outlive reloads (dropping
// them would let spent tokens be replayed), so in memory their size
// changes only with a restart. A shared store has no such size.
func resizedWarning(st Store, inForce, asked store.SiteConfig) string {
	if st.PoolKey() != "" || inForce.SpentSize == asked.SpentSize {
		return ""
	}
	return "spent_size takes effect at the next restart: this site's records, kept across config reloads, keep the size they were made with"
}

// pressureState keeps the flood estimates of a site's networks across
// reloads, as long as the store stays the same: a reload that changes the
// flood settings retunes them, so that staff hardening the flood's
// settings never drop a flooding network back to the base difficulty.
type pressureState struct{ store.Pressure }

func (pressureState) Destruct() error { return nil }

// loadPressure returns the flood estimates of site in st, shared with the
// other instances when st is, tuned by cfg.
func loadPressure(ctx context.Context, st Store, site string, cfg budget.PressureConfig) (string, store.Pressure, error) {
	key := "rempart.pressure." + st.PoolKey() + "." + site
	val, _, err := siteStates.LoadOrNew(key, func() (caddy.Destructor, error) {
		p, err := st.Backend().OpenPressure(ctx, site, cfg)
		return pressureState{p}, err
	})
	if err != nil {
		return "", nil, fmt.Errorf("flood: %w", err)
	}
	p, err := val.(pressureState).Retune(cfg)
	if err != nil {
		_, _ = siteStates.Delete(key)
		return "", nil, fmt.Errorf("flood: %w", err)
	}
	return key, p, nil
}
