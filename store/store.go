// Package store defines what a shield remembers, behind interfaces that
// an in-memory implementation (package store/memory, the default) and a
// Redis one (package store/redisstore, for several instances sharing one
// truth) both satisfy. The conformance suite in store/storetest runs
// against every implementation.
//
// Every method takes a context and returns an error: a shared store can be
// slow or away, and the shield decides what an error means (a spend that
// fails is never accepted; a budget that fails is open or closed by
// option).
package store

import (
	"context"
	"errors"
	"time"

	"github.com/rempart/rempart/budget"
	"github.com/rempart/rempart/challenge"
)

// ErrUnavailable wraps every error of a store that could not be reached
// or did not answer in time.
var ErrUnavailable = errors.New("store unavailable")

// Spent records how often each single-use token (a solved challenge, a
// pass with credits) was used.
type Spent interface {
	// Use spends one of limit uses of id, issued at issued and expiring
	// at expires. It reports false, spending nothing, when the id has
	// expired at now, has been used limit times already, or cannot be
	// proven unused (a record forgotten before it expired: the store
	// fails closed). On error nothing may be assumed spent or not: the
	// caller must not accept the token.
	Use(ctx context.Context, id [challenge.IDSize]byte, limit int, issued, expires, now time.Time) (bool, error)
	// Exhausted reports whether id has been used limit times already. An
	// id the store does not know is not exhausted: only Use fails closed.
	Exhausted(ctx context.Context, id [challenge.IDSize]byte, limit int) (bool, error)
}

// Stash holds the submissions of clients solving a challenge, bounded and
// shared fairly between owners (networks), each released at most once and
// only to the client that sent it.
type Stash interface {
	// Put stores sub for client b, counted against owner's share, and
	// returns the id that releases it.
	Put(ctx context.Context, sub challenge.Submission, b challenge.Binding, owner string) (string, error)
	// Restore puts back under id a submission taken a moment ago, when
	// what should have followed the take failed. It fails if id is held.
	Restore(ctx context.Context, id string, sub challenge.Submission, b challenge.Binding, owner string) error
	// Peek returns the submission id without releasing it, if it is held,
	// unexpired at now and belongs to client b.
	Peek(ctx context.Context, id string, b challenge.Binding, now time.Time) (challenge.Submission, bool, error)
	// Take removes and returns the submission id under the same
	// conditions as Peek. Of any number of concurrent Takes of one id, on
	// any number of instances, at most one gets it.
	Take(ctx context.Context, id string, b challenge.Binding, now time.Time) (challenge.Submission, bool, error)
}

// Site is everything one site's shield remembers.
type Site struct {
	// Epoch keys the site's tokens (see challenge.NewSigner): instances
	// sharing a store share it, so that each accepts the others' tokens.
	Epoch []byte
	// Challenges records solved challenges (one use each), Passes spent
	// pass credits.
	Challenges, Passes Spent
	// Stash holds submissions while their senders solve a challenge.
	Stash Stash
	// Budgets counts the budgets of limit rules, all or none.
	Budgets budget.Store
	// Close releases what the site holds (background work, connections
	// of its own); nil when there is nothing to release.
	Close func() error
}

// SiteConfig sizes the bounded parts of a site's state. Stores without a
// bound of their own (Redis is bounded by its expiry and per-owner quotas)
// use what applies.
type SiteConfig struct {
	// SpentSize is how many solved challenges, and how many spent passes,
	// an in-memory store remembers (each).
	SpentSize int
	// Stash bounds the held submissions.
	Stash challenge.StashConfig
	// Budgets sizes an in-memory store's budget tables.
	Budgets budget.TablesConfig
}

// Pressure estimates each network's recent rate of challenges, counted
// on every instance sharing the store, and turns it into extra difficulty
// (see budget.Pressure).
type Pressure interface {
	// Observe records one event from the network key at now and returns
	// the extra bits the network has earned, this event included. On
	// error extraBits is still the best estimate this instance has without
	// the store (its own events and the last shared estimate it saw): the
	// caller uses it and never waits for the store to come back.
	Observe(ctx context.Context, key string, now time.Time) (extraBits int, err error)
	// Extra returns the extra bits the network key has earned as of now,
	// without recording an event. It answers from this instance's copy of
	// the estimate, refreshed by each Observe, and costs no round trip.
	Extra(ctx context.Context, key string, now time.Time) (extraBits int, err error)
	// Rate returns the network key's challenges per minute as of now, from
	// the same copy as Extra: no round trip. It is for people (explain,
	// the top networks), not for decisions.
	Rate(key string, now time.Time) float64
	// Retune returns these estimates tuned by cfg: a config reload that
	// changes the flood's settings keeps every network's rate.
	Retune(cfg budget.PressureConfig) (Pressure, error)
}

// BudgetedPressure is a Pressure whose store counts a challenge against
// its budgets and adds it to its network's estimate in one round trip
// (Redis), where the shield would otherwise make two.
type BudgetedPressure interface {
	Pressure
	// TakeAllAndObserve is the site's budget.Store TakeAll over charges
	// and, only when the event is counted, Observe of network key: a
	// challenge refused by a budget adds nothing to its network's rate.
	// extraBits is Observe's when the event is counted, else 0. On error
	// nothing may be assumed counted or observed; the caller goes on as
	// for an error of TakeAll, then Observes on its own.
	TakeAllAndObserve(ctx context.Context, charges []budget.Charge, key string, now time.Time) (res budget.TakeResult, extraBits int, err error)
}

// Backend opens the state of sites.
type Backend interface {
	// OpenSite returns the state of the site called name, shared with
	// every instance using the same backend and name.
	OpenSite(ctx context.Context, name string, cfg SiteConfig) (*Site, error)
	// OpenPressure returns the flood estimates of the site called name,
	// tuned by cfg, shared like its state. Instances sharing it must use
	// the same cfg.
	OpenPressure(ctx context.Context, name string, cfg budget.PressureConfig) (Pressure, error)
}
