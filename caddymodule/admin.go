package caddymodule

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/rempart/rempart/budget"
	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/policies"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// livePolicies lists the policies of the handlers running now, for the
// admin API: admin modules are provisioned before the apps and handlers,
// so they find them here at request time.
var livePolicies = struct {
	sync.Mutex
	byPolicy map[*livePolicy]*Handler
	order    []*livePolicy
}{byPolicy: make(map[*livePolicy]*Handler)}

func registerPolicy(lp *livePolicy, h *Handler) {
	livePolicies.Lock()
	defer livePolicies.Unlock()
	livePolicies.byPolicy[lp] = h
	livePolicies.order = append(livePolicies.order, lp)
}

func unregisterPolicy(lp *livePolicy) {
	livePolicies.Lock()
	defer livePolicies.Unlock()
	delete(livePolicies.byPolicy, lp)
	for i, p := range livePolicies.order {
		if p == lp {
			livePolicies.order = append(livePolicies.order[:i], livePolicies.order[i+1:]...)
			break
		}
	}
}

// running returns the handlers running now with their policies, in
// Caddyfile order: the sites named by their number ("site-1", "site-2"...)
// by that number, then the others in the order they were provisioned.
func running() ([]*livePolicy, []*Handler) {
	livePolicies.Lock()
	defer livePolicies.Unlock()
	lps := append([]*livePolicy(nil), livePolicies.order...)
	hs := make([]*Handler, len(lps))
	for i, lp := range lps {
		hs[i] = livePolicies.byPolicy[lp]
	}
	order := make([]int, len(lps))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		return siteNumber(hs[order[a]]) < siteNumber(hs[order[b]])
	})
	sortedLPs, sortedHs := make([]*livePolicy, len(lps)), make([]*Handler, len(hs))
	for i, j := range order {
		sortedLPs[i], sortedHs[i] = lps[j], hs[j]
	}
	return sortedLPs, sortedHs
}

// siteNumber is n for the site the Caddyfile names "site-n", after its
// place among the rempart directives, or a number after all of them.
func siteNumber(h *Handler) int {
	if h != nil {
		if n, err := strconv.Atoi(strings.TrimPrefix(h.Site, "site-")); err == nil && n > 0 && strings.HasPrefix(h.Site, "site-") {
			return n
		}
	}
	return math.MaxInt
}

// AdminAPI serves rempart's routes on Caddy's admin endpoint, for security
// staff during an attack:
//
//	GET    /rempart/policy          what is in force, and the last load error
//	POST   /rempart/policy/reload   load the policy files again now
//	GET    /rempart/rules           the temporary rules (every site's)
//	POST   /rempart/rules           add one: {"rule": {...}, "expires_in": "2h"}
//	DELETE /rempart/rules/<name>    remove one
//	GET    /rempart/explain?ip=&method=&path=&host=&user_agent=&header=
//	GET    /rempart/top?n=&action=   the heaviest networks now (admin_top.go)
//
// Every site's rempart handler is concerned: the routes act on all of
// them, and answer one block per site, in Caddyfile order, each with the
// site's name and mode. The explain parameters are those of the
// `rempart explain` command's flags: ip (required), method, path, host,
// user_agent (or ua) and header (Name=value, repeatable).
type AdminAPI struct{}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.rempart",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Routes returns the admin routes.
func (AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/rempart/policy", Handler: caddy.AdminHandlerFunc(handlePolicyStatus)},
		{Pattern: "/rempart/policy/reload", Handler: caddy.AdminHandlerFunc(handlePolicyReload)},
		{Pattern: "/rempart/rules", Handler: caddy.AdminHandlerFunc(handleRules)},
		{Pattern: "/rempart/rules/", Handler: caddy.AdminHandlerFunc(handleRules)},
		{Pattern: "/rempart/explain", Handler: caddy.AdminHandlerFunc(handleExplain)},
		{Pattern: "/rempart/top", Handler: caddy.AdminHandlerFunc(handleTop)},
	}
}

// maxTemporaryRule bounds a rule posted to the admin API.
const maxTemporaryRule = 64 << 10

func apiError(status int, err error) error {
	return caddy.APIError{HTTPStatus: status, Err: err}
}

func method(r *http.Request, allowed ...string) error {
	for _, m := range allowed {
		if r.Method == m {
			return nil
		}
	}
	return apiError(http.StatusMethodNotAllowed, fmt.Errorf("method %s not allowed: want %s", r.Method, strings.Join(allowed, " or ")))
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

func handlePolicyStatus(w http.ResponseWriter, r *http.Request) error {
	if err := method(r, http.MethodGet); err != nil {
		return err
	}
	lps, hs := running()
	out := make([]policyStatus, len(lps))
	for i, lp := range lps {
		out[i] = lp.status(time.Now())
		out[i].label(hs[i])
	}
	return writeJSON(w, http.StatusOK, out)
}

// handlePolicyReload loads every policy file again. It answers 422 with
// the problems when a file is refused; the policy in force stays.
func handlePolicyReload(w http.ResponseWriter, r *http.Request) error {
	if err := method(r, http.MethodPost); err != nil {
		return err
	}
	lps, hs := running()
	status := http.StatusOK
	out := make([]policyStatus, len(lps))
	for i, lp := range lps {
		if err := lp.reloadAndLog(true); err != nil {
			status = http.StatusUnprocessableEntity
		}
		out[i] = lp.status(time.Now())
		out[i].label(hs[i])
	}
	return writeJSON(w, status, out)
}

func handleRules(w http.ResponseWriter, r *http.Request) error {
	now := time.Now()
	switch r.Method {
	case http.MethodGet:
		var rules []tempRule
		for _, t := range currentTemporaryRules() {
			if now.Before(t.Expires) {
				rules = append(rules, t)
			}
		}
		return writeJSON(w, http.StatusOK, rules)
	case http.MethodPost:
		var req struct {
			Rule      json.RawMessage `json:"rule"`
			ExpiresIn string          `json:"expires_in"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxTemporaryRule)).Decode(&req); err != nil {
			return apiError(http.StatusBadRequest, fmt.Errorf("want {\"rule\": {...}, \"expires_in\": \"2h\"}: %w", err))
		}
		ttl, err := caddy.ParseDuration(req.ExpiresIn)
		if err != nil || ttl <= 0 || ttl > 7*24*time.Hour {
			return apiError(http.StatusBadRequest, fmt.Errorf("expires_in %q: want a duration up to 168h, such as 2h", req.ExpiresIn))
		}
		t, err := addTemporaryRule(req.Rule, ttl, now)
		if err != nil {
			return apiError(http.StatusUnprocessableEntity, err)
		}
		return writeJSON(w, http.StatusCreated, t)
	case http.MethodDelete:
		name := strings.TrimPrefix(r.URL.Path, "/rempart/rules/")
		if name == "" || name == r.URL.Path {
			return apiError(http.StatusBadRequest, errors.New("want DELETE /rempart/rules/<name>"))
		}
		found, err := removeTemporaryRule(name, now)
		if err != nil {
			return apiError(http.StatusInternalServerError, err)
		}
		if !found {
			return apiError(http.StatusNotFound, fmt.Errorf("no temporary rule named %q", name))
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return method(r, http.MethodGet, http.MethodPost, http.MethodDelete)
}

// explainParams are the query parameters of /rempart/explain, named as
// the flags of `rempart explain` (--user-agent is user_agent here; ua is
// an alias).
var explainParams = []string{"ip", "method", "path", "host", "user_agent", "ua", "header"}

// handleExplain answers what the running shield would decide for a
// request described by the query (see explainParams), one block per site.
func handleExplain(w http.ResponseWriter, r *http.Request) error {
	if err := method(r, http.MethodGet); err != nil {
		return err
	}
	q := r.URL.Query()
	for name := range q {
		if !slices.Contains(explainParams, name) {
			return apiError(http.StatusBadRequest, fmt.Errorf("unknown parameter %q: want %s", name, strings.Join(explainParams, ", ")))
		}
	}
	ip, err := netip.ParseAddr(q.Get("ip"))
	if err != nil || ip.Zone() != "" { // a client's address has no zone
		return apiError(http.StatusBadRequest, fmt.Errorf("ip %q: want an IP address", q.Get("ip")))
	}
	lps, hs := running()
	if len(lps) == 0 {
		return apiError(http.StatusConflict, errors.New("no rempart handler is running"))
	}
	req := policies.Request{Method: strings.ToUpper(q.Get("method")), Path: q.Get("path"), Host: q.Get("host"), IP: ip.Unmap(), UserAgent: q.Get("user_agent"), Header: http.Header{}}
	if req.UserAgent == "" {
		req.UserAgent = q.Get("ua")
	}
	if req.Method == "" {
		req.Method = http.MethodGet
	}
	if req.Path == "" {
		req.Path = "/"
	}
	// The method as given, not upper-cased, for the error to quote.
	if err := checkSample(cmp.Or(q.Get("method"), req.Method), req.Path, req.Host); err != nil {
		return apiError(http.StatusBadRequest, err)
	}
	for _, hv := range q["header"] {
		name, value, ok := strings.Cut(hv, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t\r\n:") || strings.EqualFold(name, "Host") {
			return apiError(http.StatusBadRequest, fmt.Errorf("header %q: want <name>=<value>, such as Accept-Language=fr (the host goes in host=)", hv))
		}
		req.Header.Add(name, strings.TrimSpace(value))
	}
	if req.UserAgent != "" {
		req.Header.Set("User-Agent", req.UserAgent)
	}
	req.UserAgent = req.Header.Get("User-Agent")
	var b strings.Builder
	for i, lp := range lps {
		h := hs[i]
		fmt.Fprintf(&b, "site:     %s, mode %s%s\n", h.Site, h.Mode, modeNote(h.Mode))
		id := h.app.Identify(ip.Unmap())
		req.IP, req.ASN, req.Org, req.Class = id.IP, id.ASN, id.Org, id.Class
		network := challenge.NewBinding(req.IP, h.IPv4Prefix, h.IPv6Prefix, "", "").Network
		if id.Tunneled.IsValid() {
			fmt.Fprintf(&b, "address:  %s\n", tunnelNote(id))
		}
		if id.Known {
			fmt.Fprintf(&b, "lookup:   %s  AS%d  %s  class=%s  (prefix %s)\n", req.IP, id.ASN, id.Org, id.Class, network)
		} else {
			fmt.Fprintf(&b, "lookup:   %s  unknown ASN: budgets per asn count it by its prefix %s\n", req.IP, network)
		}
		active := lp.active(time.Now())
		asked := req
		asked.MarkSignature(active.Chain)
		b.WriteString(active.Chain.Explain(&asked))
		d := active.Chain.Decide(&asked)
		states, err := active.Budgets.Peek(r.Context(), d.Budgets, budget.Client{IP: req.IP, Prefix: network, ASN: id.ASN, Class: id.Class})
		if err != nil {
			return apiError(http.StatusInternalServerError, err)
		}
		for _, st := range states {
			fmt.Fprintf(&b, "budget:   %s: %d of %d %s left, window ends %s\n",
				st.Budget, st.Remaining, st.Limit, st.Counts, time.Unix(st.Reset, 0).UTC().Format(time.RFC3339))
		}
		h.explainFlood(&b, id, network, d, time.Now())
		if i < len(lps)-1 {
			b.WriteString("\n")
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, err = w.Write([]byte(b.String()))
	return err
}

// modeNote says what a mode means for a decision, for explain.
func modeNote(mode string) string {
	if mode == modeObserve {
		return " (the decision is logged, and the request goes through)"
	}
	return ""
}

// label names the site and mode the status is of.
func (st *policyStatus) label(h *Handler) {
	if h != nil {
		st.Site, st.Mode = h.Site, h.Mode
	}
}

// Interface guards
var _ caddy.AdminRouter = (*AdminAPI)(nil)
