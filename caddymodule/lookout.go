package caddymodule

import (
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyevents"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/rempart/rempart/shield"
	"github.com/rempart/rempart/store"
	"github.com/rempart/rempart/top"
)

// Sizes of what a site remembers of the networks it sees: with about 300
// bytes a tracked network, a site's watch stays under 200 KiB, and 20 KiB
// more for the networks logged over a budget in a flood from many
// (maxLoggedOverBudget).
const (
	topCapacity    = 256
	recentRefusals = 50
	refusedEvent   = "rempart_refused"
)

// watchActions are the shield's actions, in the order the top lists and
// the interval log count them.
var watchActions = []shield.Action{
	shield.ActionPass, shield.ActionSpend, shield.ActionChallenge, shield.ActionHold,
	shield.ActionLimit, shield.ActionDeny, shield.ActionRefuse, shield.ActionVerify, shield.ActionAsset,
}

func actionKind(a shield.Action) int {
	for i, w := range watchActions {
		if w == a {
			return i
		}
	}
	return -1
}

// networks is what a site has seen of the networks that send to it: the
// heaviest ASNs and prefixes, the latest refusals and the counts of the
// current log interval. It outlives config reloads (siteStates).
type networks struct {
	asns     *top.Tracker[uint32]
	prefixes *top.Tracker[prefixKey]
	counts   [top.Kinds]atomic.Uint64
	would    atomic.Uint64 // observe mode's would-be refusals
	// second and inSecond count the refusals of the current second (see
	// refusalShare).
	second, inSecond atomic.Int64
	// overBudget remembers which networks were refused by which budget in
	// the current log interval (see firstOverBudget).
	overBudget [overBudgetSlots]atomic.Uint64
	// logged holds the networks, hashed with their budget, logged going
	// over it in the log interval loggedIn; unlogged counts the refusals
	// of those past maxLoggedOverBudget (see logOverBudget).
	loggedMu sync.Mutex
	logged   map[uint64]struct{}
	loggedIn int64
	unlogged atomic.Uint64

	mu      sync.Mutex
	refused [recentRefusals]refusal
	next    int
	// listSecond is the second of the latest listed refusals, which
	// start at refused[listStart%recentRefusals] (see refusalShare).
	listSecond int64
	listStart  int
	minutes    [plotMinutes]minuteCounts
}

// plotMinutes is how many minutes of signatures the dashboard plots.
const plotMinutes = 60

// minuteCounts are the signatures of one minute, for the dashboard's plot.
type minuteCounts struct {
	Minute    int64 `json:"t"` // Unix time of the minute's start
	Forwarded int   `json:"forwarded"`
	Refused   int   `json:"refused"`
	Held      int   `json:"held"`
	// WouldRefuse counts observe mode's signatures that enforce would
	// have refused.
	WouldRefuse int `json:"would_refuse"`
}

func (*networks) Destruct() error { return nil }

// prefixKey is a network prefix as the top list keys it: plain bytes,
// which a map hashes at once, where a netip.Prefix is hashed field by
// field (its zone is a pointer). A flood of new networks looks one up per
// request.
type prefixKey struct {
	addr        [16]byte
	bitsPlusOne uint8 // 0: the zero Prefix
	is4         bool
}

func keyOfPrefix(p netip.Prefix) prefixKey {
	if !p.IsValid() {
		return prefixKey{}
	}
	return prefixKey{addr: p.Addr().As16(), bitsPlusOne: uint8(p.Bits() + 1), is4: p.Addr().Is4()}
}

func (k prefixKey) prefix() netip.Prefix {
	if k.bitsPlusOne == 0 {
		return netip.Prefix{}
	}
	addr := netip.AddrFrom16(k.addr)
	if k.is4 {
		addr = addr.Unmap()
	}
	return netip.PrefixFrom(addr, int(k.bitsPlusOne)-1)
}

// refusal is one refused request, as the dashboard and /rempart/top list it.
type refusal struct {
	Time     time.Time    `json:"time"`
	Action   string       `json:"action"`
	Observed bool         `json:"observed,omitempty"`
	Rule     string       `json:"rule,omitempty"`
	Budget   string       `json:"budget,omitempty"`
	Reason   string       `json:"reason,omitempty"`
	Network  netip.Prefix `json:"network"`
	ASN      uint32       `json:"asn,omitempty"`
	Org      string       `json:"org,omitempty"`
}

func loadNetworks(site string) (string, *networks, error) {
	key := "rempart.networks." + site
	val, _, err := siteStates.LoadOrNew(key, func() (caddy.Destructor, error) {
		cfg := top.Config{Capacity: topCapacity, HalfLife: time.Minute}
		asns, err := top.New[uint32](cfg)
		if err != nil {
			return nil, err
		}
		prefixes, err := top.New[prefixKey](cfg)
		if err != nil {
			return nil, err
		}
		return &networks{asns: asns, prefixes: prefixes}, nil
	})
	if err != nil {
		return "", nil, fmt.Errorf("site %q networks: %w", site, err)
	}
	return key, val.(*networks), nil
}

// A flood of refusals is watched by sample: beyond exactRefusals a second,
// a site's refusals enter its top lists one in refusalSample, each counted
// for refusalSample, so that the heaviest networks rank as they would,
// at an eighth of the cost (the first refusal of a network by a budget in
// a log interval is always tracked, so that it is logged: see
// firstOverBudget), and the list of latest refusals takes
// listedRefusals a second, so that it spans seconds of a flood rather than
// its last milliseconds: a uniform sample of each second's refusals. The
// metrics and the interval log still count every refusal.
const (
	exactRefusals  = 200
	refusalSample  = 8
	listedRefusals = 10
)

// refusalShare says how a refusal at now is watched: the events it
// counts for in the top lists (0: none, it is not sampled), and whether it
// enters the list of latest refusals, with slot -1 to be added to it or
// the rank among the second's listed refusals of the one it replaces.
func (n *networks) refusalShare(now time.Time) (weight int, listed bool, slot int) {
	second := now.Unix()
	if n.second.Load() != second {
		// Two requests may both start the new second: the count is a
		// threshold's estimate, never a figure staff read.
		n.second.Store(second)
		n.inSecond.Store(0)
	}
	k := n.inSecond.Add(1)
	listed, slot = k <= listedRefusals, -1
	if !listed {
		// Reservoir sampling: the k-th refusal of the second takes the
		// place of one of the listed with probability listedRefusals/k, so
		// that they are a uniform sample of the second, not its first.
		if j := rand.Int64N(k); j < listedRefusals {
			listed, slot = true, int(j)
		}
	}
	switch {
	case k <= exactRefusals:
		return 1, listed, slot
	case rand.Uint32()%refusalSample == 0:
		return refusalSample, listed, slot
	}
	return 0, listed, slot
}

// overBudgetSlots sizes networks.overBudget: a flood from more networks
// than this only makes more refusals tracked one by one.
const overBudgetSlots = 4096

var overBudgetSeed = maphash.MakeSeed()

type overBudgetKey struct {
	asn     uint32
	network prefixKey
	budget  string
}

// firstOverBudget reports whether out is the first refusal, in the current
// log interval, of its network by its budget as far as a small lock-free
// table can tell: a sampled flood still tracks it, so that every network
// going over a budget is logged, however few its refusals. A slot another
// network took back only makes a refusal tracked again.
func (n *networks) firstOverBudget(out *shield.Outcome, now time.Time) bool {
	h := overBudgetHash(out)
	interval := uint64(logIntervalOf(now))
	mark := h&^0xffff | interval&0xffff
	slot := &n.overBudget[h%overBudgetSlots]
	if slot.Load() == mark {
		return false
	}
	slot.Store(mark)
	return true
}

func overBudgetHash(out *shield.Outcome) uint64 {
	return maphash.Comparable(overBudgetSeed, overBudgetKey{asn: out.Client.ASN, network: keyOfPrefix(out.Network), budget: out.Budget})
}

// logIntervalOf numbers the log interval now is in.
func logIntervalOf(now time.Time) int64 { return now.Unix() / int64(max(logInterval/time.Second, 1)) }

// maxLoggedOverBudget bounds the networks logged going over a budget in a
// log interval, and the memory that remembers them (about 20 bytes each).
const maxLoggedOverBudget = 1024

// logOverBudget reports whether out's network going over its budget is to
// be logged: once a log interval. The top list's Info remembers it only
// while the list holds the network: in a flood from more networks than
// that, each refusal would find it forgotten and log again. Past
// maxLoggedOverBudget networks in an interval, refusals are counted for
// the traffic line instead.
func (n *networks) logOverBudget(out *shield.Outcome, now time.Time) bool {
	h, interval := overBudgetHash(out), logIntervalOf(now)
	n.loggedMu.Lock()
	defer n.loggedMu.Unlock()
	if n.logged == nil || interval != n.loggedIn {
		n.logged, n.loggedIn = make(map[uint64]struct{}), interval
	}
	if _, ok := n.logged[h]; ok {
		return false
	}
	if len(n.logged) >= maxLoggedOverBudget {
		n.unlogged.Add(1)
		return false
	}
	n.logged[h] = struct{}{}
	return true
}

// addRefusal lists r: added, or in place of the slot-th listed refusal of
// its second (see refusalShare).
func (n *networks) addRefusal(r refusal, slot int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	second := r.Time.Unix()
	if slot >= 0 && second == n.listSecond && slot < n.next-n.listStart {
		n.refused[(n.listStart+slot)%recentRefusals] = r
		return
	}
	if second != n.listSecond {
		n.listSecond, n.listStart = second, n.next
	}
	n.refused[n.next%recentRefusals] = r
	n.next++
}

// countSignature counts a signature in its minute.
func (n *networks) countSignature(out *shield.Outcome, now time.Time) {
	minute := now.Unix() / 60 * 60
	n.mu.Lock()
	defer n.mu.Unlock()
	m := &n.minutes[minute/60%plotMinutes]
	if m.Minute != minute {
		*m = minuteCounts{Minute: minute}
	}
	switch {
	case out.Observed && signatureResult(out.Action) == "refused":
		m.WouldRefuse++
	case out.Observed:
	case out.Action == shield.ActionSpend:
		m.Forwarded++
	case out.Action == shield.ActionHold:
		m.Held++
	case signatureResult(out.Action) == "refused":
		m.Refused++
	}
}

// series returns the last plotMinutes minutes of signatures, oldest
// first, with the minutes nothing happened in.
func (n *networks) series(now time.Time) []minuteCounts {
	last := now.Unix() / 60 * 60
	out := make([]minuteCounts, plotMinutes)
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := range out {
		minute := last - int64(plotMinutes-1-i)*60
		out[i] = minuteCounts{Minute: minute}
		if m := n.minutes[minute/60%plotMinutes]; m.Minute == minute {
			out[i] = m
		}
	}
	return out
}

// recent returns the latest refusals, newest first.
func (n *networks) recent() []refusal {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]refusal, 0, min(n.next, recentRefusals))
	for i := n.next - 1; i >= 0 && i >= n.next-recentRefusals; i-- {
		out = append(out, n.refused[i%recentRefusals])
	}
	return out
}

// lookout is how one handler's staff see its shield: every outcome goes to
// the metrics, the top networks, the interval log, the access log's
// placeholders and, for refusals, Caddy's events.
type lookout struct {
	site     string
	metrics  *siteMetrics
	nets     *networks
	netsKey  string
	pressure store.Pressure
	events   *caddyevents.App
	ctx      caddy.Context
	logger   *zap.Logger
	now      func() time.Time
}

// provisionWatch sets up the handler's lookout and its interval log, which
// stops with ctx.
func (h *Handler) provisionWatch(ctx caddy.Context, pressure store.Pressure) error {
	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return err
	}
	key, nets, err := loadNetworks(h.Site)
	if err != nil {
		return err
	}
	w := &lookout{site: h.Site, metrics: newSiteMetrics(h.Site), nets: nets, netsKey: key, pressure: pressure,
		ctx: ctx, logger: h.logger, now: time.Now}
	if events, err := ctx.App("events"); err == nil {
		w.events, _ = events.(*caddyevents.App)
	}
	h.lookout = w
	if watching {
		go w.logEvery(ctx.Done(), logInterval)
	}
	return nil
}

// observer is the shield's Observer: observe, unless built without
// watching (see watching.go).
func (w *lookout) observer() func(*http.Request, *shield.Outcome) {
	if !watching {
		return nil
	}
	return w.observe
}

func (w *lookout) len() int { return w.nets.asns.Len() + w.nets.prefixes.Len() }

// observe is the shield's Observer.
func (w *lookout) observe(r *http.Request, out *shield.Outcome) {
	w.metrics.observe(out)
	kind := actionKind(out.Action)
	if kind >= 0 {
		w.nets.counts[kind].Add(1)
	}
	now := out.Time
	if now.IsZero() {
		now = w.now()
	}
	refused := out.Action == shield.ActionLimit || out.Action == shield.ActionDeny || out.Action == shield.ActionRefuse
	var extra int
	if out.Action == shield.ActionChallenge || out.Action == shield.ActionHold {
		extra = out.FloodExtra
	}
	set := func(i *top.Info) {
		i.ASN, i.Org, i.Class = out.Client.ASN, out.Client.Org, out.Client.Class
		if out.Difficulty != 0 {
			i.Difficulty = out.Difficulty
		}
		if out.Action == shield.ActionChallenge || out.Action == shield.ActionHold {
			i.Extra = extra
		}
		if out.Budget != "" {
			i.Budget, i.BudgetAt = out.Budget, now
		}
	}
	// A network going over a budget must be tracked, so that its next
	// refusals find the budget in its Info and log nothing more (changes);
	// other events of a network the list does not hold get in at random
	// (see package top), which spares the list a flood of one-off networks.
	admit := out.Budget != ""
	weight, listed, slot := 1, true, -1
	if refused {
		weight, listed, slot = w.nets.refusalShare(now)
		if weight == 0 && admit && w.nets.firstOverBudget(out, now) {
			weight = 1
		}
	}
	if weight > 0 {
		var prev top.Info
		if out.Client.Known {
			prev = w.nets.asns.AddN(out.Client.ASN, kind, weight, now, admit, set)
		}
		prevPrefix := w.nets.prefixes.AddN(keyOfPrefix(out.Network), kind, weight, now, admit, set)
		if !out.Client.Known {
			prev = prevPrefix
		}
		w.changes(out, prev, extra, now)
	}
	if out.Signature || out.Action == shield.ActionHold {
		w.nets.countSignature(out, now)
	}
	if refused {
		if out.Observed {
			w.nets.would.Add(1)
		}
		if listed {
			w.nets.addRefusal(refusal{Time: now, Action: string(out.Action), Observed: out.Observed, Rule: out.Rule,
				Budget: out.Budget, Reason: out.Reason, Network: out.Network, ASN: out.Client.ASN, Org: out.Client.Org}, slot)
		}
		if !out.Observed && w.events != nil && w.events.ShouldEmit(refusedEvent) {
			w.events.Emit(w.ctx, refusedEvent, map[string]any{
				"site": w.site, "action": string(out.Action), "status": out.Status, "rule": out.Rule,
				"budget": out.Budget, "reason": out.Reason, "network": out.Network.String(),
				"asn": out.Client.ASN, "org": out.Client.Org,
			})
		}
	}
	setPlaceholders(r, out)
}

// changes logs, once, what changes for the client's network: it goes over
// a budget (again after a calm interval), or the flood raises or lowers
// its difficulty.
func (w *lookout) changes(out *shield.Outcome, prev top.Info, extra int, now time.Time) {
	if out.Budget != "" && (prev.Budget != out.Budget || now.Sub(prev.BudgetAt) > logInterval) && w.nets.logOverBudget(out, now) {
		msg := "network over budget"
		if out.Observed {
			msg = "network over budget: observe mode would refuse (429)"
		}
		w.logger.Info(msg, zap.String("budget", out.Budget), zap.String("rule", out.Rule),
			zap.Stringer("network", out.Network), zap.Uint32("asn", out.Client.ASN), zap.String("org", out.Client.Org))
	}
	if (out.Action == shield.ActionChallenge || out.Action == shield.ActionHold) && extra != prev.Extra && (prev != top.Info{}) {
		msg := "flood: difficulty rises"
		if extra < prev.Extra {
			msg = "flood: difficulty falls"
		}
		w.logger.Info(msg, zap.Int("extra_bits", extra), zap.Int("was", prev.Extra), zap.Int("difficulty", out.Difficulty),
			zap.Stringer("network", out.Network), zap.Uint32("asn", out.Client.ASN), zap.String("org", out.Client.Org))
	}
}

// setPlaceholders gives {http.rempart.action}, {http.rempart.rule} and
// {http.rempart.budget} their values, through the request's facts (see
// App.facts).
func setPlaceholders(r *http.Request, out *shield.Outcome) {
	if f, ok := caddyhttp.GetVar(r.Context(), factsVarKey).(*requestFacts); ok {
		f.action, f.rule, f.budget = string(out.Action), out.Rule, out.Budget
	}
}
