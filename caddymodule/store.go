package caddymodule

import (
	"context"
	"fmt"

	"github.com/caddyserver/caddy/v2"

	"github.com/rempart/rempart/store"
	"github.com/rempart/rempart/store/memory"
)

func init() {
	caddy.RegisterModule(MemoryStore{})
}

// Store is a guest module of the rempart app (namespace rempart.stores)
// that keeps every site's shield state: its spent records, held
// submissions and budget counters.
type Store interface {
	// Backend opens the sites' state.
	Backend() store.Backend
	// PoolKey names the state this store's sites keep across config
	// reloads: two configs with the same key share it.
	PoolKey() string
}

// MemoryStore keeps the shield's state in this process's memory, in
// bounded tables sized by the handler (spent_size). It is the default; it
// suits one instance only: behind a load balancer, use the redis store.
type MemoryStore struct{}

// CaddyModule returns the Caddy module information.
func (MemoryStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "rempart.stores.memory",
		New: func() caddy.Module { return new(MemoryStore) },
	}
}

// Backend returns the in-memory backend.
func (MemoryStore) Backend() store.Backend { return memory.Backend{} }

// PoolKey is empty: in-memory state is keyed by site alone, as before
// stores existed, so that a reload keeps it.
func (MemoryStore) PoolKey() string { return "" }

// secretKeeper is a store that shares a generated secret between the
// instances using it.
type secretKeeper interface {
	LoadOrStoreSecret(ctx context.Context, candidate []byte) ([]byte, error)
}

// budgetsPolicy is a store that says what happens to budgets when it
// fails.
type budgetsPolicy interface {
	BudgetsFailClosed() bool
}

// storeOf returns the app's store, the memory one when none is set.
func (a *App) storeOf() Store {
	if a == nil || a.store == nil {
		return MemoryStore{}
	}
	return a.store
}

// provisionStore loads the app's store module.
func (a *App) provisionStore(ctx caddy.Context) error {
	if a.StoreRaw == nil {
		a.store = MemoryStore{}
		return nil
	}
	mod, err := ctx.LoadModule(a, "StoreRaw")
	if err != nil {
		return fmt.Errorf("loading store: %w", err)
	}
	s, ok := mod.(Store)
	if !ok {
		return fmt.Errorf("store module %T is not a rempart store", mod)
	}
	a.store = s
	return nil
}

// Interface guards
var _ Store = MemoryStore{}

// budgetsFailClosed reports whether st refuses what budgets count when it
// fails.
func budgetsFailClosed(st Store) bool {
	p, ok := st.(budgetsPolicy)
	return ok && p.BudgetsFailClosed()
}
