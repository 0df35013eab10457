package caddymodule

import (
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/netip"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/rempart/rempart/budget"
)

func init() {
	caddy.RegisterModule(Dashboard{})
	httpcaddyfile.RegisterHandlerDirective("rempart_dashboard", parseDashboard)
	httpcaddyfile.RegisterDirectiveOrder("rempart_dashboard", httpcaddyfile.Before, "respond")
}

//go:embed dashboard
var dashboardFiles embed.FS

var dashboardPage = template.Must(template.ParseFS(dashboardFiles, "dashboard/dashboard.html"))

// Defaults of the dashboard's one-click actions.
const (
	DefaultDashboardThrottle = "10/hour"
	DefaultDashboardHarder   = 4
	maxDashboardHours        = 168
	maxDashboardAction       = 4 << 10
)

// Dashboard serves a live page for security staff: the signatures per
// minute, the decisions by action and rule, the heaviest networks, the
// latest refusals and the policy in force, of every site's shield; and
// one-click temporary rules (throttle, deny, or more work for a network
// for some hours). It grants whoever reaches it the power of the admin
// API's temporary rules: mount it on a route behind basic_auth.
//
//	route /rempart-staff/* {
//		basic_auth {
//			staff $2a$14$...
//		}
//		rempart_dashboard
//	}
type Dashboard struct {
	// Throttle is the rate of signatures the one-click throttle leaves a
	// network, such as "10/hour" (the default).
	Throttle string `json:"throttle,omitempty"`

	// Harder is how many bits of work the one-click "harder" adds to a
	// network's challenges (1 to 16). Default: 4, 16 times the work.
	Harder int `json:"harder,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Dashboard) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.rempart_dashboard",
		New: func() caddy.Module { return new(Dashboard) },
	}
}

// Provision sets the defaults.
func (d *Dashboard) Provision(caddy.Context) error {
	if d.Throttle == "" {
		d.Throttle = DefaultDashboardThrottle
	}
	if d.Harder == 0 {
		d.Harder = DefaultDashboardHarder
	}
	return nil
}

// Validate checks the one-click actions' settings.
func (d *Dashboard) Validate() error {
	if _, err := budget.ParseRate(d.Throttle); err != nil {
		return fmt.Errorf("throttle: %w", err)
	}
	if d.Harder < 1 || d.Harder > 16 {
		return fmt.Errorf("harder %d: want 1 to 16 bits", d.Harder)
	}
	return nil
}

// parseDashboard parses
//
//	rempart_dashboard {
//		throttle 10/hour
//		harder   4
//	}
func parseDashboard(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	d := new(Dashboard)
	return d, d.UnmarshalCaddyfile(h.Dispenser)
}

// UnmarshalCaddyfile sets up the dashboard from Caddyfile tokens.
func (d *Dashboard) UnmarshalCaddyfile(disp *caddyfile.Dispenser) error {
	disp.Next()
	if disp.NextArg() {
		return disp.ArgErr()
	}
	for disp.NextBlock(0) {
		switch disp.Val() {
		case "throttle":
			if !disp.NextArg() {
				return disp.ArgErr()
			}
			if _, err := budget.ParseRate(disp.Val()); err != nil {
				return disp.Errf("throttle: %v", err)
			}
			d.Throttle = disp.Val()
		case "harder":
			if !disp.NextArg() {
				return disp.ArgErr()
			}
			n, err := strconv.Atoi(disp.Val())
			if err != nil || n < 1 || n > 16 {
				return disp.Errf("harder %q: want 1 to 16 bits", disp.Val())
			}
			d.Harder = n
		default:
			return disp.Errf("unknown rempart_dashboard option %q: want throttle or harder", disp.Val())
		}
		if disp.NextArg() {
			return disp.ArgErr()
		}
	}
	return nil
}

// ServeHTTP serves the page at the route's paths ending in "/", its data,
// its script and style, and its actions.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	p := r.URL.Path
	name := p[strings.LastIndexByte(p, '/')+1:]
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	switch name {
	case "":
		return d.servePage(w, r)
	case "data":
		if r.Method != http.MethodGet {
			return caddyhttp.Error(http.StatusMethodNotAllowed, errors.New("GET only"))
		}
		return writeJSON(w, http.StatusOK, dashboardData(time.Now()))
	case "act":
		return d.serveAction(w, r)
	case "dashboard.js", "dashboard.css":
		b, err := dashboardFiles.ReadFile("dashboard/" + name)
		if err != nil {
			return caddyhttp.Error(http.StatusInternalServerError, err)
		}
		if strings.HasSuffix(name, ".js") {
			h.Set("Content-Type", "text/javascript; charset=utf-8")
		} else {
			h.Set("Content-Type", "text/css; charset=utf-8")
		}
		_, err = w.Write(b)
		return err
	}
	// Relative to the page: the path as sent may start with "//" (Caddy's
	// path matcher merges slashes and resolves dot segments before it
	// matches the route), which in an absolute Location names another
	// host.
	w.Header().Set("Location", "./"+url.PathEscape(name)+"/")
	w.WriteHeader(http.StatusSeeOther)
	return nil
}

// dashboardToken is sent back by the page with every action: another
// site's page cannot read it (the dashboard is behind basic_auth, and
// same-origin rules keep its HTML from other sites), so it cannot act.
var dashboardToken = sync.OnceValue(func() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("rempart dashboard: no randomness: %v", err))
	}
	return hex.EncodeToString(b)
})

func (d *Dashboard) servePage(w http.ResponseWriter, r *http.Request) error {
	lang := dashboardLang(r)
	strs, _ := json.Marshal(dashboardStrings[lang])
	other := "en"
	if lang == "en" {
		other = "fr"
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	return dashboardPage.Execute(w, map[string]any{
		// json.Marshal escapes <, > and &: the strings cannot close the script.
		"Lang": lang, "T": dashboardStrings[lang], "Strings": template.JS(strs), "Token": dashboardToken(),
		"Other": other, "OtherName": dashboardStrings[other]["language"],
		"Hours": []int{1, 2, 6, 24}, "Harder": d.Harder, "Throttle": d.Throttle,
	})
}

// dashboardLang is "fr" or "en": as ?lang= says, else as the browser
// prefers, French first.
func dashboardLang(r *http.Request) string {
	if l := r.URL.Query().Get("lang"); l == "fr" || l == "en" {
		return l
	}
	best, bestQ := "fr", -1.0
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		primary, _, _ := strings.Cut(strings.ToLower(tag), "-")
		if (primary == "fr" || primary == "en") && q > bestQ {
			best, bestQ = primary, q
		}
	}
	return best
}

// dashboardAction is what a one-click button asks.
type dashboardAction struct {
	// Action is throttle, deny, harder, or remove (a temporary rule).
	Action string `json:"action"`
	// Network is "AS16509" or a prefix such as "203.0.113.0/24".
	Network string `json:"network"`
	Hours   int    `json:"hours"`
	// Rule names the temporary rule to remove.
	Rule string `json:"rule"`
}

func (d *Dashboard) serveAction(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return caddyhttp.Error(http.StatusMethodNotAllowed, errors.New("POST only"))
	}
	if err := sameOriginAction(r); err != nil {
		return caddyhttp.Error(http.StatusForbidden, err)
	}
	var a dashboardAction
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxDashboardAction)).Decode(&a); err != nil {
		return writeJSON(w, http.StatusBadRequest, map[string]string{"error": "want {\"action\", \"network\", \"hours\"}: " + err.Error()})
	}
	now := time.Now()
	if a.Action == "remove" {
		found, err := removeTemporaryRule(a.Rule, now)
		switch {
		case err != nil:
			return writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		case !found:
			return writeJSON(w, http.StatusNotFound, map[string]string{"error": "no temporary rule " + a.Rule})
		}
		return writeJSON(w, http.StatusOK, map[string]string{"removed": a.Rule})
	}
	rule, err := d.rule(a)
	if err != nil {
		return writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	}
	t, err := addTemporaryRule(rule, time.Duration(a.Hours)*time.Hour, now)
	if err != nil {
		return writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": err.Error()})
	}
	return writeJSON(w, http.StatusCreated, t)
}

// sameOriginAction refuses an action that does not come from the
// dashboard's own page: without its token, or sent from another origin.
func sameOriginAction(r *http.Request) error {
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("X-Rempart-Token")), []byte(dashboardToken())) != 1 {
		return errors.New("missing or wrong dashboard token")
	}
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" {
		return fmt.Errorf("request from another site (Sec-Fetch-Site %s)", s)
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return fmt.Errorf("request from another origin (%s)", o)
		}
	}
	if ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); ct != "application/json" {
		return errors.New("want Content-Type: application/json")
	}
	return nil
}

// rule builds the temporary rule of a one-click action.
func (d *Dashboard) rule(a dashboardAction) (json.RawMessage, error) {
	if a.Hours < 1 || a.Hours > maxDashboardHours {
		return nil, fmt.Errorf("hours %d: want 1 to %d", a.Hours, maxDashboardHours)
	}
	match, per, id := map[string]any{}, "prefix", ""
	if n, ok := strings.CutPrefix(a.Network, "AS"); ok {
		asn, err := strconv.ParseUint(n, 10, 32)
		if err != nil || asn == 0 {
			return nil, fmt.Errorf("network %q: want AS<number> or a prefix", a.Network)
		}
		match["asn"], per, id = asn, "asn", "as"+n
	} else {
		p, err := netip.ParsePrefix(a.Network)
		if err != nil {
			return nil, fmt.Errorf("network %q: want AS<number> or a prefix", a.Network)
		}
		p = p.Masked()
		match["cidr"], id = p.String(), strings.NewReplacer(".", "-", ":", "-", "/", "-").Replace(p.String())
	}
	rule := map[string]any{"name": "dashboard-" + a.Action + "-" + id, "match": match}
	switch a.Action {
	case "throttle":
		rule["action"], rule["counts"], rule["per"], rule["rate"] = "limit", "signatures", per, d.Throttle
	case "deny":
		rule["action"] = "deny"
	case "harder":
		rule["action"], rule["difficulty_delta"] = "challenge", d.Harder
	default:
		return nil, fmt.Errorf("action %q: want throttle, deny, harder or remove", a.Action)
	}
	return json.Marshal(rule)
}

// dashboardSite is one site's part of the dashboard's data.
type dashboardSite struct {
	siteTop
	Policy    policyStatus    `json:"policy"`
	Series    []minuteCounts  `json:"series"`
	Decisions []decisionCount `json:"decisions"`
}

// decisionCount is how many requests an action and rule decided since
// Caddy started.
type decisionCount struct {
	Action   string  `json:"action"`
	Rule     string  `json:"rule"`
	Observed bool    `json:"observed,omitempty"`
	Count    float64 `json:"count"`
}

type dashboardAnswer struct {
	Now   time.Time       `json:"now"`
	Sites []dashboardSite `json:"sites"`
}

func dashboardData(now time.Time) dashboardAnswer {
	lps, hs := running()
	decisions := decisionCounts()
	tops := map[string]siteTop{}
	for _, st := range topOfSites(defaultTopN, -1, "all", now) {
		tops[st.Site] = st
	}
	out := dashboardAnswer{Now: now, Sites: []dashboardSite{}}
	seen := map[string]bool{}
	for i, h := range hs {
		if h == nil || h.lookout == nil || seen[h.Site] {
			continue
		}
		seen[h.Site] = true
		s := dashboardSite{siteTop: tops[h.Site], Policy: lps[i].status(now), Series: h.lookout.nets.series(now), Decisions: decisions[h.Site]}
		s.Policy.label(h)
		s.Policy.Rules = nil // the names are enough: the admin API has the rest
		if s.Decisions == nil {
			s.Decisions = []decisionCount{}
		}
		out.Sites = append(out.Sites, s)
	}
	return out
}

// decisionCounts reads the requests counter, by site.
func decisionCounts() map[string][]decisionCount {
	ch := make(chan prometheus.Metric, 64)
	go func() {
		rempartMetrics().requests.Collect(ch)
		close(ch)
	}()
	out := map[string][]decisionCount{}
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			continue
		}
		labels := map[string]string{}
		for _, l := range pb.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		site := labels["site"]
		out[site] = append(out[site], decisionCount{Action: labels["action"], Rule: labels["rule"],
			Observed: labels["observed"] == "true", Count: pb.GetCounter().GetValue()})
	}
	for _, ds := range out {
		sort.Slice(ds, func(i, j int) bool { return ds[i].Count > ds[j].Count })
	}
	return out
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Dashboard)(nil)
	_ caddy.Validator             = (*Dashboard)(nil)
	_ caddyhttp.MiddlewareHandler = (*Dashboard)(nil)
	_ caddyfile.Unmarshaler       = (*Dashboard)(nil)
)
