package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/rempart/rempart/budget"
	"github.com/rempart/rempart/shield"
	"github.com/rempart/rempart/store/memory"
)

// BenchmarkLookoutObserve is what watching adds to one request: metrics,
// top networks, interval counts and placeholders. Compare with the
// shield's own paths (go test ./shield -bench Serve).
func BenchmarkLookoutObserve(b *testing.B) {
	pressure, _ := budget.NewPressure(budget.PressureConfig{Threshold: 60, MaxExtraBits: 6})
	key, nets, _ := loadNetworks(b.Name())
	b.Cleanup(func() { _, _ = siteStates.Delete(key) })
	l := &lookout{site: "bench", metrics: newSiteMetrics("bench"), nets: nets, netsKey: key, pressure: memory.Pressure{Pressure: pressure}, logger: zap.NewNop()}
	l.now = time.Now
	start := time.Now()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	repl := caddy.NewReplacer()
	ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl)
	f := &requestFacts{}
	r = r.WithContext(context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{factsVarKey: f}))
	for _, tc := range []struct {
		name   string
		action shield.Action
		newNet bool // a new /24 every request, as a flood of distinct networks
	}{{"pass", shield.ActionPass, false}, {"challenge, new /24 each", shield.ActionChallenge, true}} {
		b.Run(tc.name, func(b *testing.B) {
			out := &shield.Outcome{Action: tc.action, Rule: "default", Difficulty: 18,
				Client: shield.Identity{IP: netip.MustParseAddr("90.1.2.3"), ASN: 64601, Org: "ISP", Known: !tc.newNet}}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				// The shield's clock, read once per request.
				out.Time = start.Add(time.Duration(i) * time.Microsecond)
				out.Network = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)
				if !tc.newNet {
					out.Network = netip.MustParsePrefix("90.1.2.0/24")
				}
				l.observe(r, out)
			}
			if f.action != string(tc.action) {
				b.Fatalf("placeholder action %q, want %q", f.action, tc.action)
			}
		})
	}
	// A flood of 429s from one network over its budget, both cores at
	// once: sampled past the first 200 a second (refusalShare), the
	// network's first refusal of each interval tracked (firstOverBudget).
	b.Run("limit, one network, parallel", func(b *testing.B) {
		var n atomic.Uint32
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			out := &shield.Outcome{Action: shield.ActionLimit, Rule: "limits", Budget: "challenges.prefix", Status: http.StatusTooManyRequests,
				Client:  shield.Identity{IP: netip.MustParseAddr("88.198.250.10"), ASN: 24940, Org: "Hetzner", Class: "hosting", Known: true},
				Network: netip.MustParsePrefix("88.198.250.0/24")}
			for pb.Next() {
				out.Time = start.Add(time.Duration(n.Add(1)) * time.Microsecond)
				l.observe(r, out)
			}
		})
	})
	// Both cores at once, as under wrk: what the shared counters and the
	// top lists' locks cost when two requests meet.
	b.Run("challenge, new /24 each, parallel", func(b *testing.B) {
		var n atomic.Uint32
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			out := &shield.Outcome{Action: shield.ActionChallenge, Rule: "default", Difficulty: 18,
				Client: shield.Identity{IP: netip.MustParseAddr("90.1.2.3")}}
			for pb.Next() {
				i := n.Add(1)
				out.Time = start.Add(time.Duration(i) * time.Microsecond)
				out.Network = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), 0}), 24)
				l.observe(r, out)
			}
		})
	})
}
