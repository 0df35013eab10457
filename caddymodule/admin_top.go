package caddymodule

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/rempart/rempart/shield"
	"github.com/rempart/rempart/top"
)

// topNetwork is one of a site's heaviest networks, as /rempart/top and
// the dashboard show it.
type topNetwork struct {
	ASN    uint32        `json:"asn,omitempty"`
	Prefix *netip.Prefix `json:"prefix,omitempty"`
	Org    string        `json:"org,omitempty"`
	Class  string        `json:"class,omitempty"`
	// PerMinute is the network's recent rate of requests; Uncertain is how
	// much of it may belong to networks it replaced in the list.
	PerMinute float64            `json:"per_minute"`
	Uncertain float64            `json:"uncertain,omitempty"`
	Actions   map[string]float64 `json:"actions"`
	// Difficulty is the last difficulty it was asked for; ExtraBits what
	// its flood adds now.
	Difficulty int       `json:"difficulty,omitempty"`
	ExtraBits  int       `json:"extra_bits"`
	Budget     string    `json:"over_budget,omitempty"`
	BudgetAt   time.Time `json:"over_budget_at,omitzero"`
}

// siteTop is one site's answer.
type siteTop struct {
	Site           string       `json:"site"`
	Mode           string       `json:"mode"`
	RankedBy       string       `json:"ranked_by"`
	ASNs           []topNetwork `json:"asns"`
	Prefixes       []topNetwork `json:"prefixes"`
	RecentRefusals []refusal    `json:"recent_refusals"`
}

const (
	defaultTopN = 10
	maxTopN     = 100
)

// handleTop answers the heaviest networks of every site, ranked by all
// their requests or, with action=, by one action's:
//
//	GET /rempart/top?n=10&action=limit
func handleTop(w http.ResponseWriter, r *http.Request) error {
	if err := method(r, http.MethodGet); err != nil {
		return err
	}
	q := r.URL.Query()
	n := defaultTopN
	if s := q.Get("n"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > maxTopN {
			return apiError(http.StatusBadRequest, fmt.Errorf("n %q: want 1 to %d", s, maxTopN))
		}
		n = v
	}
	kind, rankedBy := -1, "all"
	if a := q.Get("action"); a != "" {
		if kind = actionKind(shield.Action(a)); kind < 0 {
			return apiError(http.StatusBadRequest, fmt.Errorf("action %q: want one of %v", a, watchActions))
		}
		rankedBy = a
	}
	return writeJSON(w, http.StatusOK, topOfSites(n, kind, rankedBy, time.Now()))
}

// topOfSites lists each running site's heaviest networks, once per site.
func topOfSites(n, kind int, rankedBy string, now time.Time) []siteTop {
	_, hs := running()
	out := []siteTop{}
	seen := map[string]bool{}
	for _, h := range hs {
		if h == nil || h.lookout == nil || seen[h.Site] {
			continue
		}
		seen[h.Site] = true
		l := h.lookout
		st := siteTop{Site: h.Site, Mode: h.Mode, RankedBy: rankedBy, ASNs: []topNetwork{}, Prefixes: []topNetwork{}, RecentRefusals: l.nets.recent()}
		for _, e := range l.nets.asns.Top(n, kind, now) {
			t := l.topNetwork(e.Weight, e.Error, e.ByKind, e.Info, "asn:"+strconv.FormatUint(uint64(e.Key), 10), now)
			t.ASN = e.Key
			st.ASNs = append(st.ASNs, t)
		}
		for _, e := range l.nets.prefixes.Top(n, kind, now) {
			key := e.Key.prefix()
			t := l.topNetwork(e.Weight, e.Error, e.ByKind, e.Info, "prefix:"+key.String(), now)
			t.Prefix = &key
			st.Prefixes = append(st.Prefixes, t)
		}
		out = append(out, st)
	}
	return out
}

func (l *lookout) topNetwork(weight, uncertain float64, byKind [top.Kinds]float64, info top.Info, pressureKey string, now time.Time) topNetwork {
	t := topNetwork{
		ASN: info.ASN, Org: info.Org, Class: info.Class,
		PerMinute: round1(perMinute(weight)), Uncertain: round1(perMinute(uncertain)),
		Actions: map[string]float64{}, Difficulty: info.Difficulty, Budget: info.Budget, BudgetAt: info.BudgetAt,
	}
	for i, a := range watchActions {
		if byKind[i] > 0 {
			t.Actions[string(a)] = round1(perMinute(byKind[i]))
		}
	}
	if l.pressure != nil {
		// Only a network the flood counts by (its ASN when known, else its
		// prefix) has extra bits; the other key reads 0.
		t.ExtraBits, _ = l.pressure.Extra(context.Background(), pressureKey, now)
	}
	return t
}

func round1(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }
