package caddymodule

import (
	"math"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rempart/rempart/budget"
	"github.com/rempart/rempart/shield"
	"github.com/rempart/rempart/store"
	"github.com/rempart/rempart/store/memory"
)

func newTestLookout(t *testing.T, pressure store.Pressure) (*lookout, *observer.ObservedLogs, *time.Time) {
	t.Helper()
	core, logs := observer.New(zapcore.InfoLevel)
	key, nets, err := loadNetworks(t.Name())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = siteStates.Delete(key) })
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	l := &lookout{site: t.Name(), metrics: newSiteMetrics(t.Name()), nets: nets, netsKey: key, pressure: pressure,
		logger: zap.New(core), now: func() time.Time { return now }}
	return l, logs, &now
}

func hostingOutcome(action shield.Action, ip string) *shield.Outcome {
	addr := netip.MustParseAddr(ip)
	network, _ := addr.Prefix(24)
	return &shield.Outcome{Action: action, Rule: "limits", Client: shield.Identity{IP: addr, ASN: 16509, Org: "Amazon", Class: "hosting", Known: true}, Network: network}
}

// At the default level a flood writes one line per interval, and one per
// change of state, never one per request.
func TestLookoutLogsOneLinePerIntervalAndPerChange(t *testing.T) {
	pressure, err := budget.NewPressure(budget.PressureConfig{Threshold: 5, MaxExtraBits: 4})
	if err != nil {
		t.Fatal(err)
	}
	l, logs, _ := newTestLookout(t, memory.Pressure{Pressure: pressure})
	const flood = 500
	for i := range flood {
		out := hostingOutcome(shield.ActionChallenge, "52.94.1.9")
		out.FloodExtra = pressure.Observe("asn:16509", l.now())
		out.Difficulty = 18 + out.FloodExtra
		l.observe(httptest.NewRequest(http.MethodGet, "/", nil), out)
		if i%2 == 0 {
			out := hostingOutcome(shield.ActionLimit, "52.94.1.9")
			out.Budget = "signatures.asn.hosting"
			out.Signature = true
			l.observe(httptest.NewRequest(http.MethodGet, "/", nil), out)
		}
	}
	over := logs.FilterMessage("network over budget").Len()
	rises := logs.FilterMessage("flood: difficulty rises").Len()
	t.Logf("requests %d, lines before the interval %d (over budget %d, difficulty rises %d)", flood*3/2, logs.Len(), over, rises)
	if over != 1 {
		t.Errorf("%d lines say the network went over its budget, want 1", over)
	}
	if rises < 1 || rises > 4 {
		t.Errorf("%d lines say the difficulty rose, want one per extra bit (1 to 4)", rises)
	}
	if logs.Len() != over+rises {
		t.Errorf("unexpected lines: %v", logs.All())
	}
	l.logTraffic(time.Minute)
	traffic := logs.FilterMessage("rempart: traffic").All()
	if len(traffic) != 1 {
		t.Fatalf("%d traffic lines, want 1", len(traffic))
	}
	fields := traffic[0].ContextMap()
	actions := fields["actions"].(map[string]any)
	if fields["requests"] != uint64(flood*3/2) || actions["challenge"] != uint64(flood) || actions["limit"] != uint64(flood/2) {
		t.Errorf("traffic line %v", fields)
	}
	if top := fields["top_asns"].([]any); len(top) != 1 || top[0].(map[string]any)["asn"] != uint32(16509) {
		t.Errorf("top ASNs in the line: %v", fields["top_asns"])
	}
	l.logTraffic(time.Minute) // nothing happened since: no line
	if n := logs.FilterMessage("rempart: traffic").Len(); n != 1 {
		t.Errorf("a quiet interval wrote a line (%d lines)", n)
	}
}

// Observe mode's would-be refusals say so.
func TestLookoutSaysWhatObserveModeWouldRefuse(t *testing.T) {
	l, logs, _ := newTestLookout(t, nil)
	out := hostingOutcome(shield.ActionLimit, "52.94.1.9")
	out.Budget, out.Observed = "signatures.ip", true
	l.observe(httptest.NewRequest(http.MethodGet, "/", nil), out)
	if logs.FilterMessage("network over budget: observe mode would refuse (429)").Len() != 1 {
		t.Errorf("lines: %v", logs.All())
	}
	l.logTraffic(time.Minute)
	if got := logs.FilterMessage("rempart: traffic").All(); len(got) != 1 || got[0].ContextMap()["would_refuse"] != uint64(1) {
		t.Errorf("traffic line: %v", got)
	}
	if r := l.nets.recent(); len(r) != 1 || !r[0].Observed || r[0].Budget != "signatures.ip" {
		t.Errorf("recent refusals: %+v", r)
	}
}

// The interval log's goroutine stops with the config.
func TestLookoutLogStopsWithTheConfig(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	l, _, _ := newTestLookout(t, nil)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { l.logEvery(stop, time.Millisecond); close(done) }()
	time.Sleep(5 * time.Millisecond)
	close(stop)
	<-done
}

// Recent refusals keep the newest, bounded.
func TestRecentRefusalsAreBounded(t *testing.T) {
	l, _, now := newTestLookout(t, nil)
	for i := range recentRefusals + 7 {
		*now = now.Add(time.Second)
		out := hostingOutcome(shield.ActionDeny, "52.94.1.9")
		out.Reason = string(rune('a' + i%26))
		l.observe(httptest.NewRequest(http.MethodGet, "/", nil), out)
	}
	r := l.nets.recent()
	if len(r) != recentRefusals || r[0].Reason != string(rune('a'+(recentRefusals+6)%26)) {
		t.Fatalf("%d refusals, newest %+v", len(r), r[0])
	}
}

// The top list's compact key gives back the prefix it was made of, and
// two prefixes share a key only when they are equal.
func TestPrefixKeyRoundTrips(t *testing.T) {
	prefixes := []netip.Prefix{
		netip.MustParsePrefix("203.0.113.0/24"),
		netip.MustParsePrefix("203.0.113.0/25"),
		netip.MustParsePrefix("2001:db8:1::/48"),
		netip.MustParsePrefix("::ffff:203.0.113.0/120"), // IPv4-mapped, not IPv4
		netip.MustParsePrefix("0.0.0.0/0"),
		netip.MustParsePrefix("::/0"),
		{}, // the zero prefix of an outcome with no network
	}
	keys := map[prefixKey]netip.Prefix{}
	for _, p := range prefixes {
		k := keyOfPrefix(p)
		if got := k.prefix(); got != p {
			t.Errorf("%v: back as %v", p, got)
		}
		if other, dup := keys[k]; dup {
			t.Errorf("%v and %v share a key", p, other)
		}
		keys[k] = p
	}
}

// A flood of refusals is watched by sample (refusalShare): the heaviest
// networks still rank by what they sent, within a few percent, each is
// logged going over its budget, even one refused once in the thick of the
// flood (firstOverBudget), the list of latest refusals takes a few a
// second, and the interval's counts count every refusal. Below the
// threshold, every refusal is counted one by one.
func TestRefusalFloodIsSampled(t *testing.T) {
	l, logs, _ := newTestLookout(t, nil)
	const heavy, light = 40000, 4000 // in one second
	for i := range heavy + light {
		out := hostingOutcome(shield.ActionLimit, "52.94.1.9")
		if i%11 == 10 {
			out = &shield.Outcome{Action: shield.ActionLimit, Rule: "limits",
				Client:  shield.Identity{IP: netip.MustParseAddr("203.0.113.7"), ASN: 14061, Org: "DigitalOcean", Class: "hosting", Known: true},
				Network: netip.MustParsePrefix("203.0.113.0/24")}
		}
		if i == heavy/2 {
			// A network refused once, deep in the sampled flood: it goes
			// over its budget all the same, and staff must read it.
			lone := &shield.Outcome{Action: shield.ActionLimit, Rule: "limits", Budget: "signatures.ip",
				Client:  shield.Identity{IP: netip.MustParseAddr("198.51.100.4"), ASN: 64500, Org: "Lone", Known: true},
				Network: netip.MustParsePrefix("198.51.100.0/24")}
			l.observe(httptest.NewRequest(http.MethodGet, "/", nil), lone)
		}
		out.Budget, out.Reason = "challenges.prefix", strconv.Itoa(i)
		l.observe(httptest.NewRequest(http.MethodGet, "/", nil), out)
	}
	limit := actionKind(shield.ActionLimit)
	if got := l.nets.counts[limit].Load(); got != heavy+light+1 {
		t.Errorf("the interval counts %d refusals, want %d", got, heavy+light+1)
	}
	top := l.nets.asns.Top(3, limit, l.now())
	if len(top) != 3 || top[0].Key != 16509 || top[1].Key != 14061 || top[2].Key != 64500 {
		t.Fatalf("top ASNs %+v", top)
	}
	for i, want := range []float64{heavy, light} {
		// Sampling one in 8, each kept refusal counted for 8: the count's
		// standard deviation is 8 × sqrt(n/8 × 7/8). Five of them: a
		// false alarm in about a million runs.
		got, slack := top[i].ByKind[limit], 5*refusalSample*math.Sqrt(want/refusalSample*(1-1.0/refusalSample))
		t.Logf("ASN %d: %.0f refusals counted, %.0f sent (allowed: ±%.0f)", top[i].Key, got, want, slack)
		if math.Abs(got-want) > slack {
			t.Errorf("ASN %d counts %.0f refusals, want %.0f ± %.0f", top[i].Key, got, want, slack)
		}
	}
	if n := logs.FilterMessage("network over budget").Len(); n != 3 {
		t.Errorf("%d lines say a network went over its budget, want 3 (one each): %v", n, logs.All())
	}
	// The listed are a sample of the whole second, not its first: each of
	// the 10 is past the flood's first 1,000 refusals with probability
	// 0.98; 5 or fewer of them, about once in a million runs.
	listed := l.nets.recent()
	late := 0
	for _, r := range listed {
		if i, err := strconv.Atoi(r.Reason); err == nil && i >= 1000 {
			late++
		}
	}
	t.Logf("%d refusals listed of %d in one second, %d past the first 1,000", len(listed), heavy+light+1, late)
	if len(listed) != listedRefusals || late <= 5 {
		t.Errorf("%d refusals listed in one second (want %d), %d of them past the first 1,000 (want most): %+v", len(listed), listedRefusals, late, listed)
	}

	// A trickle is counted exactly: a new second, and no more than
	// exactRefusals in it.
	calm, _, now := newTestLookout(t, nil)
	*now = now.Add(time.Hour)
	for range exactRefusals {
		out := hostingOutcome(shield.ActionDeny, "52.94.1.9")
		calm.observe(httptest.NewRequest(http.MethodGet, "/", nil), out)
	}
	deny := actionKind(shield.ActionDeny)
	if got := calm.nets.asns.Top(1, deny, calm.now())[0].ByKind[deny]; got < exactRefusals-1e-6 || got > exactRefusals+1e-6 {
		t.Errorf("%d refusals in a second counted as %.6f", exactRefusals, got)
	}
}

// A flood from more networks than the top list holds, each over its
// budget, refused again and again within a minute: each is logged going
// over its budget once, not at each refusal that finds it let go by the
// list; past maxLoggedOverBudget networks in an interval, the rest are
// counted in the traffic line instead of logged one by one.
func TestOverBudgetLoggedOncePerNetwork(t *testing.T) {
	const rounds = 10
	for _, networks := range []int{100, 1000, 3000} {
		t.Run(strconv.Itoa(networks), func(t *testing.T) {
			l, logs, now := newTestLookout(t, nil)
			refusals := networks * rounds
			perSecond := max(refusals/50, exactRefusals) // all within 50 s: one log interval
			for i := range refusals {
				if i%perSecond == perSecond-1 {
					*now = now.Add(time.Second)
				}
				k := i % networks
				p := netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(k >> 8), byte(k)}), 48)
				out := &shield.Outcome{Action: shield.ActionLimit, Rule: "limits", Budget: "signatures.prefix", Signature: true,
					Client: shield.Identity{IP: p.Addr().Next()}, Network: p}
				l.observe(httptest.NewRequest(http.MethodPost, "/sign", nil), out)
			}
			lines, want := logs.FilterMessage("network over budget").Len(), min(networks, maxLoggedOverBudget)
			t.Logf("%d networks, %d refusals: %d lines say a network went over its budget, want %d", networks, refusals, lines, want)
			if lines != want {
				t.Errorf("%d lines say a network went over its budget, want %d (one a network, at most %d)", lines, want, maxLoggedOverBudget)
			}
			l.logTraffic(time.Minute)
			traffic := logs.FilterMessage("rempart: traffic").All()
			if len(traffic) != 1 {
				t.Fatalf("%d traffic lines, want 1", len(traffic))
			}
			unlogged, _ := traffic[0].ContextMap()["over_budget_unlogged"].(uint64)
			if networks > maxLoggedOverBudget && unlogged == 0 || networks <= maxLoggedOverBudget && unlogged != 0 {
				t.Errorf("the traffic line counts %d refusals over a budget not logged, %d networks", unlogged, networks)
			}
		})
	}
}
