package shield

import (
	"context"
	"fmt"

	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/store"
	"github.com/rempart/rempart/store/memory"
)

// State is what one site's shield remembers: which challenges were solved,
// which passes were spent, and the submissions held while their senders
// solve. It must outlive config reloads (a reload that dropped it would
// let every spent token be replayed) and belong to one site only. Its
// parts are stores (package store): in this process's memory, or shared
// by several instances in Redis.
type State struct {
	// Epoch keys the site's tokens (see challenge.NewSigner): in memory it
	// is random, made with the records, so that a token issued before
	// them (before a restart) never verifies against them.
	Epoch      []byte
	Challenges store.Spent
	Passes     store.Spent
	Stash      store.Stash
	// Reading bounds the submissions being read to be held, in this
	// process's memory whatever the store.
	Reading *Reading
}

// StateConfig sizes an in-memory State.
type StateConfig struct {
	// SpentSize is how many solved challenges, and how many spent passes,
	// are remembered (each).
	SpentSize int
	// Stash bounds the held submissions.
	Stash challenge.StashConfig
}

// NewState returns empty in-memory records with a fresh epoch.
func NewState(cfg StateConfig) (*State, error) {
	site, err := memory.Backend{}.OpenSite(context.Background(), "", store.SiteConfig{SpentSize: cfg.SpentSize, Stash: cfg.Stash})
	if err != nil {
		return nil, fmt.Errorf("shield state: %w", err)
	}
	return StateOf(site, cfg.Stash), nil
}

// StateOf returns the shield's view of a store's site, whose stash is
// bounded by stash.
func StateOf(site *store.Site, stash challenge.StashConfig) *State {
	return &State{Epoch: site.Epoch, Challenges: site.Challenges, Passes: site.Passes, Stash: site.Stash, Reading: NewReading(stash)}
}
