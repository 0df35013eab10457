package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
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

// running returns the handlers running now with their policies, oldest
// first.
func running() ([]*livePolicy, []*Handler) {
	livePolicies.Lock()
	defer livePolicies.Unlock()
	lps := append([]*livePolicy(nil), livePolicies.order...)
	hs := make([]*Handler, len(lps))
	for i, lp := range lps {
		hs[i] = livePolicies.byPolicy[lp]
	}
	return lps, hs
}

// AdminAPI serves rempart's routes on Caddy's admin endpoint, for security
// staff during an attack:
//
//	GET    /rempart/policy          what is in force, and the last load error
//	POST   /rempart/policy/reload   load the policy files again now
//	GET    /rempart/rules           the temporary rules (every site's)
//	POST   /rempart/rules           add one: {"rule": {...}, "expires_in": "2h"}
//	DELETE /rempart/rules/<name>    remove one
//	GET    /rempart/explain?ip=&method=&path=&host=&ua=
//
// Every site's rempart handler is concerned: the routes act on all of
// them.
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
	lps, _ := running()
	out := make([]policyStatus, len(lps))
	for i, lp := range lps {
		out[i] = lp.status(time.Now())
	}
	return writeJSON(w, http.StatusOK, out)
}

// handlePolicyReload loads every policy file again. It answers 422 with
// the problems when a file is refused; the policy in force stays.
func handlePolicyReload(w http.ResponseWriter, r *http.Request) error {
	if err := method(r, http.MethodPost); err != nil {
		return err
	}
	lps, _ := running()
	status := http.StatusOK
	out := make([]policyStatus, len(lps))
	for i, lp := range lps {
		if err := lp.reloadAndLog(true); err != nil {
			status = http.StatusUnprocessableEntity
		}
		out[i] = lp.status(time.Now())
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

// handleExplain answers what the running shield would decide for a
// request described by the query: ip (required), method, path, host, ua.
func handleExplain(w http.ResponseWriter, r *http.Request) error {
	if err := method(r, http.MethodGet); err != nil {
		return err
	}
	q := r.URL.Query()
	ip, err := netip.ParseAddr(q.Get("ip"))
	if err != nil {
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
	if req.UserAgent != "" {
		req.Header.Set("User-Agent", req.UserAgent)
	}
	var b strings.Builder
	for i, lp := range lps {
		h := hs[i]
		id := h.app.Identify(req.IP)
		req.ASN, req.Org, req.Class = id.ASN, id.Org, id.Class
		network := challenge.NewBinding(req.IP, h.IPv4Prefix, h.IPv6Prefix, "", "").Network
		if id.Known {
			fmt.Fprintf(&b, "lookup:   %s  AS%d  %s  class=%s  (prefix %s)\n", req.IP, id.ASN, id.Org, id.Class, network)
		} else {
			fmt.Fprintf(&b, "lookup:   %s  unknown ASN: budgets per asn count it by its prefix %s\n", req.IP, network)
		}
		active := lp.active(time.Now())
		asked := req
		if canon, err := policies.Canonicalize(req.Method, req.Path); err == nil && active.Chain.IsSignature(canon) {
			asked.Signature, asked.Method, asked.Path = true, canon.Method, canon.Path
			fmt.Fprintf(&b, "request:  a signature: %s %s\n", canon.Method, canon.Path)
		}
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
		if i < len(lps)-1 {
			b.WriteString("\n")
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, err = w.Write([]byte(b.String()))
	return err
}

// Interface guards
var _ caddy.AdminRouter = (*AdminAPI)(nil)
