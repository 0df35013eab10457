package caddymodule

import (
	"errors"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rempart/rempart/shield"
	"github.com/rempart/rempart/top"
)

// metrics are rempart's Prometheus collectors. Caddy gives each config
// load a registry of its own (ctx.GetMetricsRegistry), so the collectors
// are made once per process and registered again into every new registry:
// made per load, a reload would start every series from zero; registered
// only once, a reload would leave /metrics without them (caddy-ratelimit
// #100, #102).
//
// No label takes a value per client: a site, an action, a rule, a budget
// and a proof result are all named by the configuration or the code.
type metrics struct {
	requests   *prometheus.CounterVec
	proofs     *prometheus.CounterVec
	signatures *prometheus.CounterVec
	refusals   *prometheus.CounterVec
	difficulty *prometheus.HistogramVec
	solve      *prometheus.HistogramVec
	reloads    *prometheus.CounterVec
	stores     storeCollector
}

var (
	metricsOnce sync.Once
	theMetrics  *metrics
)

const metricsNamespace = "rempart"

// rempartMetrics returns the process's collectors, made on first use.
func rempartMetrics() *metrics {
	metricsOnce.Do(func() {
		counter := func(name, help string, labels ...string) *prometheus.CounterVec {
			return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metricsNamespace, Name: name, Help: help}, labels)
		}
		theMetrics = &metrics{
			requests: counter("requests_total",
				"Requests the shield decided, by site, action, rule and whether it only observed (observe mode: what it would have done).",
				"site", "action", "rule", "observed"),
			proofs: counter("proofs_total",
				"Proofs of work (and finished no-JavaScript waits) checked, by site and result.", "site", "result"),
			signatures: counter("signatures_total",
				"Signatures by site and what became of them: forwarded, held (challenged, body kept), challenged, refused.",
				"site", "result", "observed"),
			refusals: counter("budget_refusals_total",
				"Requests refused with 429 over a budget, by site and budget name; observed=\"true\" counts would-be refusals in observe mode.",
				"site", "budget", "observed"),
			difficulty: prometheus.NewHistogramVec(prometheus.HistogramOpts{
				Namespace: metricsNamespace, Name: "challenge_difficulty_bits",
				Help:    "Difficulty, in leading zero bits, of the challenges issued.",
				Buckets: prometheus.LinearBuckets(10, 2, 12),
			}, []string{"site"}),
			solve: prometheus.NewHistogramVec(prometheus.HistogramOpts{
				Namespace: metricsNamespace, Name: "challenge_solve_seconds",
				Help:    "Time from a challenge's issue to its accepted proof.",
				Buckets: []float64{0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300},
			}, []string{"site"}),
			reloads: counter("policy_reloads_total",
				"Policy file loads, by result: loaded, or refused (the policy in force stays).", "result"),
		}
	})
	return theMetrics
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.proofs, m.signatures, m.refusals, m.difficulty, m.solve, m.reloads, &m.stores}
}

// registerMetrics registers the collectors into reg, the registry of the
// config being loaded; several handlers of one config register the same
// collectors, which is no error. A nil reg (no metrics) is fine.
func registerMetrics(reg *prometheus.Registry) error {
	if reg == nil {
		return nil
	}
	for _, c := range rempartMetrics().collectors() {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return fmt.Errorf("registering metrics: %w", err)
			}
		}
	}
	return nil
}

// siteMetrics are one site's series, with its label bound once.
type siteMetrics struct {
	// byRule and byBudget keep the counters of the requests and
	// budget_refusals series, by action and observed, then rule or budget:
	// a flood is a few series counted again and again, and finding one
	// through its labels hashes them every time. Bounded like the labels:
	// actions by the code, rules and budgets by the policy and the
	// temporary rules.
	byRule     [top.Kinds][2]counterCache
	byBudget   [2]counterCache
	requests   *prometheus.CounterVec
	proofs     *prometheus.CounterVec
	signatures *prometheus.CounterVec
	refusals   *prometheus.CounterVec
	difficulty prometheus.Observer
	solve      prometheus.Observer
}

func newSiteMetrics(site string) *siteMetrics {
	m, l := rempartMetrics(), prometheus.Labels{"site": site}
	return &siteMetrics{
		requests:   m.requests.MustCurryWith(l),
		proofs:     m.proofs.MustCurryWith(l),
		signatures: m.signatures.MustCurryWith(l),
		refusals:   m.refusals.MustCurryWith(l),
		difficulty: m.difficulty.WithLabelValues(site),
		solve:      m.solve.WithLabelValues(site),
	}
}

// observe counts one outcome.
func (m *siteMetrics) observe(out *shield.Outcome) {
	rule := out.Rule
	if rule == "" {
		rule = "none"
	}
	m.request(out.Action, rule, out.Observed).Inc()
	switch out.Action {
	case shield.ActionChallenge, shield.ActionHold:
		m.difficulty.Observe(float64(out.Difficulty))
	case shield.ActionLimit:
		m.refusal(out.Budget, out.Observed).Inc()
	}
	if out.Proof != "" {
		m.proofs.WithLabelValues(string(out.Proof)).Inc()
		if out.Proof == shield.ProofOK {
			m.solve.Observe(out.Solved.Seconds())
		}
	}
	if out.Signature {
		if result := signatureResult(out.Action); result != "" {
			m.signatures.WithLabelValues(result, strconv.FormatBool(out.Observed)).Inc()
		}
	}
}

// request returns the counter of one series of rempart_requests_total.
func (m *siteMetrics) request(action shield.Action, rule string, observed bool) prometheus.Counter {
	kind := actionKind(action)
	if kind < 0 { // not an action the lookout knows: no cache
		return m.requests.WithLabelValues(string(action), rule, strconv.FormatBool(observed))
	}
	cache := &m.byRule[kind][boolIndex(observed)]
	if c, ok := cache.get(rule); ok {
		return c
	}
	return cache.put(rule, m.requests.WithLabelValues(string(action), rule, strconv.FormatBool(observed)))
}

// refusal returns the counter of one series of rempart_budget_refusals_total.
func (m *siteMetrics) refusal(budget string, observed bool) prometheus.Counter {
	cache := &m.byBudget[boolIndex(observed)]
	if c, ok := cache.get(budget); ok {
		return c
	}
	return cache.put(budget, m.refusals.WithLabelValues(budget, strconv.FormatBool(observed)))
}

// counterCache maps one label's values to their counters, copied on
// write: reading takes no lock.
type counterCache struct {
	mu sync.Mutex
	m  atomic.Pointer[map[string]prometheus.Counter]
}

func (c *counterCache) get(value string) (prometheus.Counter, bool) {
	if m := c.m.Load(); m != nil {
		counter, ok := (*m)[value]
		return counter, ok
	}
	return nil, false
}

// put adds counter under value and returns it, or the counter another
// request put there first (the same series: Prometheus gives one
// counter per label values).
func (c *counterCache) put(value string, counter prometheus.Counter) prometheus.Counter {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := map[string]prometheus.Counter{value: counter}
	if old := c.m.Load(); old != nil {
		if existing, ok := (*old)[value]; ok {
			return existing
		}
		maps.Copy(m, *old)
	}
	c.m.Store(&m)
	return counter
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

// signatureResult names what became of a signature.
func signatureResult(a shield.Action) string {
	switch a {
	case shield.ActionSpend:
		return "forwarded"
	case shield.ActionHold:
		return "held"
	case shield.ActionChallenge:
		return "challenged"
	case shield.ActionLimit, shield.ActionDeny, shield.ActionRefuse:
		return "refused"
	}
	return ""
}

// countReload counts one policy load.
func countReload(err error) {
	result := "loaded"
	if err != nil {
		result = "refused"
	}
	rempartMetrics().reloads.WithLabelValues(result).Inc()
}

// storeCollector reports the sizes and evictions of every running site's
// stores when scraped, from the state that outlives reloads.
type storeCollector struct{}

var (
	storeEntriesDesc = prometheus.NewDesc(metricsNamespace+"_store_entries",
		"Entries held in each of a site's bounded stores.", []string{"site", "store"}, nil)
	storeBytesDesc = prometheus.NewDesc(metricsNamespace+"_store_bytes",
		"Bytes of held submissions, and of submissions being read to be held.", []string{"site", "store"}, nil)
	storeEvictionsDesc = prometheus.NewDesc(metricsNamespace+"_store_evictions_total",
		"Entries a site's bounded store had to forget before they expired.", []string{"site", "store"}, nil)
)

// Describe sends the descriptors.
func (*storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- storeEntriesDesc
	ch <- storeBytesDesc
	ch <- storeEvictionsDesc
}

// sizedSpent and sizedStash are the stores that count what they hold and
// what they had to forget: the in-memory ones (store/memory).
type (
	sizedSpent interface {
		Len() int
		Evictions() uint64
	}
	sizedStash interface {
		Len() (entries, bytes int)
		Evictions() uint64
	}
)

// Collect sends each running site's store figures, once per site.
func (*storeCollector) Collect(ch chan<- prometheus.Metric) {
	_, hs := running()
	seen := make(map[string]bool, len(hs))
	for _, h := range hs {
		if h == nil || h.state == nil || seen[h.Site] {
			continue
		}
		seen[h.Site] = true
		st := h.state.State
		gauge := func(d *prometheus.Desc, store string, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, h.Site, store)
		}
		evictions := func(store string, v uint64) {
			ch <- prometheus.MustNewConstMetric(storeEvictionsDesc, prometheus.CounterValue, float64(v), h.Site, store)
		}
		// Only the in-memory stores know their size without a round trip;
		// a shared store's size is its server's to report.
		for name, spent := range map[string]any{"solved_challenges": st.Challenges, "spent_passes": st.Passes} {
			if sized, ok := spent.(sizedSpent); ok {
				gauge(storeEntriesDesc, name, float64(sized.Len()))
				evictions(name, sized.Evictions())
			}
		}
		if sized, ok := st.Stash.(sizedStash); ok {
			entries, bytes := sized.Len()
			gauge(storeEntriesDesc, "held_submissions", float64(entries))
			gauge(storeBytesDesc, "held_submissions", float64(bytes))
			evictions("held_submissions", sized.Evictions())
		}
		if st.Reading != nil {
			reads, bytes := st.Reading.InUse()
			gauge(storeEntriesDesc, "bodies_being_read", float64(reads))
			gauge(storeBytesDesc, "bodies_being_read", float64(bytes))
		}
		if h.lookout != nil {
			gauge(storeEntriesDesc, "top_networks", float64(h.lookout.len()))
		}
	}
}
