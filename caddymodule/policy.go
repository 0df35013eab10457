package caddymodule

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/ulule/limiter/v3"
	"go.uber.org/zap"

	"github.com/rempart/rempart/policies"
)

// defaultPolicyReload is how often a policy file is checked for changes.
const defaultPolicyReload = 2 * time.Second

// activePolicy is what a request is decided by: the chain of policies and
// the budgets of its limit rules, swapped together.
type activePolicy struct {
	chain   policies.Chain
	budgets *policies.Budgets
	loaded  time.Time
}

// livePolicy keeps a handler's policy current: the Caddyfile's limits,
// then the policy file (or the embedded default). A reload that fails
// keeps the policy in force; no request ever sees half a policy.
type livePolicy struct {
	path   string // "" for the embedded default
	opts   policies.ParseOptions
	limits *policies.Policy
	store  limiter.Store
	logger *zap.Logger

	current atomic.Pointer[activePolicy]

	mu      sync.Mutex // serialises reloads
	stamp   fileStamp
	lastErr error
}

type fileStamp struct {
	size    int64
	modTime time.Time
}

func newLivePolicy(path string, limits []policies.Budget, opts policies.ParseOptions, store limiter.Store, logger *zap.Logger) (*livePolicy, error) {
	limitsPolicy, err := policies.LimitsPolicy(limits, "Caddyfile limits", opts)
	if err != nil {
		return nil, err
	}
	lp := &livePolicy{path: path, opts: opts, limits: limitsPolicy, store: store, logger: logger}
	if _, err := lp.reload(true); err != nil {
		return nil, err
	}
	return lp, nil
}

// reload loads the policy file again if it changed (or always, when
// force is set) and swaps it in. A broken file keeps the policy in force.
func (lp *livePolicy) reload(force bool) (changed bool, err error) {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	var p *policies.Policy
	var stamp fileStamp
	if lp.path == "" {
		if lp.current.Load() != nil {
			return false, nil
		}
		p, err = lp.opts.Parse(policies.DefaultSource(), "default policy")
	} else {
		info, statErr := os.Stat(lp.path)
		if statErr != nil {
			lp.lastErr = fmt.Errorf("policy %s: %w", lp.path, statErr)
			return false, lp.lastErr
		}
		stamp = fileStamp{size: info.Size(), modTime: info.ModTime()}
		if !force && stamp == lp.stamp {
			return false, lp.lastErr
		}
		lp.stamp = stamp
		p, err = lp.opts.Load(lp.path)
	}
	if err != nil {
		lp.lastErr = err
		return false, err
	}
	chain := policies.Chain{lp.limits, p}
	budgets, err := policies.NewBudgets(chain.Budgets(), lp.store)
	if err != nil {
		lp.lastErr = fmt.Errorf("policy %s: %w (a Caddyfile limit and a policy rule share a name?)", p.File(), err)
		return false, lp.lastErr
	}
	lp.current.Store(&activePolicy{chain: chain, budgets: budgets, loaded: time.Now()})
	lp.lastErr = nil
	return true, nil
}

// watch checks the policy file every interval until stop is closed,
// logging each reload and each refused file.
func (lp *livePolicy) watch(stop <-chan struct{}, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			lp.reloadAndLog(false)
		}
	}
}

func (lp *livePolicy) reloadAndLog(force bool) error {
	changed, err := lp.reload(force)
	var ve *policies.ValidationError
	switch {
	case errors.As(err, &ve):
		lp.logger.Error("policy refused; the policy in force stays", zap.String("file", lp.path), zap.Strings("problems", problemStrings(ve)))
	case err != nil:
		lp.logger.Error("policy not reloaded; the policy in force stays", zap.String("file", lp.path), zap.Error(err))
	case changed:
		lp.logger.Info("policy loaded", zap.String("file", lp.path))
	}
	return err
}

func problemStrings(ve *policies.ValidationError) []string {
	out := make([]string, len(ve.Problems))
	for i, p := range ve.Problems {
		out[i] = p.String()
	}
	return out
}

// loadPolicy sets up the handler's live policy and, for a file, its
// watcher, which stops when the config is unloaded.
func (h *Handler) loadPolicy(ctx caddy.Context) error {
	path := ""
	if h.Policy != "" {
		path = caddy.NewReplacer().ReplaceKnown(h.Policy, "")
	}
	opts := policies.ParseOptions{
		Classes:  h.app.classes.names(),
		Defaults: policies.Defaults{Difficulty: h.Difficulty, Credits: h.Credits},
	}
	lp, err := newLivePolicy(path, h.Limits, opts, h.state.budgetStore, h.logger)
	if err != nil {
		return err
	}
	h.policy = lp
	if path != "" {
		go lp.watch(ctx.Done(), time.Duration(h.PolicyReload))
	}
	return nil
}
