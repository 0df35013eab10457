package shield

import (
	"crypto/rand"
	"fmt"

	"github.com/rempart/rempart/challenge"
)

// State is what one site's shield remembers: which challenges were solved,
// which passes were spent, and the submissions held while their senders
// solve. It must outlive config reloads (a reload that dropped it would
// let every spent token be replayed) and belong to one site only.
type State struct {
	// Epoch is random, made with the records: tokens are signed with it
	// (see challenge.NewSigner), so a token issued before these records
	// existed (before a restart) never verifies against them.
	Epoch      []byte
	Challenges *challenge.Spent
	Passes     *challenge.Spent
	Stash      *challenge.Stash
}

// StateConfig sizes a State.
type StateConfig struct {
	// SpentSize is how many solved challenges, and how many spent passes,
	// are remembered (each).
	SpentSize int
	// Stash bounds the held submissions.
	Stash challenge.StashConfig
}

// NewState returns empty records with a fresh epoch.
func NewState(cfg StateConfig) (*State, error) {
	epoch := make([]byte, 16)
	if _, err := rand.Read(epoch); err != nil {
		return nil, fmt.Errorf("reading random epoch: %w", err)
	}
	challenges, err := challenge.NewSpent(cfg.SpentSize)
	if err != nil {
		return nil, fmt.Errorf("solved-challenge record: %w", err)
	}
	passes, err := challenge.NewSpent(cfg.SpentSize)
	if err != nil {
		return nil, fmt.Errorf("spent-pass record: %w", err)
	}
	stash, err := challenge.NewStash(cfg.Stash)
	if err != nil {
		return nil, fmt.Errorf("held submissions: %w", err)
	}
	return &State{Epoch: epoch, Challenges: challenges, Passes: passes, Stash: stash}, nil
}
