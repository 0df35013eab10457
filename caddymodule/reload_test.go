package caddymodule_test

import (
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/rempart/rempart/internal/shieldtest"
	"github.com/rempart/rempart/store/redisstore"
	"github.com/rempart/rempart/store/redisstore/redistest"
)

// reloadRedisPort is this package's redis-server (shield's tests use 6430,
// store/redisstore's 6410-6419, e2e's 6420-6429).
const reloadRedisPort = 6431

// redisCaddyfile is a config whose shield keeps its state in the Redis
// at addr; difficulty changes between reloads as an admin's tuning would,
// and options are more of the handler's.
func redisCaddyfile(t *testing.T, addr, backend string, difficulty int, options string) string {
	return testCaddyfile(t.TempDir(), `rempart {
			store redis `+addr+`
		}`, fmt.Sprintf(`
	http://localhost:9180 {
		rempart {
			secret integration-test-secret-0123456789
			site reload-redis
			difficulty %d
			protect POST /sign
			limit signatures per ip 3/hour
			%s
		}
		reverse_proxy %s
	}`, difficulty, options, backend))
}

// loadRedisShield loads (or reloads, when Caddy runs already) the config
// of redisCaddyfile.
func loadRedisShield(t *testing.T, tester *caddytest.Tester, addr, backend string, difficulty int) {
	t.Helper()
	tester.InitServer(redisCaddyfile(t, addr, backend, difficulty, ""), "caddyfile")
	tester.Client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
}

// signOnce is one signer: a fresh browser reads the page, solves the
// challenge and signs; it reports whether the signature got through.
func signOnce(t *testing.T, tester *caddytest.Tester) bool {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: tester.Client.CheckRedirect}
	_, page := do(t, c, http.MethodGet, shieldURL+"/", nil)
	if resp := pass(t, c, page); resp.StatusCode != http.StatusSeeOther {
		return false
	}
	resp, _ := do(t, c, http.MethodPost, shieldURL+"/sign", petitionForm)
	return resp.StatusCode == http.StatusOK
}

// A reload of a config whose shield keeps its state in Redis must leave a
// working shield: the state kept across the reload must not hold the
// unloaded config's closed connection. Signers before and after count
// against one budget of 3 per IP: 3 forwarded, then 429s.
func TestRedisStoreSurvivesReload(t *testing.T) {
	srv := redistest.Start(t, reloadRedisPort)
	be := &backend{}
	hs := httptest.NewServer(be)
	t.Cleanup(hs.Close)
	tester := caddytest.NewTester(t)
	upstream := strings.TrimPrefix(hs.URL, "http://")

	loadRedisShield(t, tester, srv.Addr, upstream, 8)
	// A site new to Redis refuses the tokens of its first LossSkew, as it
	// would after a loss of its records.
	time.Sleep(redisstore.LossSkew + time.Second)
	before := 0
	for range 2 {
		if signOnce(t, tester) {
			before++
		}
	}
	if before != 2 {
		t.Fatalf("before the reload: %d of 2 signers got through", before)
	}

	loadRedisShield(t, tester, srv.Addr, upstream, 9)
	const tried = 4
	after := 0
	for range tried {
		if signOnce(t, tester) {
			after++
		}
	}
	got := len(be.received("POST /sign"))
	t.Logf("before the reload 2 of 2 signed; after: tried %d, signed %d, want 1 (budget 3 per IP); backend got %d", tried, after, got)
	if after != 1 || got != 3 {
		t.Fatalf("after a reload %d of %d signers got through (backend got %d in all), want 1 (3 per IP in all)", after, tried, got)
	}
}

// challengeBits asks for the page without a pass and returns the
// difficulty of the challenge it gets.
func challengeBits(t *testing.T) int {
	t.Helper()
	resp, page := do(t, http.DefaultClient, http.MethodGet, shieldURL+"/", nil)
	wantStatus(t, resp, http.StatusForbidden)
	p, err := shieldtest.ParsePage([]byte(page))
	if err != nil {
		t.Fatal(err)
	}
	return p.Puzzle.Difficulty
}

// Staff who harden the flood's settings during a flood (a higher cap, a
// lower threshold) must not hand the flooding network the base
// difficulty: its rate outlives the reload, judged by the new settings.
// 250 challenges in a second or two are about 170/min: 5 bits over a
// threshold of 4/min, capped at 4 (base 8: 12 bits).
func TestFloodSurvivesRetuning(t *testing.T) {
	const flood, before = 250, "threshold 4/min\nmax_extra_bits 4"
	for _, tt := range []struct {
		name, after string
		want        int // the difficulty after the reload
	}{
		{"same settings", before, 12},
		{"a higher cap", "threshold 4/min\nmax_extra_bits 6", 13},
		{"a lower threshold", "threshold 2/min\nmax_extra_bits 6", 14},
		{"a longer half-life", before + "\nhalf_life 5m", 12},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// Both configs are the subtest's site (startShield's testSite).
			startShield(t, "flood {\n"+before+"\n}")
			var flooded int
			for range flood {
				flooded = challengeBits(t)
			}
			startShield(t, "flood {\n"+tt.after+"\n}")
			after := challengeBits(t)
			t.Logf("%d challenges: %d bits before the reload, %d after, want %d (base 8)", flood, flooded, after, tt.want)
			if flooded != 12 || after != tt.want {
				t.Fatalf("%d bits before the reload, %d after; want 12, then %d", flooded, after, tt.want)
			}
		})
	}
}

// A reload that fails (here a policy file that is not there) leaves the
// config in force, and it must go on sharing the temporary rules that
// staff add with the other instances through Redis: one that stopped would
// leave a deny rule added during a flood on one instance only.
func TestTemporaryRulesSharedAfterAFailedReload(t *testing.T) {
	srv := redistest.Start(t, reloadRedisPort)
	be := httptest.NewServer(&backend{})
	t.Cleanup(be.Close)
	tester := caddytest.NewTester(t)
	upstream := strings.TrimPrefix(be.URL, "http://")
	loadRedisShield(t, tester, srv.Addr, upstream, 8)

	broken := redisCaddyfile(t, srv.Addr, upstream, 8, "policy "+filepath.Join(t.TempDir(), "missing.yaml"))
	req, _ := http.NewRequest(http.MethodPost, "http://localhost:2999/load", strings.NewReader(broken))
	req.Header.Set("Content-Type", "text/caddyfile")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Fatal("a config whose policy file is missing loaded")
	}

	const rules = 3
	published := 0
	for i := range rules {
		name := fmt.Sprintf("deny-flood-%d", i)
		status, body := admin(t, http.MethodPost, "/rempart/rules",
			`{"rule": {"name": "`+name+`", "match": {"path": "/flood"}, "action": "deny"}, "expires_in": "1h"}`)
		if status != http.StatusCreated {
			t.Fatalf("adding a temporary rule: %d %s", status, body)
		}
		t.Cleanup(func() { admin(t, http.MethodDelete, "/rempart/rules/"+name, "") })
		shared, _ := srv.Client(t).Get(t.Context(), "rempart:temporary-rules").Result()
		if strings.Contains(shared, name) {
			published++
		}
	}
	t.Logf("after a failed reload: temporary rules added %d, shared through Redis %d, want %d", rules, published, rules)
	if published != rules {
		t.Fatalf("after a failed reload %d of %d temporary rules reached Redis", published, rules)
	}
}
