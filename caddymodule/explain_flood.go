package caddymodule

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"time"

	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/policies"
)

// explainFlood says what the client's network's flood adds to the work
// the decision asks for now, and, in observe mode, that budgets are
// counted in a shadow.
func (h *Handler) explainFlood(w io.Writer, id Identity, network netip.Prefix, d policies.Decision, now time.Time) {
	key, label := "prefix:"+network.String(), "prefix "+network.String()
	if id.Known {
		key, label = "asn:"+strconv.FormatUint(uint64(id.ASN), 10), fmt.Sprintf("AS%d", id.ASN)
	}
	p := h.lookout
	switch {
	case h.Flood.Off || p == nil || p.pressure == nil:
		fmt.Fprintf(w, "flood:    off: the difficulty never rises\n")
	default:
		cfg, _ := h.Flood.pressureConfig()
		extra, _ := p.pressure.Extra(context.Background(), key, now)
		fmt.Fprintf(w, "flood:    %s sends %.1f challenges/min now (rises above %g/min): +%d bits of %d at most",
			label, p.pressure.Rate(key, now), cfg.Threshold, extra, cfg.MaxExtraBits)
		if d.Action == policies.ActionChallenge || d.Action == policies.ActionLimit {
			bits := min(max(d.Difficulty+extra, challenge.MinDifficulty), challenge.MaxDifficulty)
			fmt.Fprintf(w, ", so %d bits now", bits)
		}
		fmt.Fprintln(w)
	}
	if h.Mode == modeObserve {
		fmt.Fprintf(w, "observe:  budgets and the flood are counted in a shadow: over a budget, the request is logged and counted as \"would limit\" (429), and goes through\n")
	}
}
