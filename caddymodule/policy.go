package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/rempart/rempart/budget"
	"github.com/rempart/rempart/policies"
	"github.com/rempart/rempart/shield"
)

// defaultPolicyReload is how often a policy file is checked for changes.
const defaultPolicyReload = 2 * time.Second

// activePolicy is what a request is decided by: the chain of policies and
// the budgets of its limit rules, swapped together.
type activePolicy struct {
	shield.Active
	loaded time.Time
	// tempExpiry is when the first temporary rule expires, or zero.
	tempExpiry time.Time
}

// livePolicy keeps a handler's policy current: the Caddyfile's limits,
// then the policy file (or the embedded default). A reload that fails
// keeps the policy in force; no request ever sees half a policy.
type livePolicy struct {
	path       string // "" for the embedded default
	opts       policies.ParseOptions
	limits     *policies.Policy
	store      budget.Store
	budgetOpts policies.BudgetOptions
	logger     *zap.Logger

	current atomic.Pointer[activePolicy]
	// reloading serialises this policy's reloads, which read and compile
	// the file outside policyMu.
	reloading sync.Mutex
	// seen is the stamp of a changed file found too fresh to load (see
	// settled). Guarded by reloading.
	seen fileStamp

	// Guarded by policyMu.
	file    *policies.Policy
	stamp   fileStamp
	lastErr error
	temp    []tempRule // the temporary rules in force here
}

// policyMu serialises every change of policy in force, in every shield:
// swaps after a reload, temporary rules, expiries. It is never held while a
// file is read or compiled, and requests never wait for it (see active).
var policyMu sync.Mutex

// temporaryRules are the rules added through the admin API, in the order
// they were added. They apply to every site's shield and outlive config
// reloads, until they expire. Guarded by policyMu.
var temporaryRules []tempRule

// tempRule is a rule added through the admin API for a while, such as
// "throttle AS64500 to 1 signature a minute for 2 hours".
type tempRule struct {
	Name    string          `json:"name"`
	Rule    json.RawMessage `json:"rule"`
	Expires time.Time       `json:"expires"`
}

type fileStamp struct {
	size    int64
	modTime time.Time
}

func newLivePolicy(path string, limits []policies.Budget, opts policies.ParseOptions, store budget.Store, budgetOpts policies.BudgetOptions, logger *zap.Logger) (*livePolicy, error) {
	limitsPolicy, err := policies.LimitsPolicy(limits, "Caddyfile limits", opts)
	if err != nil {
		return nil, err
	}
	lp := &livePolicy{path: path, opts: opts, limits: limitsPolicy, store: store, budgetOpts: budgetOpts, logger: logger}
	if _, err := lp.reload(true); err != nil {
		return nil, err
	}
	return lp, nil
}

// reload loads the policy file again if it changed (or always, when
// force is set) and swaps it in. A broken file keeps the policy in force.
// The file is read and compiled before policyMu is taken.
func (lp *livePolicy) reload(force bool) (changed bool, err error) {
	lp.reloading.Lock()
	defer lp.reloading.Unlock()
	var p *policies.Policy
	var stamp fileStamp
	if lp.path == "" {
		if lp.current.Load() != nil {
			return false, nil
		}
		// The default's deltas follow the admin's difficulty: clamped to
		// the range, never an error about a file the admin did not write.
		opts := lp.opts
		opts.ClampDifficulty = true
		p, err = opts.Parse(policies.DefaultSource(), "default policy")
	} else {
		info, statErr := os.Stat(lp.path)
		if statErr != nil {
			err := fmt.Errorf("policy %s: %w", lp.path, statErr)
			policyMu.Lock()
			defer policyMu.Unlock()
			// A file that stays missing is said once, like a broken one.
			again := lp.stamp == missingStamp && lp.lastErr != nil && lp.lastErr.Error() == err.Error()
			lp.stamp, lp.lastErr = missingStamp, err
			if again && !force {
				return false, nil
			}
			return false, err
		}
		stamp = fileStamp{size: info.Size(), modTime: info.ModTime()}
		policyMu.Lock()
		unchanged := stamp == lp.stamp
		policyMu.Unlock()
		if !force && unchanged {
			// Said once when the file changed: a broken file is not logged
			// again on every check until it is fixed.
			return false, nil
		}
		if !force && !lp.settled(stamp, time.Now()) {
			return false, nil
		}
		p, err = lp.opts.Load(lp.path)
		if after, statErr := os.Stat(lp.path); !force && statErr == nil && (fileStamp{size: after.Size(), modTime: after.ModTime()}) != stamp {
			// Written while it was read: the next check reads it whole.
			return false, nil
		}
	}
	policyMu.Lock()
	defer policyMu.Unlock()
	lp.stamp = stamp
	if err != nil {
		lp.lastErr = err
		return false, err
	}
	if err := lp.swap(p, temporaryRules, time.Now()); err != nil {
		lp.lastErr = err
		return false, err
	}
	lp.file, lp.lastErr = p, nil
	return true, nil
}

// settleTime is how long a changed policy file must have gone unwritten
// before a check loads it, unless the check before found it the same: a
// file caught while it is written (cp, an editor that writes in place)
// can parse all the same, "rules:" alone being a policy, and would put
// the part written so far in force until the next check.
const settleTime = 500 * time.Millisecond

// settled reports whether the file of stamp can be loaded now (see
// settleTime). A modification time in the future (another clock) settles
// by the second rule. lp.reloading is held.
func (lp *livePolicy) settled(stamp fileStamp, now time.Time) bool {
	if now.Sub(stamp.modTime) >= settleTime || stamp == lp.seen {
		return true
	}
	lp.seen = stamp
	return false
}

// missingStamp is the stamp of a policy file that could not be read.
var missingStamp = fileStamp{size: -1}

// swap compiles the chain of the Caddyfile's limits, the temporary rules
// not yet expired and file, and puts it in force. policyMu is held.
func (lp *livePolicy) swap(file *policies.Policy, temp []tempRule, now time.Time) error {
	chain := policies.Chain{lp.limits}
	var expiry time.Time
	var kept []tempRule
	for _, t := range temp {
		if now.Before(t.Expires) {
			kept = append(kept, t)
			if expiry.IsZero() || t.Expires.Before(expiry) {
				expiry = t.Expires
			}
		}
	}
	if len(kept) > 0 {
		rules := make([]json.RawMessage, len(kept))
		for i, t := range kept {
			rules[i] = t.Rule
		}
		doc, err := json.Marshal(map[string]any{"rules": rules})
		if err != nil {
			return fmt.Errorf("temporary rules: %w", err)
		}
		opts := lp.opts
		opts.SkipTests = true
		tp, err := opts.Parse(doc, "temporary rules")
		if err != nil {
			return err
		}
		chain = append(chain, tp)
	}
	chain = append(chain, file)
	budgets, err := policies.NewBudgets(chain.Budgets(), lp.store, lp.budgetOpts)
	if err != nil {
		return fmt.Errorf("policy %s: %w (a Caddyfile limit, a temporary rule and a policy rule must have different names)", file.File(), err)
	}
	lp.temp = kept
	lp.current.Store(&activePolicy{Active: shield.Active{Chain: chain, Budgets: budgets}, loaded: now, tempExpiry: expiry})
	return nil
}

// active returns the policy in force, first dropping temporary rules
// whose time is over. It never waits: when another change of policy holds
// policyMu, the request is decided by the policy in force, and the next
// request drops the expired rules.
func (lp *livePolicy) active(now time.Time) *activePolicy {
	a := lp.current.Load()
	if a.tempExpiry.IsZero() || now.Before(a.tempExpiry) {
		return a
	}
	if !policyMu.TryLock() {
		return a
	}
	defer policyMu.Unlock()
	if a = lp.current.Load(); !a.tempExpiry.IsZero() && !now.Before(a.tempExpiry) {
		if err := lp.swap(lp.file, temporaryRules, now); err != nil {
			lp.logger.Error("dropping expired temporary rules", zap.Error(err))
		}
	}
	return lp.current.Load()
}

// Active gives the shield the policy in force.
func (lp *livePolicy) Active(now time.Time) *shield.Active {
	return &lp.active(now).Active
}

// setTemporaryRules puts rules in force in every running shield, in
// place of the temporary rules before; when one shield refuses them (a
// rule that does not compile, a name taken), nothing changes.
func setTemporaryRules(rules []tempRule, now time.Time) error {
	policyMu.Lock()
	defer policyMu.Unlock()
	lps, _ := running()
	for i, lp := range lps {
		if err := lp.swap(lp.file, rules, now); err != nil {
			for _, done := range lps[:i] {
				_ = done.swap(done.file, temporaryRules, now)
			}
			return err
		}
	}
	temporaryRules = rules
	return nil
}

// addTemporaryRule adds a rule (a policy rule in JSON) for ttl; adding a
// rule of the same name again replaces and renews it.
func addTemporaryRule(rule json.RawMessage, ttl time.Duration, now time.Time) (tempRule, error) {
	var named struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(rule, &named); err != nil || named.Name == "" {
		return tempRule{}, errors.New("want a rule as JSON, with a name, as in a policy file's rules")
	}
	t := tempRule{Name: named.Name, Rule: rule, Expires: now.Add(ttl)}
	rules := append(withoutRule(currentTemporaryRules(), t.Name), t)
	if err := setTemporaryRules(rules, now); err != nil {
		return t, err
	}
	publishRules(rules)
	return t, nil
}

// removeTemporaryRule removes the rule name, and reports whether there
// was one.
func removeTemporaryRule(name string, now time.Time) (bool, error) {
	rules := currentTemporaryRules()
	kept := withoutRule(rules, name)
	if len(kept) == len(rules) {
		return false, nil
	}
	if err := setTemporaryRules(kept, now); err != nil {
		return true, err
	}
	publishRules(kept)
	return true, nil
}

func currentTemporaryRules() []tempRule {
	policyMu.Lock()
	defer policyMu.Unlock()
	return append([]tempRule(nil), temporaryRules...)
}

func withoutRule(rules []tempRule, name string) []tempRule {
	out := make([]tempRule, 0, len(rules))
	for _, t := range rules {
		if t.Name != name {
			out = append(out, t)
		}
	}
	return out
}

// status describes the live policy for the admin API.
func (lp *livePolicy) status(now time.Time) policyStatus {
	a := lp.active(now)
	policyMu.Lock()
	defer policyMu.Unlock()
	st := policyStatus{File: lp.path, Loaded: a.loaded, Temporary: append([]tempRule{}, lp.temp...)}
	if lp.path == "" {
		st.File = "default policy"
	}
	if lp.lastErr != nil {
		st.Error = lp.lastErr.Error()
		var ve *policies.ValidationError
		if errors.As(lp.lastErr, &ve) {
			st.Problems = problemStrings(ve)
		}
	}
	for _, p := range a.Chain {
		st.Rules = append(st.Rules, p.Rules()...)
	}
	return st
}

type policyStatus struct {
	// Site and Mode say whose policy this is: the handler's site, and
	// enforce or observe.
	Site      string          `json:"site"`
	Mode      string          `json:"mode"`
	File      string          `json:"file"`
	Loaded    time.Time       `json:"loaded"`
	Error     string          `json:"error,omitempty"`
	Problems  []string        `json:"problems,omitempty"`
	Temporary []tempRule      `json:"temporary"`
	Rules     []policies.Rule `json:"rules"`
}

// watch checks the policy file every interval until stop is closed,
// logging each reload and each refused file.
func (lp *livePolicy) watch(stop <-chan struct{}, interval time.Duration) {
	every(stop, interval, func() { lp.reloadAndLog(false) })
}

func (lp *livePolicy) reloadAndLog(force bool) error {
	changed, err := lp.reload(force)
	if changed || err != nil {
		countReload(err)
	}
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
		// Empty, the path would mean the embedded default policy in place
		// of the staff's, without a word.
		if path = caddy.NewReplacer().ReplaceKnown(h.Policy, ""); path == "" {
			return fmt.Errorf("policy %q is empty once placeholders are replaced (is the environment variable set?)", h.Policy)
		}
	}
	opts := policies.ParseOptions{
		Classes:    h.app.classes.names(),
		Defaults:   policies.Defaults{Difficulty: h.Difficulty, Credits: h.Credits},
		Signatures: h.Protect,
	}
	lp, err := newLivePolicy(path, h.Limits, opts, h.state.budgets, policies.BudgetOptions{IPv6IPBits: h.IPv6IPPrefix}, h.logger)
	if err != nil {
		return err
	}
	h.policy = lp
	registerPolicy(lp, h)
	if path != "" {
		go lp.watch(ctx.Done(), time.Duration(h.PolicyReload))
	}
	return nil
}
