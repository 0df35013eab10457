package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
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
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	repl := caddy.NewReplacer()
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
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
				out.Network = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)
				if !tc.newNet {
					out.Network = netip.MustParsePrefix("90.1.2.0/24")
				}
				l.observe(r, out)
			}
		})
	}
}
