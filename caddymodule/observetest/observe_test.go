// Package observetest runs a real Caddy of its own (admin port 3010, HTTP
// 9650), apart from the caddymodule tests' one, to see the shield as staff
// do: /metrics across reloads, /rempart/top and the access log during a
// small flood.
package observetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/rempart/rempart/asn/asntest"
	_ "github.com/rempart/rempart/caddymodule"
	"github.com/rempart/rempart/internal/metricstest"
	"github.com/rempart/rempart/internal/shieldtest"
)

const (
	adminURL = "http://localhost:3010"
	siteURL  = "http://localhost:9650"
)

var networks = []asntest.Network{
	{Prefix: netip.MustParsePrefix("52.94.0.0/16"), ASN: 16509, Org: "Amazon.com, Inc."},
	{Prefix: netip.MustParsePrefix("90.1.0.0/16"), ASN: 64601, Org: "Residential ISP 1"},
}

// globalOptions is the Caddyfile's global options block of every test
// here: Caddy on 3010 (admin) and 9650, trusting X-Forwarded-For from
// 127.0.0.1 so that a test chooses each request's client IP, and the ASN
// database in db.
func globalOptions(t *testing.T, db string) string {
	return fmt.Sprintf(`
	{
		admin localhost:3010
		http_port 9650
		https_port 9651
		grace_period 5s
		auto_https off
		storage file_system %s
		servers {
			trusted_proxies static 127.0.0.1/32
			trusted_proxies_strict
			client_ip_headers X-Forwarded-For
		}
		rempart {
			asn_db %s
		}
	}`, t.TempDir(), db)
}

// config is the Caddyfile of these tests; difficulty varies so that every
// load is a real reload.
func config(t *testing.T, site, db, backend, accessLog string, difficulty int) string {
	return globalOptions(t, db) + fmt.Sprintf(`
	http://localhost:9650 {
		log {
			output file %s
			format json
		}
		log_append rempart_action {http.rempart.action}
		log_append rempart_rule {http.rempart.rule}
		log_append rempart_budget {http.rempart.budget}
		rempart {
			secret observe-test-secret-0123456789
			site %s
			difficulty %d
			protect POST /sign
			limit signatures per asn 2/hour class hosting
			flood {
				threshold 10/min
			}
		}
		reverse_proxy %s
	}`, accessLog, site, difficulty, backend)
}

type shieldUnderTest struct {
	t                         *testing.T
	site, db, backend, access string
}

// start runs the shield of a site named after the test: what a site
// remembers outlives reloads, so each test has its own.
func start(t *testing.T) *shieldUnderTest {
	t.Helper()
	db := filepath.Join(t.TempDir(), "asn.mmdb")
	asntest.WriteMMDB(t, db, networks)
	s := &shieldUnderTest{t: t, site: t.Name(), db: db, backend: backendServer(t), access: filepath.Join(t.TempDir(), "access.log")}
	tester := caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{AdminPort: 3010})
	tester.InitServer(config(t, s.site, s.db, s.backend, s.access, 4), "caddyfile")
	return s
}

// backendServer is the petition: it answers every request, and returns
// its host:port.
func backendServer(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "petition") }))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// reload loads the config again with another difficulty, through the
// admin API as `caddy reload` does.
func (s *shieldUnderTest) reload(difficulty int) {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, adminURL+"/load", strings.NewReader(config(s.t, s.site, s.db, s.backend, s.access, difficulty)))
	req.Header.Set("Content-Type", "text/caddyfile")
	resp, err := adminClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("reload: %d %s", resp.StatusCode, body)
	}
}

func get(t *testing.T, c *http.Client, method, target, ip, contentType, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, siteURL+target, strings.NewReader(body))
	req.Header.Set("X-Forwarded-For", ip)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// adminClient talks to Caddy's admin endpoint without keep-alive: a config
// load may replace the admin server, and a kept connection to the old one
// would be reset under the next request.
var adminClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

func newClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	// No keep-alive: a reload closes the old server's connections.
	return &http.Client{Jar: jar, Transport: &http.Transport{DisableKeepAlives: true}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// sign plays one signer: challenge, proof, signature. It returns the
// signature's status.
func sign(t *testing.T, ip string) int {
	c := newClient()
	status, page := get(t, c, http.MethodGet, "/", ip, "", "")
	if status != http.StatusForbidden {
		t.Fatalf("%s: first visit got %d, want a challenge", ip, status)
	}
	proof, err := shieldtest.SolvePage([]byte(page))
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := get(t, c, http.MethodPost, proof.Action, ip, "application/x-www-form-urlencoded", proof.Form.Encode()); status != http.StatusSeeOther {
		t.Fatalf("%s: proof refused with %d", ip, status)
	}
	status, _ = get(t, c, http.MethodPost, "/sign", ip, "application/x-www-form-urlencoded", "name=n")
	return status
}

// scrape returns the rempart series of /metrics.
func scrape(t *testing.T) map[string]float64 {
	t.Helper()
	return metricstest.Scrape(t, adminClient, adminURL+"/metrics")
}

// runCommand runs the registered rempart command name with args.
func runCommand(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	registered, ok := caddycmd.Commands()[name]
	if !ok {
		t.Fatalf("the %s command is not registered", name)
	}
	cmd := &cobra.Command{Use: name, SilenceUsage: true, SilenceErrors: true}
	registered.CobraFunc(cmd)
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(io.Discard)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

var labelName = regexp.MustCompile(`([a-z_]+)="`)

// The collectors are made once and registered again in every config's
// registry: after each of 100 reloads the requests counter goes on from
// where it was (neither reset nor frozen), and Caddy never panics.
func TestMetricsSurviveReloads(t *testing.T) {
	s := start(t)
	const reloads = 100
	requests := 0
	// Counters are process-wide: count from what earlier tests left.
	base := metricstest.Sum(scrape(t), "rempart_requests_total", `action="challenge"`, `site="`+s.site+`"`)
	for i := 1; i <= reloads; i++ {
		s.reload(4 + i%2)
		ip := fmt.Sprintf("90.1.%d.%d", i, i%250+1)
		if status, _ := get(t, newClient(), http.MethodGet, "/", ip, "", ""); status != http.StatusForbidden {
			t.Fatalf("after reload %d: %d, want a challenge", i, status)
		}
		requests++
		if i%10 != 0 {
			continue
		}
		got := metricstest.Sum(scrape(t), "rempart_requests_total", `action="challenge"`, `site="`+s.site+`"`) - base
		if got != float64(requests) {
			t.Fatalf("after reload %d: rempart_requests_total{action=challenge} = %v, want %d (a frozen or reset series)", i, got, requests)
		}
	}
	t.Logf("reloads tried %d, challenges made %d, counted after the last reload %d", reloads, requests, requests)
}

// A small flood from one hosting network: its signatures over budget are
// refused; /metrics counts proofs, signatures and refusals without a
// label per client; /rempart/top names the network; the access log has
// the placeholders.
func TestFloodIsSeen(t *testing.T) {
	s := start(t)
	const signers = 5 // budget: 2 an hour for the hosting ASN
	forwarded, refused := 0, 0
	site := `site="` + s.site + `"`
	before := scrape(t)
	for i := range signers {
		switch status := sign(t, fmt.Sprintf("52.94.%d.%d", i, i+1)); status {
		case http.StatusOK:
			forwarded++
		case http.StatusTooManyRequests:
			refused++
		default:
			t.Fatalf("signer %d: %d", i, status)
		}
	}
	for i := range 40 { // pages only, from the same network
		get(t, newClient(), http.MethodGet, "/", fmt.Sprintf("52.94.100.%d", i+1), "", "")
	}
	sign(t, "90.1.7.7") // one resident
	t.Logf("hosting signers tried %d, forwarded %d, refused %d, expected 2 forwarded", signers, forwarded, refused)
	if forwarded != 2 || refused != signers-2 {
		t.Fatalf("forwarded %d, refused %d", forwarded, refused)
	}

	m := scrape(t)
	delta := func(name string, labels ...string) float64 {
		labels = append(labels, site)
		return metricstest.Sum(m, name, labels...) - metricstest.Sum(before, name, labels...)
	}
	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"rempart_proofs_total", []string{`result="ok"`}, signers + 1},
		{"rempart_signatures_total", []string{`result="forwarded"`}, 3},
		{"rempart_signatures_total", []string{`result="refused"`}, signers - 2},
		{"rempart_budget_refusals_total", []string{`observed="false"`}, signers - 2},
		{"rempart_challenge_difficulty_bits_count", nil, signers + 40 + 1},
		{"rempart_challenge_solve_seconds_count", nil, signers + 1},
	}
	for _, c := range checks {
		if got := delta(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if metricstest.Sum(m, "rempart_store_entries", `store="solved_challenges"`, site) != signers+1 {
		t.Errorf("store entries: %v", m)
	}
	allowed := map[string]bool{"site": true, "action": true, "rule": true, "observed": true, "result": true, "budget": true, "store": true, "le": true}
	for series := range m {
		for _, l := range labelName.FindAllStringSubmatch(series, -1) {
			if !allowed[l[1]] {
				t.Errorf("series %s has label %q, whose values may grow with the clients", series, l[1])
			}
		}
		// This site's series (another test's may have rules staff named
		// after a network, such as the dashboard's temporary rules).
		if strings.Contains(series, site) && (strings.Contains(series, "52.94") || strings.Contains(series, "16509")) {
			t.Errorf("series %s names a client network", series)
		}
	}

	resp, err := adminClient.Get(adminURL + "/rempart/top?n=3")
	if err != nil {
		t.Fatal(err)
	}
	var top []struct {
		Site string `json:"site"`
		ASNs []struct {
			ASN        uint32             `json:"asn"`
			Org        string             `json:"org"`
			Class      string             `json:"class"`
			PerMinute  float64            `json:"per_minute"`
			Actions    map[string]float64 `json:"actions"`
			Difficulty int                `json:"difficulty"`
			Budget     string             `json:"over_budget"`
		} `json:"asns"`
		Prefixes []struct {
			Prefix string `json:"prefix"`
		} `json:"prefixes"`
		RecentRefusals []struct {
			Budget  string `json:"budget"`
			Network string `json:"network"`
		} `json:"recent_refusals"`
	}
	err = json.NewDecoder(resp.Body).Decode(&top)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for len(top) > 0 && top[0].Site != s.site { // the other test's site, if it is still running
		top = top[1:]
	}
	if len(top) != 1 || len(top[0].ASNs) != 2 {
		t.Fatalf("/rempart/top: %+v", top)
	}
	first := top[0].ASNs[0]
	t.Logf("top ASN: %+v", first)
	if first.ASN != 16509 || first.Org != "Amazon.com, Inc." || first.Class != "hosting" || first.Budget == "" ||
		first.Actions["limit"] == 0 || first.Difficulty == 0 {
		t.Errorf("top ASN %+v, want AS16509, Amazon, hosting, over its budget", first)
	}
	if top[0].Prefixes[0].Prefix != "52.94.100.0/24" {
		t.Errorf("top prefix %+v, want the /24 that sent 40 pages", top[0].Prefixes)
	}
	if len(top[0].RecentRefusals) != signers-2 || !strings.HasPrefix(top[0].RecentRefusals[0].Network, "52.94.") {
		t.Errorf("recent refusals %+v", top[0].RecentRefusals)
	}
	for _, bad := range []string{"?n=0", "?n=101", "?action=nope"} {
		resp, err := adminClient.Get(adminURL + "/rempart/top" + bad)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("/rempart/top%s: %d, want 400", bad, resp.StatusCode)
		}
	}

	// explain, from the admin API and from the command asking it, says
	// what the flood adds for this network now.
	floodLine := regexp.MustCompile(`flood:    AS16509 sends [0-9.]+ challenges/min now \(rises above 10/min\): \+([1-9]) bits of 6 at most, so [0-9]+ bits now`)
	resp, err = adminClient.Get(adminURL + "/rempart/explain?ip=52.94.3.3&method=POST&path=/sign")
	if err != nil {
		t.Fatal(err)
	}
	explained, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !floodLine.Match(explained) {
		t.Errorf("/rempart/explain has no flood line:\n%s", explained)
	}
	if out, err := runCommand(t, "explain", "--admin", "localhost:3010", "--ip", "52.94.3.3", "--method", "POST", "--path", "/sign"); err != nil || !floodLine.MatchString(out) {
		t.Errorf("rempart explain --admin: %v\n%s", err, out)
	}
	if _, err := runCommand(t, "explain", "--admin", "localhost:3010", "--ip", "52.94.3.3", "--policy", "p.yaml"); err == nil {
		t.Error("rempart explain --admin --policy: no error")
	}

	// The access log has the placeholders: every refused signature names
	// its budget.
	deadline := time.Now().Add(5 * time.Second)
	var limited int
	for time.Now().Before(deadline) {
		limited = 0
		b, _ := os.ReadFile(s.access)
		for _, line := range strings.Split(string(b), "\n") {
			var e struct {
				Action string `json:"rempart_action"`
				Budget string `json:"rempart_budget"`
				Status int    `json:"status"`
			}
			if json.Unmarshal([]byte(line), &e) == nil && e.Action == "limit" && e.Budget != "" && e.Status == 429 {
				limited++
			}
		}
		if limited == signers-2 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if limited != signers-2 {
		t.Errorf("access log: %d lines with rempart_action limit and a budget, want %d", limited, signers-2)
	}
}
