package shield

import (
	"cmp"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rempart/rempart/budget"
	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/internal/shieldtest"
	"github.com/rempart/rempart/policies"
	"github.com/rempart/rempart/store"
	"github.com/rempart/rempart/store/memory"
)

const testSecret = "0123456789abcdef-shield-test-secret"

// staticPolicy is a policy that never changes.
type staticPolicy struct{ active *Active }

func (p staticPolicy) Active(time.Time) *Active { return p.active }

// setup describes a shield under test.
type setup struct {
	// policy is a YAML policy; empty means challenge everything.
	policy string
	// protect lists signature endpoints, as "POST /sign".
	protect []string
	// limits are Caddyfile-style budgets, before the policy's rules.
	limits     []policies.Budget
	difficulty int
	observe    bool
	state      *State
	secret     string
	stash      challenge.StashConfig
	// pressure raises a flooding network's difficulty; difficultyCap
	// bounds it (Config.DifficultyCap).
	pressure      *budget.Pressure
	difficultyCap int
	// backend, when set, keeps the site's state, budgets and (with flood
	// set) flood rates, in place of a memory state and pressure.
	backend store.Backend
	flood   budget.PressureConfig
	// formOrigins are Config.FormOrigins.
	formOrigins []string
	// journal keeps the journal's lines in harness.journal.
	journal bool
	// credits is what a pass buys (1 when 0).
	credits int
	// upstreamStatus is what the backend answers (200 when 0).
	upstreamStatus int
}

// harness runs a Shield in-process, with a clock it moves and a backend
// that records what reaches it.
type harness struct {
	t      testing.TB
	shield *Shield
	state  *State
	now    time.Time

	mu        sync.Mutex
	forwarded []forwarded
	outcomes  []Outcome
	// journal holds the journal's lines when setup.journal is set.
	journal        *observer.ObservedLogs
	upstreamStatus int
}

// forwarded is a request as the backend saw it.
type forwarded struct {
	Method, Path, Body, ContentType string
	// Signature is every value of every field an upstream could read as
	// SignatureHeader.
	Signature []string
}

func newHarness(t testing.TB, cfg setup) *harness {
	t.Helper()
	if cfg.difficulty == 0 {
		cfg.difficulty = 6
	}
	if cfg.secret == "" {
		cfg.secret = testSecret
	}
	var sigs policies.Endpoints
	for _, p := range cfg.protect {
		method, path, _ := strings.Cut(p, " ")
		sigs = append(sigs, policies.Endpoint{Method: method, Path: path})
	}
	opts := policies.ParseOptions{Defaults: policies.Defaults{Difficulty: cfg.difficulty, Credits: max(cfg.credits, 1)}, Signatures: sigs}
	limits, err := policies.LimitsPolicy(cfg.limits, "limits", opts)
	if err != nil {
		t.Fatal(err)
	}
	src := cfg.policy
	if src == "" {
		src = "rules: []\n"
	}
	file, err := opts.Parse([]byte(src), "policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	chain := policies.Chain{limits, file}
	if cfg.stash.MaxEntries == 0 {
		cfg.stash = challenge.StashConfig{MaxEntries: 4096, MaxBytes: 32 << 20}
	}
	var counters budget.Store
	var pressure store.Pressure
	if cfg.pressure != nil {
		pressure = memory.Pressure{Pressure: cfg.pressure}
	}
	state := cfg.state
	if cfg.backend != nil {
		site, err := cfg.backend.OpenSite(context.Background(), t.Name(), store.SiteConfig{SpentSize: 1 << 16, Stash: cfg.stash})
		if err != nil {
			t.Fatal(err)
		}
		if site.Close != nil {
			t.Cleanup(func() { _ = site.Close() })
		}
		state, counters = StateOf(site, cfg.stash), site.Budgets
		if cfg.flood.Threshold > 0 {
			if pressure, err = cfg.backend.OpenPressure(context.Background(), t.Name(), cfg.flood); err != nil {
				t.Fatal(err)
			}
		}
	} else {
		tables, err := budget.NewTables(budget.TablesConfig{})
		if err != nil {
			t.Fatal(err)
		}
		counters = tables
	}
	budgets, err := policies.NewBudgets(chain.Budgets(), counters, policies.BudgetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if state == nil {
		if state, err = NewState(StateConfig{SpentSize: 1 << 16, Stash: cfg.stash}); err != nil {
			t.Fatal(err)
		}
	}
	signer, err := challenge.NewSigner([]byte(cfg.secret), state.Epoch)
	if err != nil {
		t.Fatal(err)
	}
	pages, err := challenge.NewPages("/.rempart/")
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, state: state, now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC), upstreamStatus: cfg.upstreamStatus}
	var journal *zap.Logger
	if cfg.journal {
		var core zapcore.Core
		core, h.journal = observer.New(zap.InfoLevel)
		journal = zap.New(core)
	}
	h.shield, err = New(Config{
		Prefix: "/.rempart/", Signer: signer, Pages: pages, State: state,
		Policy:  staticPolicy{&Active{Chain: chain, Budgets: budgets}},
		PassTTL: time.Hour, ChallengeTTL: 5 * time.Minute, IPv4Prefix: 24, IPv6Prefix: 48, MaxBody: 64 << 10,
		Observe: cfg.observe, FormOrigins: cfg.formOrigins,
		Pressure: pressure, DifficultyCap: cfg.difficultyCap,
		Now: func() time.Time { return h.now }, Journal: journal,
		Observer: func(_ *http.Request, o *Outcome) {
			h.mu.Lock()
			h.outcomes = append(h.outcomes, *o)
			h.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) backend(w http.ResponseWriter, r *http.Request) error {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	var sig []string
	for k, v := range r.Header {
		if strings.EqualFold(strings.NewReplacer("_", "-", ".", "-").Replace(k), SignatureHeader) {
			sig = append(sig, v...)
		}
	}
	h.forwarded = append(h.forwarded, forwarded{Method: r.Method, Path: r.URL.RawPath + r.URL.Path, Body: string(body),
		ContentType: r.Header.Get("Content-Type"), Signature: sig})
	h.mu.Unlock()
	w.WriteHeader(cmp.Or(h.upstreamStatus, http.StatusOK))
	_, _ = io.WriteString(w, "petition")
	return nil
}

func (h *harness) forwardedCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.forwarded)
}

// browser is one client: an address, a network, a User-Agent and cookies.
type browser struct {
	h       *harness
	id      Identity
	ua      string
	host    string
	cookies map[string]*http.Cookie
	// https sends the browser's requests over HTTPS (r.TLS set).
	https bool
}

func (h *harness) browser(ip string, asn uint32, class string) *browser {
	addr := netip.MustParseAddr(ip)
	id := Identity{IP: addr}
	if asn != 0 {
		id = Identity{IP: addr, ASN: asn, Known: true, Class: class, Org: "AS" + class}
	}
	return &browser{h: h, id: id, ua: "Mozilla/5.0 (test)", host: "petition.example", cookies: map[string]*http.Cookie{}}
}

// request builds a request as this browser would send it (same-origin when
// it has a body).
func (b *browser) request(method, target, body string) *http.Request {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	scheme := "http"
	if b.https {
		scheme = "https" // httptest.NewRequest sets r.TLS
	}
	r := httptest.NewRequest(method, scheme+"://"+b.host+target, rd)
	r.Host = b.host
	r.Header.Set("User-Agent", b.ua)
	if body != "" {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Origin", scheme+"://"+b.host)
		r.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for _, c := range b.cookies {
		if strings.HasPrefix(r.URL.Path, c.Path) {
			r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
	}
	return r
}

// send serves r and keeps the cookies the answer sets.
func (b *browser) send(r *http.Request) *httptest.ResponseRecorder {
	b.h.t.Helper()
	w := httptest.NewRecorder()
	if err := b.h.shield.Serve(w, r, b.id, b.h.backend); err != nil {
		b.h.t.Fatalf("%s %s: %v", r.Method, r.URL, err)
	}
	for _, c := range w.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	return w
}

func (b *browser) do(method, target, body string) *httptest.ResponseRecorder {
	return b.send(b.request(method, target, body))
}

// solve solves the challenge page in w and posts the proof. It returns the
// verify endpoint's answer.
func (b *browser) solve(w *httptest.ResponseRecorder) *httptest.ResponseRecorder {
	b.h.t.Helper()
	proof, err := shieldtest.SolvePage(w.Body.Bytes())
	if err != nil {
		b.h.t.Fatal(err)
	}
	r := b.request(http.MethodPost, proof.Action, proof.Form.Encode())
	return b.send(r)
}

// follow does what a browser does with a verify answer: a 307 re-posts
// the proof form to the Location, a 303 gets it.
func (b *browser) follow(verify *httptest.ResponseRecorder, proofBody string) *httptest.ResponseRecorder {
	loc := verify.Header().Get("Location")
	switch verify.Code {
	case http.StatusTemporaryRedirect:
		return b.do(http.MethodPost, loc, proofBody)
	case http.StatusSeeOther:
		return b.do(http.MethodGet, loc, "")
	}
	b.h.t.Fatalf("verify answered %d, not a redirect: %s", verify.Code, verify.Body)
	return nil
}

// pass gets a pass by reading target, solving its challenge.
func (b *browser) pass(target string) {
	b.h.t.Helper()
	w := b.do(http.MethodGet, target, "")
	if w.Code != StatusChallenge {
		b.h.t.Fatalf("GET %s: %d, want a challenge", target, w.Code)
	}
	if v := b.solve(w); v.Code != http.StatusSeeOther {
		b.h.t.Fatalf("verify: %d %s", v.Code, v.Body)
	}
}

// sign posts a signature and, when challenged, solves and follows the
// re-post, as the browser's challenge page does. It reports whether the
// signature was forwarded by the end.
func (b *browser) sign(target, body string) bool {
	b.h.t.Helper()
	before := b.h.forwardedCount()
	w := b.do(http.MethodPost, target, body)
	if w.Code == StatusChallenge {
		proof, err := shieldtest.SolvePage(w.Body.Bytes())
		if err != nil {
			b.h.t.Fatal(err)
		}
		v := b.send(b.request(http.MethodPost, proof.Action, proof.Form.Encode()))
		if v.Code == http.StatusTemporaryRedirect || v.Code == http.StatusSeeOther {
			b.follow(v, proof.Form.Encode())
		}
	}
	return b.h.forwardedCount() > before
}

func challengeBits(t testing.TB, w *httptest.ResponseRecorder) int {
	t.Helper()
	p, err := shieldtest.ParsePage(w.Body.Bytes())
	if err != nil {
		t.Fatalf("%d: %v", w.Code, err)
	}
	return p.Puzzle.Difficulty
}

func formOf(body string) url.Values {
	v, _ := url.ParseQuery(body)
	return v
}

// solveProof solves the challenge page in w without sending the proof.
func (b *browser) solveProof(w *httptest.ResponseRecorder) shieldtest.Proof {
	b.h.t.Helper()
	proof, err := shieldtest.SolvePage(w.Body.Bytes())
	if err != nil {
		b.h.t.Fatal(err)
	}
	return proof
}

// sendProof posts a solved proof to the verify endpoint.
func (b *browser) sendProof(p shieldtest.Proof) *httptest.ResponseRecorder {
	return b.send(b.request(http.MethodPost, p.Action, p.Form.Encode()))
}

func earlyData() *tls.ConnectionState {
	return &tls.ConnectionState{HandshakeComplete: false}
}

// stashLen returns how many submissions the in-memory stash holds.
func stashLen(st *State) (entries, bytes int) {
	return st.Stash.(interface{ Len() (int, int) }).Len()
}
