package caddymodule

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/caddyserver/caddy/v2/modules/caddyevents"

	"github.com/rempart/rempart/internal/metricstest"
)

// The tests of this file and of proofs_metrics_test.go run a real Caddy
// with caddytest's admin port 2999, as the caddymodule_test tests do: the
// tests of one package run one after another, so they never share it at
// the same time. Their HTTP ports are 9850-9859, which no other test uses.
const (
	eventsEnforceURL = "http://localhost:9850"
	eventsObserveURL = "http://localhost:9851"
	localAdminURL    = "http://localhost:2999"
)

func init() {
	caddy.RegisterModule(eventRecorder{})
}

// eventRecorder is a test-only Caddy event handler: Caddy has no stock
// handler that keeps what it receives, so this one appends every event to
// recordedEvents, for the test to read.
type eventRecorder struct{}

// recordedEvent is what the recorder keeps of one event.
type recordedEvent struct {
	name   string
	origin caddy.ModuleID
	data   map[string]any
}

var recordedEvents struct {
	sync.Mutex
	list []recordedEvent
}

func (eventRecorder) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "events.handlers.rempart_test_recorder",
		New: func() caddy.Module { return new(eventRecorder) },
	}
}

// Handle records e. The event's data map belongs to its emitter, so the
// recorder keeps a copy.
func (eventRecorder) Handle(_ context.Context, e caddy.Event) error {
	r := recordedEvent{name: e.Name(), data: maps.Clone(e.Data)}
	if o := e.Origin(); o != nil {
		r.origin = o.CaddyModule().ID
	}
	recordedEvents.Lock()
	recordedEvents.list = append(recordedEvents.list, r)
	recordedEvents.Unlock()
	return nil
}

// UnmarshalCaddyfile takes the handler's name and nothing else, so that
// the Caddyfile's events option (on <event> <handler>) can name it.
func (eventRecorder) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the handler's name
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

var (
	_ caddyevents.Handler   = eventRecorder{}
	_ caddyfile.Unmarshaler = eventRecorder{}
)

// eventsOf returns the recorded events of site.
func eventsOf(site string) []recordedEvent {
	recordedEvents.Lock()
	defer recordedEvents.Unlock()
	var out []recordedEvent
	for _, e := range recordedEvents.list {
		if e.data["site"] == site {
			out = append(out, e)
		}
	}
	return out
}

// eventsRuns counts the runs of TestRefusalsAreCaddyEvents in this
// process.
var eventsRuns int

// eventsPolicy denies curl, so that a request can be refused by a rule;
// every other request gets the default challenge.
const eventsPolicy = `
rules:
  - name: no-scripts
    match:
      user_agent: "(?i)^curl/"
    action: deny
    status: 403
`

// eventsConfig runs two sites with the same budget and policy: one
// enforces, one only observes. The events app sends rempart_refused to
// the recorder. The flood is off: the test counts refusals, and a rising
// difficulty would only slow it.
func eventsConfig(t *testing.T, enforce, observe, policy, backend string) string {
	site := func(url, name, mode string) string {
		return fmt.Sprintf(`
	%s {
		rempart {
			secret events-test-secret-0123456789
			site %s
			mode %s
			difficulty 4
			protect POST /sign
			policy %s
			limit challenges per ip 2/min name events-burst
			flood off
		}
		reverse_proxy %s
	}`, url, name, mode, policy, backend)
	}
	return fmt.Sprintf(`
	{
		admin localhost:2999
		http_port 9850
		https_port 9859
		grace_period 1ns
		auto_https off
		storage file_system %s
		events {
			on %s rempart_test_recorder
		}
	}`, t.TempDir(), refusedEvent) + site(eventsEnforceURL, enforce, "enforce") + site(eventsObserveURL, observe, "observe")
}

// fetch sends one request from a client without cookies and returns its
// status.
func fetch(t *testing.T, method, target, userAgent string) int {
	t.Helper()
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := noCookieClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// noCookieClient keeps no pass and follows no redirect, so that each
// request is seen as the shield answered it.
var noCookieClient = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// Every refusal of a site that enforces (over a budget, denied by a rule,
// refused by the shield itself) is one rempart_refused event with what a
// handler needs to act on it; a site in observe mode refuses nothing and
// emits nothing, though it counts its would-be refusals.
func TestRefusalsAreCaddyEvents(t *testing.T) {
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(policy, []byte(eventsPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "petition") }))
	t.Cleanup(backend.Close)
	// A site's budgets outlive config loads: each run of the test
	// (-count) has sites of its own, whose budgets are full.
	eventsRuns++
	enforce, observe := fmt.Sprintf("events-enforce-%d", eventsRuns), fmt.Sprintf("events-observe-%d", eventsRuns)
	tester := caddytest.NewTester(t)
	tester.InitServer(eventsConfig(t, enforce, observe, policy, strings.TrimPrefix(backend.URL, "http://")), "caddyfile")
	if t.Failed() {
		t.FailNow()
	}

	const browser, script = "Mozilla/5.0 (events test)", "curl/8.5.0"
	const pages, budget = 5, 2 // challenges asked for, and allowed a minute
	type request struct {
		method, path, userAgent string
		status                  int    // the enforcing site's answer
		action                  string // its event's action, "" for none
	}
	requests := []request{
		// The shield's own endpoint refuses a GET itself, before any rule.
		{http.MethodGet, "/.rempart/verify", browser, http.StatusMethodNotAllowed, "refuse"},
		// The deny rule refuses curl; denied requests spend no budget.
		{http.MethodGet, "/", script, http.StatusForbidden, "deny"},
	}
	for i := range pages {
		r := request{http.MethodGet, fmt.Sprintf("/page-%d", i), browser, http.StatusForbidden, ""} // a challenge
		if i >= budget {
			r.status, r.action = http.StatusTooManyRequests, "limit"
		}
		requests = append(requests, r)
	}

	// Observe mode first: its would-be refusals are over before the
	// enforcing site's events are waited for, so a stray event of its own
	// would be recorded by the time they are counted.
	before := scrapeLocal(t)
	wouldRefuse := 0
	for _, r := range requests {
		if r.action == "refuse" {
			continue // the shield's own endpoints refuse in observe mode too
		}
		if got := fetch(t, r.method, eventsObserveURL+r.path, r.userAgent); got != http.StatusOK {
			t.Fatalf("observe mode: %s %s (%s): %d, want 200 (let through)", r.method, r.path, r.userAgent, got)
		}
		if r.action != "" {
			wouldRefuse++
		}
	}

	var want []request
	for _, r := range requests {
		if got := fetch(t, r.method, eventsEnforceURL+r.path, r.userAgent); got != r.status {
			t.Fatalf("%s %s (%s): %d, want %d", r.method, r.path, r.userAgent, got, r.status)
		}
		if r.action != "" {
			want = append(want, r)
		}
	}
	// The events are emitted as each request is observed, right after its
	// answer: wait a little for the last one.
	var got []recordedEvent
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if got = eventsOf(enforce); len(got) >= len(want) || time.Now().After(deadline) {
			break
		}
	}
	observed := eventsOf(observe)
	t.Logf("enforce: tried %d, refused %d, events received %d, expected %d; observe: would refuse %d, events received %d, expected 0",
		len(requests), len(want), len(got), len(want), wouldRefuse, len(observed))
	if len(got) != len(want) {
		t.Fatalf("enforce: tried %d, refused %d, events received %d, expected %d: %+v", len(requests), len(want), len(got), len(want), got)
	}
	if len(observed) != 0 {
		t.Errorf("observe mode: would refuse %d, events received %d, expected 0: %+v", wouldRefuse, len(observed), observed)
	}
	// Observe mode did see its would-be refusals: no event is no
	// accident of a site that refused nothing.
	after := scrapeLocal(t)
	counted := 0.0
	for _, action := range []string{"limit", "deny"} {
		labels := []string{`site="` + observe + `"`, `observed="true"`, `action="` + action + `"`}
		counted += metricstest.Sum(after, "rempart_requests_total", labels...) - metricstest.Sum(before, "rempart_requests_total", labels...)
	}
	if counted != float64(wouldRefuse) {
		t.Errorf("observe mode: would refuse %d, counted %v would-be refusals in rempart_requests_total", wouldRefuse, counted)
	}

	for i, e := range got {
		w := want[i]
		fields := map[string]any{
			"site":    enforce,
			"action":  w.action,
			"status":  w.status,
			"network": "127.0.0.0/24", // 127.0.0.1 in its default /24
			"asn":     uint32(0),      // no ASN database
			"org":     "",
		}
		switch w.action {
		case "limit":
			fields["budget"] = "events-burst"
		case "deny":
			fields["rule"] = "no-scripts"
			fields["budget"] = ""
		case "refuse":
			fields["budget"] = ""
		}
		if e.name != refusedEvent || e.origin != "http.handlers.rempart" {
			t.Errorf("event %d: %s from %s, want %s from http.handlers.rempart", i, e.name, e.origin, refusedEvent)
		}
		for k, v := range fields {
			if e.data[k] != v {
				t.Errorf("event %d (%s %s): %s = %#v, want %#v", i, w.method, w.path, k, e.data[k], v)
			}
		}
		for _, k := range []string{"rule", "reason"} {
			if _, ok := e.data[k].(string); !ok {
				t.Errorf("event %d: %s = %#v, want a string", i, k, e.data[k])
			}
		}
	}
}
