// Package memory is the default store: each instance remembers its own
// shield state in bounded tables (challenge.Spent, challenge.Stash and
// budget.Tables), so it suits one instance only.
package memory

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/rempart/rempart/budget"
	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/store"
)

// Backend opens in-memory sites. Each OpenSite returns fresh, empty state:
// a caller that must keep state across config reloads keeps the Site.
type Backend struct{}

// OpenSite returns empty records sized by cfg, with a fresh random epoch:
// tokens issued before the records existed (before a restart) never verify
// against them.
func (Backend) OpenSite(_ context.Context, _ string, cfg store.SiteConfig) (*store.Site, error) {
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
	tables, err := budget.NewTables(cfg.Budgets)
	if err != nil {
		return nil, fmt.Errorf("budget tables: %w", err)
	}
	return &store.Site{
		Epoch:      epoch,
		Challenges: Spent{challenges},
		Passes:     Spent{passes},
		Stash:      Stash{stash},
		Budgets:    Budgets{tables},
	}, nil
}

// OpenPressure returns a fresh budget.Pressure tuned by cfg: this
// instance's events only.
func (Backend) OpenPressure(_ context.Context, _ string, cfg budget.PressureConfig) (store.Pressure, error) {
	p, err := budget.NewPressure(cfg)
	if err != nil {
		return nil, err
	}
	return Pressure{p}, nil
}

// Pressure adapts a budget.Pressure to store.Pressure.
type Pressure struct{ *budget.Pressure }

// Observe records one event (see budget.Pressure.Observe); it fails only
// when ctx is done, and then records nothing.
func (p Pressure) Observe(ctx context.Context, key string, now time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return p.Pressure.Extra(key, now), err
	}
	return p.Pressure.Observe(key, now), nil
}

// Retune returns the same estimates tuned by cfg (see
// budget.Pressure.Retune).
func (p Pressure) Retune(cfg budget.PressureConfig) (store.Pressure, error) {
	q, err := p.Pressure.Retune(cfg)
	if err != nil {
		return nil, err
	}
	return Pressure{q}, nil
}

// Extra returns the network's extra bits (see budget.Pressure.Extra).
func (p Pressure) Extra(ctx context.Context, key string, now time.Time) (int, error) {
	return p.Pressure.Extra(key, now), ctx.Err()
}

// Spent adapts a challenge.Spent to store.Spent.
type Spent struct{ *challenge.Spent }

// Use spends one use of id (see challenge.Spent.Use); it fails only when
// ctx is done.
func (s Spent) Use(ctx context.Context, id [challenge.IDSize]byte, limit int, issued, expires, now time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	return s.Spent.Use(id, limit, issued, expires, now), nil
}

// Exhausted reports whether id is used up (see challenge.Spent.Exhausted).
func (s Spent) Exhausted(ctx context.Context, id [challenge.IDSize]byte, limit int) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	return s.Spent.Exhausted(id, limit), nil
}

// Stash adapts a challenge.Stash to store.Stash.
type Stash struct{ *challenge.Stash }

// Put holds sub (see challenge.Stash.Put).
func (s Stash) Put(ctx context.Context, sub challenge.Submission, b challenge.Binding, owner string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return s.Stash.Put(sub, b, owner)
}

// Restore puts sub back under id (see challenge.Stash.Restore).
func (s Stash) Restore(ctx context.Context, id string, sub challenge.Submission, b challenge.Binding, owner string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.Stash.Restore(id, sub, b, owner)
}

// Peek returns the submission id (see challenge.Stash.Peek).
func (s Stash) Peek(ctx context.Context, id string, b challenge.Binding, now time.Time) (challenge.Submission, bool, error) {
	if err := ctx.Err(); err != nil {
		return challenge.Submission{}, false, err
	}
	sub, ok := s.Stash.Peek(id, b, now)
	return sub, ok, nil
}

// Take releases the submission id (see challenge.Stash.Take).
func (s Stash) Take(ctx context.Context, id string, b challenge.Binding, now time.Time) (challenge.Submission, bool, error) {
	if err := ctx.Err(); err != nil {
		return challenge.Submission{}, false, err
	}
	sub, ok := s.Stash.Take(id, b, now)
	return sub, ok, nil
}

// Budgets adds context checks to budget.Tables, which never waits.
type Budgets struct{ *budget.Tables }

// TakeAll counts one event against every charge, all or none (see
// budget.Tables.TakeAll).
func (b Budgets) TakeAll(ctx context.Context, charges []budget.Charge, now time.Time) (budget.TakeResult, error) {
	if err := ctx.Err(); err != nil {
		return budget.TakeResult{}, err
	}
	return b.Tables.TakeAll(ctx, charges, now)
}

// Interface guards
var (
	_ store.Backend  = Backend{}
	_ store.Spent    = Spent{}
	_ store.Stash    = Stash{}
	_ budget.Store   = Budgets{}
	_ store.Pressure = Pressure{}
)
